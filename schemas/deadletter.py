"""``deadletter.v1``: every input message that could not be accepted (SPEC 5).

Unlike other topics, a dead letter may not know its jurisdiction or booking (the input was
not JSON, say), so it has its own shape rather than the booking envelope.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from schemas.envelope import Instant
from schemas.sealed import SealedMessage


class RejectReason(StrEnum):
    """Why a message was refused; one per SPEC 5 case."""

    INVALID_JSON = "invalid_json"
    NOT_UTF8 = "not_utf8"
    TOO_LARGE = "too_large"
    SCHEMA = "schema"
    UNKNOWN_TYPE = "unknown_type"
    UNKNOWN_TIMEZONE = "unknown_timezone"
    NONEXISTENT_LOCAL_TIME = "nonexistent_local_time"
    INCONSISTENT = "inconsistent"
    INTERNAL_ERROR = "internal_error"  # a bug of ours; the message is kept to be replayed


class FieldError(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str  # dotted field path, "" for the whole message
    reason: RejectReason
    message: str


class RawPayload(BaseModel):
    """A key or value as it was read: text if it is UTF-8, base64 otherwise."""

    model_config = ConfigDict(frozen=True)

    encoding: Literal["utf-8", "base64"]
    content: str


class DeadLetter(BaseModel):
    model_config = ConfigDict(frozen=True)

    deadletter_id: str  # <topic>:<partition>:<offset>, deterministic
    type: Literal["deadletter"] = "deadletter"
    service: str
    source_topic: str
    source_partition: int
    source_offset: int
    rejected_at: Instant
    reason: RejectReason  # the first error's reason, for counting
    errors: list[FieldError]
    key: RawPayload | None
    # Sealed whole when the service has key-encryption keys (#46: what a jail sends names the
    # person); `releasewatch deadletters open` shows it to whoever holds the KEK file.
    value: RawPayload | SealedMessage | None
    event_id: str | None = None
    event_type: str | None = None
    jurisdiction: str | None = None
