"""Notices mailed to an agency (#44), end to end: the three services on the real Kafka and a
real SMTP relay in-process (aiosmtpd) demanding STARTTLS and a login. The relay refuses the
first submission of one booking with 451 (try later) and accepts the retry; it refuses
another's for good with 550 (jail staff are told). Each mail carries plain text and HTML, a
Message-ID fixed by the notice message (the retry's is the same) and the acknowledgement
page's link, which a person follows to acknowledge.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from schemas.topics import AUDIT, ESCALATIONS
from services.kafka.broker.process import free_port
from tests.integration.test_webhooks import acknowledged, booked, ended, flagged
from tests.support.certs import Authority
from tests.support.topics import KafkaHelper

pytestmark = pytest.mark.integration
LOGIN, PASSWORD = b"releasewatch", b"relay password for this test"
REGISTRY = """
agencies:
  - slug: mailed
    name: an agency told by email
    contact: duty line 555-0199
    email:
      to: [duty@agency.example, sdo@agency.example]
      max_retry_hours: 0.004
"""


@dataclass
class Relay:
    """Answers each booking's submissions as scripted (booking id -> codes; 250 after)."""

    scripts: dict[str, list[int]] = field(default_factory=dict)
    tried: dict[str, list[int]] = field(default_factory=dict)
    kept: list[EmailMessage] = field(default_factory=list)
    logins: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        mail = message_from_bytes(envelope.content, policy=policy.default)
        notice_id = str(mail["X-Releasewatch-Notice-Id"])
        booking = notice_id.split("/", 1)[1].split("|", 1)[0]
        script = self.scripts.get(booking, [])
        tried = self.tried.setdefault(booking, [])
        code = script[len(tried)] if len(tried) < len(script) else 250
        tried.append(code)
        if code != 250:
            return f"{code} {'4.3.0 try again later' if code < 500 else '5.1.1 no such mailbox'}"
        assert isinstance(mail, EmailMessage)
        self.kept.append(mail)
        return "250 2.0.0 kept"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (LOGIN, PASSWORD)
        if ok:
            self.logins.append(data.login)
        return AuthResult(success=ok)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[tuple[Relay, int, Authority]]:
    authority = Authority.create(tmp_path / "ca")
    cert, key = authority.server("relay", ("localhost",))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = Relay()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        server_hostname="localhost",
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        authenticator=handler.authenticate,
    )
    controller.start()
    try:
        yield handler, port, authority
    finally:
        controller.stop()


async def test_notices_are_mailed_retried_on_4xx_and_escalated_on_5xx(
    start_service: Any, kafka: KafkaHelper, tmp_path: Path, relay: tuple[Relay, int, Authority]
) -> None:
    handler, port, authority = relay
    registry = tmp_path / "agencies.yaml"
    registry.write_text(REGISTRY)
    start_service("booking")
    start_service("scheduling")
    start_service(
        "notification",
        RELEASEWATCH_AGENCIES_FILE=str(registry),
        RELEASEWATCH_DELIVERY_CAFILE=str(authority.ca_file),
        RELEASEWATCH_SMTP_URL=f"smtp://{LOGIN.decode()}@localhost:{port}",
        RELEASEWATCH_SMTP_PASSWORD=PASSWORD.decode(),
        RELEASEWATCH_SMTP_FROM="County jail notices <notices@county.example>",
        RELEASEWATCH_ACK_TOKEN_SECRET="acknowledgement tokens' secret for this test run",
    )
    audit = await kafka.watch(AUDIT.name)
    escalations = await kafka.watch(ESCALATIONS.name)
    later = await flagged(kafka, "mailed")
    refused = await flagged(kafka, "mailed")
    handler.scripts[later.id] = [451]
    handler.scripts[refused.id] = [550]

    assert await ended(audit, later.key, 90) == ["retrying", "delivered"]
    assert handler.tried[later.id] == [451, 250]
    [mail] = [m for m in handler.kept if later.id in str(m["Subject"])]
    assert handler.logins and set(handler.logins) == {LOGIN}  # logged in, over STARTTLS
    assert mail["To"] == "duty@agency.example, sdo@agency.example"
    assert mail["From"] == "County jail notices <notices@county.example>"
    assert mail["Message-ID"].endswith("@notices.releasewatch>")
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert text.splitlines()[2].startswith("Release: ") and "America/Chicago" in text
    page = next(line for line in text.splitlines() if line.startswith("Acknowledge")).split()[-1]
    assert page.replace("&", "&amp;") in html
    delivered = [d for d in audit.unique(booked(later.key)) if d.value["type"] == "notice.delivery"]
    assert {d.value["data"]["endpoint"] for d in delivered} == {"agency.example"}
    assert [d.value["data"]["status"] for d in delivered] == [451, 250]

    assert await ended(audit, refused.key, 90) == ["gone"]
    [told] = await escalations.wait_for_unique(booked(refused.key), 1, 30)
    assert "SMTP 550" in told.value["data"]["detail"] and "555-0199" in told.value["data"]["detail"]

    # A person follows the mail's link: a page that changes nothing, whose button POSTs.
    async with aiohttp.ClientSession() as session:
        async with session.get(page) as opened:
            assert opened.status == 200 and "<form" in await opened.text()
        assert not audit.matching(acknowledged(later.key))
        async with session.post(
            page + "&by=SDO%20Rivera", headers={"accept": "text/html"}
        ) as pressed:
            assert pressed.status == 202 and "is acknowledged" in await pressed.text()
    [ack] = await audit.wait_for(acknowledged(later.key), 1, 30)
    assert ack.value["data"]["detail"]["by"] == "SDO Rivera"
