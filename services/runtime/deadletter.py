"""Publish a refused message to ``deadletter.v1`` and log one warning (no personal data)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faust

from schemas.deadletter import DeadLetter, FieldError, RejectReason
from schemas.topics import DEADLETTER
from services.runtime.app import Output
from services.runtime.clock import Clock
from services.runtime.codec import RawMessage, dead_letter, error
from services.runtime.logging import get_logger
from services.runtime.metrics import Metrics

log = get_logger(__name__)


class DeadLetterPublisher:
    def __init__(self, app: faust.App, service: str, clock: Clock) -> None:
        self.metrics: Metrics = app.metrics  # type: ignore[attr-defined]
        self.topic = Output(app, DEADLETTER, self.metrics)
        self.service = service
        self.clock = clock

    async def send(
        self,
        raw: RawMessage,
        errors: Sequence[FieldError],
        hint: dict[str, Any] | None = None,
    ) -> DeadLetter:
        letter = dead_letter(raw, errors, service=self.service, now=self.clock.now(), hint=hint)
        await self.topic.send(raw.key, letter)
        self.metrics.dead_lettered.labels(self.service, letter.reason.value).inc()
        log.warning(
            "event_dead_lettered",
            reason=letter.reason.value,
            errors=[f"{e.path or '<message>'}: {e.message}" for e in letter.errors],
            **{k: v for k, v in (hint or {}).items() if k in ("event_id", "type", "jurisdiction")},
        )
        return letter

    async def send_internal_error(self, raw: RawMessage, exc: BaseException) -> DeadLetter:
        """A bug of ours: keep the message (it can be replayed once fixed) and go on."""
        return await self.send(
            raw,
            [error("", RejectReason.INTERNAL_ERROR, f"{type(exc).__name__} while processing")],
        )
