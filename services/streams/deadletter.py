"""Publish a refused message to ``deadletter.v1`` and log one warning (no personal data)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, TypeVar

import faust
from pydantic import TypeAdapter

from schemas.deadletter import DeadLetter, FieldError, RejectReason
from schemas.topics import DEADLETTER
from services.core.clock import Clock
from services.core.field_crypto import KeyEncryptionKeys
from services.ops import events
from services.ops.logging import bind_event, get_logger
from services.ops.metrics import Metrics
from services.streams.codec import Decoded, RawMessage, dead_letter, decode, error
from services.streams.output import Output

log = get_logger(__name__)
T = TypeVar("T")


class DeadLetterPublisher:
    def __init__(
        self, app: faust.App, service: str, clock: Clock, keks: KeyEncryptionKeys | None = None
    ) -> None:
        """``keks``: each refused message's value is sealed under them (#46)."""
        self.metrics: Metrics = app.metrics  # type: ignore[attr-defined]
        self.topic = Output(app, DEADLETTER, self.metrics)
        self.service = service
        self.clock = clock
        self.keks = keks

    async def send(
        self,
        raw: RawMessage,
        errors: Sequence[FieldError],
        hint: dict[str, Any] | None = None,
    ) -> DeadLetter:
        now = self.clock.now()
        letter = dead_letter(raw, errors, service=self.service, now=now, hint=hint, keks=self.keks)
        await self.topic.send(raw.key, letter)
        self.metrics.dead_lettered.labels(self.service, letter.reason.value).inc()
        log.warning(
            events.EVENT_DEAD_LETTERED,
            reason=letter.reason.value,
            errors=[f"{e.path or '<message>'}: {e.message}" for e in letter.errors],
            **{k: v for k, v in (hint or {}).items() if k in ("event_id", "type", "jurisdiction")},
        )
        return letter

    async def accept(
        self, raw: RawMessage, adapter: TypeAdapter[T], known_types: Collection[str]
    ) -> T | None:
        """Decode and validate a message once, at the edge. A refused message is dead-lettered
        here and None returned; an accepted event's id, type and jurisdiction are bound to
        the log lines about it."""
        result = decode(raw, adapter, known_types)
        if not isinstance(result, Decoded):
            await self.send(raw, result.errors, result.hint)
            return None
        if hasattr(result.event, "jurisdiction"):
            bind_event(result.event)
        return result.event

    async def refuse(self, raw: RawMessage, errors: Sequence[FieldError], event: Any) -> None:
        """Dead-letter a valid event the domain refused (inconsistent with the state)."""
        await self.send(
            raw,
            errors,
            {"event_id": event.event_id, "type": event.type, "jurisdiction": event.jurisdiction},
        )

    async def send_internal_error(self, raw: RawMessage, exc: BaseException) -> DeadLetter:
        """A bug of ours: keep the message (it can be replayed once fixed) and go on."""
        return await self.send(
            raw,
            [error("", RejectReason.INTERNAL_ERROR, f"{type(exc).__name__} while processing")],
        )
