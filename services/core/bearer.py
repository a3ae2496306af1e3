"""Bearer tokens for those who send to releasewatch over HTTP (jails, agencies' field offices):
made once and handed over, kept only as their SHA-256 (#45). Pure."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable

HEX64 = re.compile(r"^[0-9a-f]{64}$")
JAIL_PREFIX = "rwj_"  # a jail sending bookings
AGENCY_PREFIX = "rwa_"  # an agency filing notice requests


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def matches(token: str, hashes: Iterable[str]) -> bool:
    """Whether ``token`` is one of ``hashes``: every one compared, in constant time each."""
    presented = digest(token)
    found = False
    for known in hashes:
        found |= hmac.compare_digest(presented, known)
    return found


def new_token(prefix: str) -> tuple[str, str]:
    """(a new bearer token, its SHA-256 for the file)."""
    token = prefix + secrets.token_urlsafe(32)
    return token, digest(token)
