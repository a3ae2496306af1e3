"""Handle: one admitted message through the service's handler, with its log context and
trace span bound and its outputs collected (``UNACKNOWLEDGED``, joined to the input's
transaction through ``SOURCE``). An unexpected error dead-letters the message (it never stops
the partition); an output the broker refused is not the input's fault: the message is read
again after a back-off (``OutputRetry``), or dead-lettered naming the refusal once it is
refused for good. Under exactly_once an input whose outputs were refused in earlier workers
of this process is dead-lettered at the limit instead of handled again."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import errors as aiokafka_errors
from aiokafka.errors import KafkaError

from services.core.field_crypto import KeyServiceUnavailable
from services.kafka.patches import fencing
from services.ops import events, tracing
from services.ops.logging import get_logger, message_context, unbind_event
from services.streams.codec import RawMessage
from services.streams.output import SOURCE, UNACKNOWLEDGED, Unacknowledged
from services.streams.retry import OutputRetry

log = get_logger(__name__)

Handler = Callable[[RawMessage], Awaitable[None]]
OnError = Callable[[RawMessage, BaseException], Awaitable[object]]


@dataclass
class Handled:
    """A message handled (or dead-lettered); its outputs sent without waiting may still be
    on their way (``raw``: the message as the handler had it, for a dead letter)."""

    raw: RawMessage
    message: Any
    deliveries: list[Unacknowledged] = field(default_factory=list)


@dataclass(frozen=True)
class ReadAgain:
    """The broker refused an output: read the message again after ``seconds``."""

    seconds: float


class Handling:
    def __init__(
        self,
        service: str,
        handler: Handler,
        on_error: OnError,
        retry: OutputRetry,
        exactly_once: bool,
    ) -> None:
        self.service = service
        self.handler = handler
        self.on_error = on_error
        self.retry = retry
        self.exactly_once = exactly_once
        # exactly_once: inputs whose outputs the broker refused for good, each time
        # restarting an earlier worker of this process.
        self.refused_before = fencing.refused_before() if exactly_once else {}

    async def handle(self, message: Any) -> Handled | ReadAgain:
        raw = raw_message(message)
        deliveries: list[Unacknowledged] = []
        source = SOURCE.set((raw.topic, raw.partition))
        unacknowledged = UNACKNOWLEDGED.set(deliveries)
        span = _span(raw) if tracing.enabled() else None
        try:
            with (
                message_context(topic=raw.topic, partition=raw.partition, offset=raw.offset),
                tracing.step(f"{self.service} {raw.topic}", message.headers, attributes=span),
            ):
                wait = await self._run(message, raw)
        finally:
            unbind_event()
            SOURCE.reset(source)
            UNACKNOWLEDGED.reset(unacknowledged)
        return ReadAgain(wait) if wait is not None else Handled(raw, message, deliveries)

    async def _run(self, message: Any, raw: RawMessage) -> float | None:
        """The handler, or the dead letter; the seconds to wait when an output was refused."""
        position = (raw.topic, raw.partition, raw.offset)
        times, error = self.refused_before.get(position, (0, ""))
        try:
            if times >= fencing.RESTARTS_BEFORE_GIVING_UP:  # exactly_once
                log.error(events.MESSAGE_FAILED, error=error, restarts=times)
                await self.on_error(raw, refused_output(error))
            else:
                await self.handler(raw)
        except asyncio.CancelledError:
            raise
        except KafkaError as exc:  # an output refused: the input is not at fault
            if self.exactly_once:  # its transaction cannot commit
                fencing.refused_input(position, exc)
                fencing.restart_if_refused()
            wait = self.retry.failed(message.tp, message.offset, exc.retriable)
            if wait is None:  # refused for good: dead-lettered, naming it
                log.exception(events.MESSAGE_FAILED, error=type(exc).__name__)
                await self.on_error(raw, exc)
            else:
                log.error(events.OUTPUT_REFUSED, error=type(exc).__name__, retry_in=wait)
            return wait
        except KeyServiceUnavailable as exc:  # the HSM did not answer: not the input's fault
            return self._key_service_down(message, exc)
        except Exception as exc:
            log.exception(events.MESSAGE_FAILED, error=type(exc).__name__)
            try:
                await self.on_error(raw, exc)
            except KeyServiceUnavailable as down:  # the dead letter cannot be sealed either
                return self._key_service_down(message, down)
        return None

    def _key_service_down(self, message: Any, exc: KeyServiceUnavailable) -> float | None:
        """Read the input again after a back-off, for as long as the HSM stays away: its
        partition waits (the input lag and stall alerts show it), nothing is refused."""
        wait = self.retry.failed(message.tp, message.offset, retriable=True)
        log.error(events.KEY_SERVICE_UNAVAILABLE, detail=str(exc), retry_in=wait)
        return wait


def raw_message(message: Any) -> RawMessage:
    return RawMessage(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=_headers(message.headers),
    )


def _headers(headers: Any) -> tuple[tuple[str, bytes], ...]:
    """A message's headers as faust hands them (a list of pairs, a mapping or None)."""
    if not headers:
        return ()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(name), bytes(value or b"")) for name, value in pairs)


class RefusedOutput(KafkaError):
    """The broker refused an output of this input for good (an error aiokafka does not
    name)."""


def refused_output(error: str) -> KafkaError:
    """The error the broker refused an output with, by its name (``fencing.refused_before``):
    the dead letter names it as under at_least_once."""
    kind = getattr(aiokafka_errors, error, None)
    if isinstance(kind, type) and issubclass(kind, KafkaError):
        with contextlib.suppress(Exception):
            return kind()
    return RefusedOutput(error)


def _span(raw: RawMessage) -> dict[str, str | int]:
    """A step's span attributes (OpenTelemetry's messaging conventions): no personal data."""
    return {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": raw.topic,
        "messaging.destination.partition.id": str(raw.partition),
        "messaging.kafka.offset": raw.offset,
        "messaging.kafka.message.key": (raw.key or b"").decode(errors="replace"),
    }
