"""Envelope codec: raw Kafka bytes in, a typed event or a list of field errors out.

Validation happens here, once, at the edge. Inside a service, events are typed models.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from schemas.deadletter import DeadLetter, FieldError, RawPayload, RejectReason
from schemas.jail_booking import Person
from schemas.sealed import SealedMessage
from schemas.topics import MAX_MESSAGE_BYTES
from services.core.field_crypto import KeyEncryptionKeys, seal_message

T = TypeVar("T")


@dataclass(frozen=True)
class RawMessage:
    """One message as read from a topic, before anything is trusted."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def position(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"


@dataclass(frozen=True)
class Decoded(Generic[T]):
    event: T


@dataclass(frozen=True)
class Invalid:
    errors: tuple[FieldError, ...]
    # What could be read of the envelope, for the dead letter and the log line.
    hint: dict[str, Any]

    @property
    def reason(self) -> RejectReason:
        return self.errors[0].reason


def error(path: str, reason: RejectReason, message: str) -> FieldError:
    return FieldError(path=path, reason=reason, message=message)


def _hint(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        return {}
    return {
        field: document[field]
        for field in ("event_id", "type", "jurisdiction")
        if isinstance(document.get(field), str)
    }


def _path(loc: Sequence[int | str], tagged: bool) -> str:
    parts = list(loc[1:] if tagged and loc else loc)
    return ".".join(str(part) for part in parts)


def _reason(message: str) -> RejectReason:
    if "unknown timezone" in message:
        return RejectReason.UNKNOWN_TIMEZONE
    return RejectReason.SCHEMA


# A value that may come clear or sealed (a person the intake sealed, #46): pydantic names each
# member of the union in the error's path. A publisher is told about the clear form only.
_CLEAR, _SEALED = Person.__name__, SealedMessage.__name__
# The header of a placed copy sealed whole (its value a ``SealedMessage``; streams.placement).
SEALED_HEADER = "releasewatch-sealed"


def validation_errors(exc: ValidationError, tagged: bool) -> tuple[FieldError, ...]:
    """pydantic errors as field paths (``data.facility.timezone``) with reasons."""
    items = exc.errors(include_url=False)
    clear = [item for item in items if _SEALED not in item["loc"]] or items
    found = []
    for item in clear:
        message = item["msg"]
        loc = tuple(part for part in item["loc"] if part != _CLEAR)
        found.append(error(_path(loc, tagged), _reason(message), message))
    return tuple(found)


def decode(
    raw: RawMessage, adapter: TypeAdapter[T], known_types: Collection[str]
) -> Decoded[T] | Invalid:
    """Decode and validate one input message. Never raises for bad input."""
    value = raw.value
    if value is None or value == b"":
        return Invalid((error("", RejectReason.INVALID_JSON, "empty message"),), {})
    if len(value) > MAX_MESSAGE_BYTES:
        return Invalid(
            (
                error(
                    "",
                    RejectReason.TOO_LARGE,
                    f"message is {len(value)} bytes; the limit is {MAX_MESSAGE_BYTES}",
                ),
            ),
            {},
        )
    # The common case in one step: pydantic-core parses and validates the bytes itself. Any
    # failure takes the careful path, which names the error.
    try:
        fast = adapter.validate_json(value)
    except ValidationError:
        pass
    else:
        if getattr(fast, "type", None) in known_types:
            return Decoded(fast)
    return decode_carefully(value, adapter, known_types)


def decode_carefully(
    value: bytes, adapter: TypeAdapter[T], known_types: Collection[str]
) -> Decoded[T] | Invalid:
    """UTF-8, then JSON, then the type, then the schema: the first that fails is the reason."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Invalid((error("", RejectReason.NOT_UTF8, f"not UTF-8: {exc.reason}"),), {})
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        return Invalid(
            (
                error(
                    "",
                    RejectReason.INVALID_JSON,
                    f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                ),
            ),
            {},
        )
    hint = _hint(document)
    if not isinstance(document, dict):
        return Invalid((error("", RejectReason.SCHEMA, "expected a JSON object"),), hint)
    kind = document.get("type")
    if isinstance(kind, str) and kind not in known_types:
        return Invalid(
            (
                error(
                    "type",
                    RejectReason.UNKNOWN_TYPE,
                    f"unknown type {kind!r}; expected one of: {', '.join(known_types)}",
                ),
            ),
            hint,
        )
    try:
        event = adapter.validate_python(document)
    except ValidationError as exc:
        tagged = isinstance(kind, str)
        return Invalid(validation_errors(exc, tagged), hint)
    return Decoded(event)


def encode(model: BaseModel) -> bytes:
    """The wire form of every message we publish: compact JSON, UTF-8."""
    return model.model_dump_json(exclude_none=False).encode("utf-8")


def raw_payload(data: bytes | None) -> RawPayload | None:
    if data is None:
        return None
    try:
        return RawPayload(encoding="utf-8", content=data.decode("utf-8"))
    except UnicodeDecodeError:
        return RawPayload(encoding="base64", content=base64.b64encode(data).decode("ascii"))


def sealed_already(raw: RawMessage) -> SealedMessage | None:
    """A placed copy sealed whole that did not open (its KEK out of the file): its sealed
    message, bound to its publisher's position, kept as it is rather than sealed again, so
    `releasewatch deadletters open` opens it once the KEK is back. None for anything else."""
    if raw.value is None or SEALED_HEADER not in dict(raw.headers):
        return None
    try:
        return SealedMessage.model_validate_json(raw.value)
    except ValidationError:
        return None  # not what we sealed: kept (and sealed) as any other value


def dead_letter(
    raw: RawMessage,
    errors: Sequence[FieldError],
    *,
    service: str,
    now: datetime,
    hint: dict[str, Any] | None = None,
    keks: KeyEncryptionKeys | None = None,
) -> DeadLetter:
    """The dead letter for one refused message: verbatim key and value, where it was, why.
    With ``keks`` the value is sealed whole (it may name the person); the key, a booking's
    jurisdiction and id, stays readable."""
    hint = hint or {}
    value: RawPayload | SealedMessage | None = sealed_already(raw) or raw_payload(raw.value)
    if keks is not None and isinstance(value, RawPayload) and raw.value is not None:
        value = seal_message(raw.value, raw.position, keks)
    return DeadLetter(
        deadletter_id=raw.position,
        service=service,
        source_topic=raw.topic,
        source_partition=raw.partition,
        source_offset=raw.offset,
        rejected_at=now,
        reason=errors[0].reason,
        errors=list(errors),
        key=raw_payload(raw.key),
        value=value,
        event_id=hint.get("event_id"),
        event_type=hint.get("type"),
        jurisdiction=hint.get("jurisdiction"),
    )
