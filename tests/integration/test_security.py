"""Logins, TLS and ACLs on a real Apache Kafka: a broker with a SASL_SSL listener (SCRAM-SHA-512
users made at storage format, a certificate from a CA the test makes, hostname verification
on) and the StandardAuthorizer, its ACLs applied by `releasewatch acls apply` from the same
definition as `releasewatch k8s users` (services/access.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError

from schemas.topics import (
    ACCESS,
    AGENCY_REQUESTS,
    AUDIT,
    JAIL_BOOKING,
    NOTICE_ACKS,
    agency_notices,
)
from services.access import OPS, SERVICES, service_principal_name
from services.kafka.admin.topics import partition_for
from services.kafka.broker.apache import EmbeddedKafka
from services.kafka.broker.secure import SecureListener
from services.kafka.broker.toolchain import missing_toolchain
from services.kafka.client.security import client_options
from services.settings import Settings
from tests import factories as f
from tests.integration.conftest import ARTIFACTS, PARTITIONS, service_env
from tests.support.certs import Authority
from tests.support.kafka_log import batches
from tests.support.workers import Worker, run_cli, stop_all

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(missing_toolchain() is not None, reason="needs the embedded Apache Kafka"),
]
AGENCIES = ("dhs-ice", "usms")
JAIL = "hennepin-adc"
PRINCIPALS = (
    "admin",
    *(service_principal_name(s) for s in SERVICES),
    OPS,
    *(f"agency-{a}" for a in AGENCIES),
    f"jail-{JAIL}",
)
PASSWORDS = {name: f"{name}-secret-7" for name in PRINCIPALS}


@dataclass
class Secured:
    broker: EmbeddedKafka
    ca: Authority
    data_dir: Path

    def env(self, login: str, password: str | None = None, **extra: str) -> dict[str, str]:
        """A process environment logging in as ``login`` over SASL_SSL."""
        env = service_env(self.broker, self.data_dir)  # type: ignore[arg-type]
        env.update(
            RELEASEWATCH_BROKER_URL=self.broker.secure_url,
            RELEASEWATCH_SECURITY_PROTOCOL="SASL_SSL",
            RELEASEWATCH_SASL_MECHANISM="SCRAM-SHA-512",
            RELEASEWATCH_SASL_USERNAME=login,
            RELEASEWATCH_SASL_PASSWORD=password or PASSWORDS[login],
            RELEASEWATCH_SSL_CAFILE=str(self.ca.ca_file),
        )
        env.update(extra)
        return env

    def client(self, login: str) -> dict[str, Any]:
        """aiokafka keyword arguments logging in as ``login``."""
        return client_options(Settings(**_settings_fields(self.env(login))))


def _settings_fields(env: dict[str, str]) -> dict[str, Any]:
    prefix = "RELEASEWATCH_"
    return {k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    root = tmp_path_factory.mktemp("secured")
    ca = Authority.create(root / "ca")
    keystore = ca.broker_keystore(("127.0.0.1",), "keystore-pw")
    listener = SecureListener(
        "SASL_SSL", tuple(PASSWORDS.items()), keystore, "keystore-pw", ca.ca_file
    )
    broker = EmbeddedKafka(root / "kafka", secure=listener)
    broker.start()
    try:
        running = Secured(broker, ca, root / "data")
        admin = running.env("admin")
        created = run_cli(admin, "topics", "create", "--wait", "30", *_each("--agency", AGENCIES))
        assert created.returncode == 0, created.stderr
        applied = run_cli(admin, "acls", "apply", *_each("--agency", AGENCIES), "--jail", JAIL)
        assert applied.returncode == 0, applied.stderr
        yield running
    finally:
        broker.stop()
        (ARTIFACTS / "broker-secured.log").write_bytes(broker.log_file.read_bytes())


def _each(flag: str, values: tuple[str, ...]) -> list[str]:
    return [item for value in values for item in (flag, value)]


def test_the_acls_on_the_broker_are_the_definition(secured: Secured) -> None:
    shown = run_cli(
        secured.env("admin"), "acls", "show", *_each("--agency", AGENCIES), "--jail", JAIL
    )
    listed = run_cli(secured.env("admin"), "acls", "list")
    assert shown.returncode == listed.returncode == 0, listed.stderr
    assert sorted(listed.stdout.split("\n")) == sorted(shown.stdout.split("\n"))
    assert "User:agency-usms Read topic:notices.usms.v1" in listed.stdout


def test_applying_the_acls_is_recorded_as_a_change(secured: Secured) -> None:
    """CJIS 5.4.1.1: permission changes are audit events (#46); read back as ops reads."""
    found = run_cli(secured.env(OPS), "tail", ACCESS.name, "--from-beginning", "--timeout", "10")
    assert found.returncode == 0, found.stderr
    changes = [
        json.loads(line)["value"] for line in found.stdout.splitlines() if '"change"' in line
    ]
    assert any(
        c["resource"].startswith("acls apply: ") and c["component"] == "cli" for c in changes
    ), found.stdout[-2000:]


async def test_an_agency_reads_its_notices_and_no_one_elses(secured: Secured) -> None:
    usms = secured.client("agency-usms")

    async def first_fetch(topic: str) -> None:
        consumer = AIOKafkaConsumer(
            topic, **usms, group_id="agency-usms", auto_offset_reset="earliest"
        )
        try:
            await consumer.start()
            await asyncio.wait_for(consumer.getmany(timeout_ms=2000), 30)
        finally:
            await consumer.stop()

    await first_fetch(agency_notices("usms").name)  # its own: no error
    for refused in (agency_notices("dhs-ice").name, JAIL_BOOKING.name, AUDIT.name):
        with pytest.raises(TopicAuthorizationFailedError):
            await first_fetch(refused)

    producer = AIOKafkaProducer(**usms)
    await producer.start()
    try:
        await producer.send_and_wait(AGENCY_REQUESTS.name, b"{}", key=b"k")  # may file
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(JAIL_BOOKING.name, b"{}", key=b"k")
    finally:
        await producer.stop()


@pytest.mark.parametrize("idempotent", [False, True])
async def test_a_jail_connector_only_publishes_booking_events(
    secured: Secured, idempotent: bool
) -> None:
    """Idempotent too (Kafka's Java producer is by default) with no IdempotentWrite grant:
    Kafka 3.0+ takes Write on a topic for it (KIP-679)."""
    producer = AIOKafkaProducer(**secured.client(f"jail-{JAIL}"), enable_idempotence=idempotent)
    await producer.start()
    try:
        await producer.send_and_wait(JAIL_BOOKING.name, b"{}", key=b"k")
        for refused in (AGENCY_REQUESTS.name, agency_notices("dhs-ice").name):
            with pytest.raises(TopicAuthorizationFailedError):
                await producer.send_and_wait(refused, b"{}", key=b"k")
    finally:
        await producer.stop()


def test_a_wrong_password_is_refused_in_one_line_without_the_password(secured: Secured) -> None:
    wrong = "not-the-right-one-42"
    for args in (("topics", "create", "--wait", "3"), ("tail", JAIL_BOOKING.name, "--limit", "1")):
        refused = run_cli(secured.env("agency-usms", password=wrong), *args)
        assert refused.returncode == 1, (args, refused.stdout, refused.stderr)
        assert "login as 'agency-usms' refused (unknown user or wrong password)" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert wrong not in refused.stdout + refused.stderr


def test_an_agency_refused_a_topic_is_told_so(secured: Secured) -> None:
    env = secured.env("agency-usms")
    refused = run_cli(env, "agency", "listen", "--agency", "dhs-ice", "--limit", "1", timeout=60)
    assert refused.returncode == 1, (refused.stdout, refused.stderr)
    assert "not authorized: login 'agency-usms' may not use topic(s)" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_hostname_verification_is_on(secured: Secured) -> None:
    # The broker's certificate names 127.0.0.1 only: reached as "localhost" it must be refused.
    port = secured.broker.secure_url.rsplit(":", 1)[1]
    env = secured.env("admin", RELEASEWATCH_BROKER_URL=f"kafka://localhost:{port}")
    refused = run_cli(env, "topics", "create", "--wait", "3")
    assert refused.returncode == 1
    assert "the broker's certificate was not accepted" in refused.stderr, refused.stderr
    assert "Hostname mismatch" in refused.stderr or "IP address mismatch" in refused.stderr


def test_each_service_runs_with_its_own_login_and_a_notice_reaches_the_agency(
    secured: Secured, tmp_path: Path
) -> None:
    workers = [
        Worker(
            name,
            secured.env(service_principal_name(name), RELEASEWATCH_DATA_DIR=str(tmp_path / name)),
            ARTIFACTS / f"secured-{name}.log",
        ).start()
        for name in SERVICES
    ]
    try:
        booking_id = "sec-0001"
        jail = secured.env(f"jail-{JAIL}")
        now = datetime.now(UTC)
        booked = f.opened(booking_id=booking_id, data={"booked_at": now.isoformat()})
        # released in 10 hours: inside the 48-hour window, so the notice is due at once
        scheduled = f.scheduled((now + timedelta(hours=10)).isoformat(), booking_id=booking_id)
        lines = "\n".join(json.dumps(document) for document in (booked, scheduled))
        sent = run_cli(jail, "publish", "-", stdin=lines)
        assert sent.returncode == 0, sent.stderr
        agency = secured.env("agency-dhs-ice")
        request = f.envelope(
            "notice_request.received",
            {"request_id": "ice-1", "agency": "dhs-ice"},
            booking_id=booking_id,
        )
        filed = run_cli(agency, "publish", "-", stdin=json.dumps(request))
        assert filed.returncode == 0, filed.stderr
        listened = run_cli(agency, "agency", "listen", "--agency", "dhs-ice", "--limit", "1")
        assert listened.returncode == 0, (listened.stderr, [w.log_text()[-2000:] for w in workers])
        assert "notice_due" in listened.stdout and booking_id in listened.stdout
        ops = run_cli(secured.env(OPS), "trace", f"{f.JURISDICTION}/{booking_id}")
        assert ops.returncode == 0, ops.stderr
        assert "notice notice_due to dhs-ice" in ops.stdout
        assert "ack " in ops.stdout  # the agency's acknowledgement, read back by ops
        # sent idempotently, as the settings say, with the agency's Write only (KIP-679)
        home = partition_for(f"{f.JURISDICTION}/{booking_id}", PARTITIONS)
        acks = batches(secured.broker.data_dir, NOTICE_ACKS.name, home)
        ids = {b.producer_id for b in acks if any(booking_id in r for r in b.records)}
        assert ids and all(i >= 0 for i in ids), ids
    finally:
        stop_all(workers)


def test_mutual_tls_names_the_principal_by_its_certificate(tmp_path: Path) -> None:
    """A listener that wants a client certificate (SSL, ssl.client.auth=required): the
    certificate's CN is the principal the ACLs name; no certificate, or one from another CA,
    is refused in one line."""
    ca = Authority.create(tmp_path / "ca")
    keystore = ca.broker_keystore(("127.0.0.1",), "keystore-pw")
    listener = SecureListener("SSL", (), keystore, "keystore-pw", ca.ca_file, client_auth=True)
    broker = EmbeddedKafka(tmp_path / "kafka", secure=listener)
    broker.start()
    try:

        def env(common_name: str | None, authority: Authority = ca) -> dict[str, str]:
            values = service_env(broker, tmp_path / "data")  # type: ignore[arg-type]
            values.update(
                RELEASEWATCH_BROKER_URL=broker.secure_url,
                RELEASEWATCH_SECURITY_PROTOCOL="SSL",
                RELEASEWATCH_SSL_CAFILE=str(ca.ca_file),
            )
            if common_name:
                cert, key = authority.client(common_name)
                values.update(
                    RELEASEWATCH_SSL_CERTFILE=str(cert), RELEASEWATCH_SSL_KEYFILE=str(key)
                )
            return values

        admin = env("admin")
        assert run_cli(admin, "topics", "create", "--wait", "30").returncode == 0
        applied = run_cli(admin, "acls", "apply", "--agency", "dhs-ice")
        assert applied.returncode == 0, applied.stderr

        agency = env("agency-dhs-ice")
        request = f.envelope(
            "notice_request.received", {"request_id": "ice-9", "agency": "dhs-ice"}
        )
        filed = run_cli(agency, "publish", "-", stdin=json.dumps(request))
        assert filed.returncode == 0, filed.stderr  # its ACL, by its certificate's CN
        booking = run_cli(agency, "publish", "-", stdin=json.dumps(f.opened()))
        assert booking.returncode == 1
        assert "not authorized" in booking.stderr, booking.stderr

        for who, refused in (
            ("no certificate", run_cli(env(None), "topics", "create", "--wait", "3")),
            (
                "another CA's",
                run_cli(
                    env("admin", Authority.create(tmp_path / "other", "another CA")),
                    "topics",
                    "create",
                    "--wait",
                    "3",
                ),
            ),
        ):
            assert refused.returncode == 1, who
            assert "TLS handshake refused" in refused.stderr, (who, refused.stderr)
            assert "Traceback" not in refused.stderr
    finally:
        broker.stop()
