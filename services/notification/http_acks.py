"""Acknowledgements over HTTP, wired on the notification worker's web server (#44).

``POST /acks/{notice_id}?booking=<jurisdiction>/<booking_id>[&by=<who>]`` with
``Authorization: Bearer <token>`` (the token a webhook's body or an email's link carries):
- 202: acknowledged; the same ``notice.acknowledged`` event a Kafka client writes is on
  ``notice.acks.v1`` (resends, delivery retries and escalation stop when it is read);
- 401: no token, a token not made with this installation's secret, or one for another notice;
- 410: the token expired, or was used already (the notice is acknowledged);
- 404: no such notice on this booking.
Every refusal is dead-lettered (``deadletter.v1``, the token's fingerprint, never the token)
and logged. The request is answered by the worker holding the booking's partition (faust's
``table_route`` forwards it there), so "used already" is decided from the booking's record.
Only on with ``RELEASEWATCH_ACK_TOKEN_SECRET``.
"""

from __future__ import annotations

import html
import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import faust

from schemas.deadletter import FieldError, RejectReason
from schemas.notices import Notice
from schemas.topics import NOTICE_ACKS
from services.core import ack_tokens as tokens
from services.core.ack_tokens import Claims, Refusal
from services.notification.acks import Refused, by_token
from services.ops import events
from services.ops.logging import get_logger
from services.streams.codec import RawMessage
from services.streams.durable import DurableService

log = get_logger(__name__)
SOURCE = "https:/acks"  # what a dead letter names as where a refused acknowledgement came from


class AckLinks:
    """The acknowledgement link of a notice message: its URL and token (the same for every
    retry of one message), or None when acknowledgements over HTTP are off."""

    def __init__(self, secret: str | None, base_url: str, days: float) -> None:
        self.secret = secret
        self.base_url = base_url.rstrip("/")
        self.valid = timedelta(days=days)

    def __call__(self, message: Notice) -> dict[str, str] | None:
        if self.secret is None:
            return None
        data = message.data
        key = f"{message.jurisdiction}/{message.booking_id}"
        expires = data.issued_at + self.valid
        token = tokens.issue(self.secret, Claims(data.notice_id, data.agency, key, expires))
        url = f"{self.base_url}/acks/{quote(data.notice_id, safe='')}?booking={quote(key, safe='')}"
        return {
            "url": url,
            "method": "POST",
            "authorization": f"Bearer {token}",
            "expires_at": expires.isoformat(),
            # for people (an email's link): a page whose button POSTs; opening it changes nothing
            "page": f"{url}&token={token}",
        }


def install(service: DurableService[Any], secret: str) -> None:
    """``POST /acks/{notice_id}`` on this worker's web server."""
    app, clock = service.app, service.clock
    acks = service.output(NOTICE_ACKS)

    async def refuse(status: int, why: str, notice_id: str, key: str, token: str) -> Any:
        fingerprint = tokens.fingerprint(token) if token else "none"
        value = json.dumps({"notice_id": notice_id, "token": fingerprint, "refused": why})
        raw = RawMessage(
            SOURCE, -1, int(fingerprint, 16) if token else 0, key.encode() or None, value.encode()
        )
        await service.deadletters.send(
            raw, [FieldError(path="token", reason=RejectReason.INCONSISTENT, message=why)]
        )
        log.warning(events.ACK_REFUSED, status=status, reason=why, notice_id=notice_id)
        return status, {"error": why}

    class Acknowledge(faust.web.View):
        @app.table_route(table=service.records.table, query_param="booking")  # type: ignore[arg-type]
        async def post(self, request: Any, notice_id: str) -> Any:
            status, body = await answer(request, notice_id)
            if "text/html" in request.headers.get("accept", ""):  # the page's button
                return self.html(page(ANSWERED, body, status), status=status)
            return self.json(body, status=status)

        async def get(self, request: Any, notice_id: str) -> Any:
            """The page an email's link opens: it changes nothing (mail scanners open links);
            its button POSTs the acknowledgement."""
            return self.html(page(CONFIRM, {"notice_id": notice_id}, 200), status=200)

    async def answer(request: Any, notice_id: str) -> tuple[int, dict[str, str]]:
        key = request.query.get("booking", "")
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        token = token or request.query.get("token", "")  # the page's form posts it so
        if not token:
            return await refuse(401, "no token (Authorization: Bearer)", notice_id, key, token)
        claims = tokens.read(secret, token, clock.now())
        if claims is Refusal.EXPIRED:
            return await refuse(410, "the token has expired", notice_id, key, token)
        if claims is Refusal.FORGED or not isinstance(claims, Claims):
            return await refuse(401, "the token is not genuine", notice_id, key, token)
        if (claims.notice_id, claims.key) != (notice_id, key):
            return await refuse(401, "the token is for another notice", notice_id, key, token)
        decided = by_token(
            service.records.get(key), claims, request.query.get("by", ""), clock.now()
        )
        if isinstance(decided, Refused):
            return await refuse(decided.status, decided.reason, notice_id, key, token)
        await acks.send(key.encode(), decided, wait=True)
        log.info(events.ACK_TAKEN, notice_id=notice_id, agency=claims.agency)
        return 202, {"acknowledged": notice_id}

    app.page("/acks/{notice_id}")(Acknowledge)


CONFIRM = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Acknowledge release notice</title></head><body><main>
<h1>Acknowledge release notice</h1><p>Notice {notice_id}</p>
<form method="post"><label>Acknowledged by <input name="by" required></label>
<button type="submit">Acknowledge</button></form>
<script>document.forms[0].onsubmit = function (e) {{ e.preventDefault();
  var url = new URL(location.href); url.searchParams.set("by", this.by.value);
  fetch(url, {{method: "POST", headers: {{accept: "text/html"}}}})
    .then(function (r) {{ return r.text(); }})
    .then(function (t) {{ document.open(); document.write(t); document.close(); }}); }};
</script></main></body></html>"""
ANSWERED = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Release notice</title></head><body><main><h1>{title}</h1><p>{text}</p></main>
</body></html>"""


def page(template: str, body: dict[str, str], status: int) -> str:
    """A page for people; every value escaped."""
    values = {k: html.escape(v) for k, v in body.items()}
    if template is ANSWERED:
        title = "Acknowledged" if status == 202 else "Not acknowledged"
        text = (
            f"Notice {values['acknowledged']} is acknowledged."
            if status == 202
            else values.get("error", "")
        )
        return template.format(title=title, text=text)
    return template.format(**values)
