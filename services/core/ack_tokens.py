"""Acknowledgement tokens (#44): what lets an agency acknowledge a notice over HTTP without a
Kafka client. Pure.

A token names one notice, its agency and its booking, and when it expires, signed with the
installation's ``RELEASEWATCH_ACK_TOKEN_SECRET`` (HMAC-SHA256): ``<claims>.<signature>``, both
base64url. It is given in each webhook's body (and an email's link). The same notice message
always gets the same token, so a retried webhook carries the same one. A token is used once:
the worker holding the booking refuses it once the notice is acknowledged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

MIN_SECRET_BYTES = 32


class Refusal(StrEnum):
    FORGED = "forged"  # not ours, or changed: 401
    EXPIRED = "expired"  # ours, too late: 410


@dataclass(frozen=True)
class Claims:
    notice_id: str
    agency: str
    key: str  # the booking: <jurisdiction>/<booking_id>
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, claims: bytes) -> bytes:
    return hmac.new(secret.encode(), b"releasewatch-ack-v1\n" + claims, hashlib.sha256).digest()


def issue(secret: str, claims: Claims) -> str:
    body = "\n".join(
        (claims.notice_id, claims.agency, claims.key, str(int(claims.expires_at.timestamp())))
    ).encode()
    return f"{_b64(body)}.{_b64(_mac(secret, body))}"


def read(secret: str, token: str, now: datetime) -> Claims | Refusal:
    """The claims of a genuine, unexpired token; else why it is refused."""
    try:
        encoded, signature = token.split(".")
        body = _unb64(encoded)
        if not hmac.compare_digest(_unb64(signature), _mac(secret, body)):
            return Refusal.FORGED
        notice_id, agency, key, expires = body.decode().split("\n")
        claims = Claims(notice_id, agency, key, datetime.fromtimestamp(int(expires), UTC))
    except (ValueError, UnicodeDecodeError):
        return Refusal.FORGED
    return Refusal.EXPIRED if now >= claims.expires_at else claims


def fingerprint(token: str) -> str:
    """A token's name in logs and dead letters: never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]
