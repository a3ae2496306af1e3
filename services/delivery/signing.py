"""Standard Webhooks signatures (standardwebhooks.com, "Verifying webhook authenticity"). Pure.

The signed content is ``<webhook-id>.<webhook-timestamp>.<body>``; a signature is ``v1,`` and
the base64 of its HMAC-SHA256 under the secret's key (the base64 after ``whsec_``). With two
secrets (a rotation) both sign, space-separated, so a receiver holding either accepts it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping

PREFIX = "whsec_"
TOLERANCE_SECONDS = 5 * 60  # the spec's example: older or newer than this is refused


def key_of(secret: str) -> bytes:
    if not secret.startswith(PREFIX):
        raise ValueError(f"a webhook secret starts with {PREFIX}")
    encoded = secret[len(PREFIX) :]
    key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    if not key:
        raise ValueError("a webhook secret holds a key after whsec_")
    return key


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key_of(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets: Iterable[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of one delivery attempt."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, message_id, timestamp, body) for s in secrets),
    }


def verify(secrets: Iterable[str], headers: Mapping[str, str], body: bytes, now: int) -> bool:
    """What a receiver checks: a fresh timestamp and one signature made with one of its
    secrets (compared in constant time)."""
    try:
        message_id = headers["webhook-id"]
        timestamp = int(headers["webhook-timestamp"])
        offered = headers["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = [signature(s, message_id, timestamp, body) for s in secrets]
    return any(hmac.compare_digest(o, e) for o in offered for e in expected)
