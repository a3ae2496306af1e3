"""A signed-in person's session: a cookie holding their name, when they signed in and when
they were last seen, signed with HMAC-SHA256. Idle for 30 minutes (CJIS 5.5.5, session lock)
or open for 12 hours, it is over; each request seen renews the idle clock. Pure: the secret
and the clock are given."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

COOKIE = "releasewatch_session"
IDLE = 30 * 60.0  # s
LONGEST = 12 * 3600.0  # s


@dataclass(frozen=True)
class Session:
    user: str
    signed_in: float
    seen: float


def _sign(secret: bytes, body: bytes) -> str:
    return base64.urlsafe_b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()


def signed(secret: bytes, value: object) -> str:
    """``value`` (JSON) as a cookie value signed with ``secret``: readable, not forgeable."""
    body = json.dumps(value).encode()
    return base64.urlsafe_b64encode(body).decode() + "." + _sign(secret, body)


def unsigned(secret: bytes, cookie: str | None) -> object | None:
    """The value ``signed`` put in ``cookie``; None when absent or not signed with ``secret``."""
    if not cookie or "." not in cookie:
        return None
    encoded, signature = cookie.rsplit(".", 1)
    try:
        body = base64.urlsafe_b64decode(encoded.encode())
        if not hmac.compare_digest(signature, _sign(secret, body)):
            return None
        return json.loads(body)
    except (ValueError, TypeError):
        return None


def issue(secret: bytes, session: Session) -> str:
    return signed(secret, [session.user, session.signed_in, session.seen])


def read(secret: bytes, cookie: str | None, now: float) -> Session | None:
    """The session the cookie holds, still open at ``now``; None when absent, forged or over."""
    value = unsigned(secret, cookie)
    if not isinstance(value, list) or len(value) != 3:
        return None
    try:
        user, signed_in, seen = str(value[0]), float(value[1]), float(value[2])
    except (ValueError, TypeError):
        return None
    if now - seen > IDLE or now - signed_in > LONGEST or seen > now + 60:
        return None
    return Session(user, signed_in, seen)
