"""Commit: when a handled message counts as done, so its offset may be committed (the gap
guard's ``committable``). Under at_least_once, only once the broker has acknowledged its
outputs, in the order handled: faust's flush before a commit waits for each send to end,
refused or not, so a refused output was lost with its input committed. One refused is sent
again after a back-off; refused for good, the input is dead-lettered naming it. Under
exactly_once at once: the transaction commits the outputs with the offset, and one the broker
refused keeps that transaction from ever committing (``fencing``)."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from services.kafka.patches import fencing
from services.ops import events
from services.ops.logging import get_logger, message_context
from services.streams.app import ServiceApp
from services.streams.handling import Handled, OnError
from services.streams.output import Unacknowledged
from services.streams.reading import ReadState

log = get_logger(__name__)


class Settlement:
    def __init__(self, app: ServiceApp, state: ReadState, on_error: OnError) -> None:
        self.app = app
        self.state = state
        self.on_error = on_error

    def finish(self, message: Any) -> None:
        """Processed or dead-lettered: committable, in offset order."""
        self.state.retry.done(message.tp, message.offset)
        self.state.guard.handled(message.tp, message.offset)
        self.state.handled.add(message.topic)

    def in_transaction(self, item: Handled) -> None:
        """exactly_once: done now; a refused output marks the input so its transaction is
        never committed (the commit checks)."""
        position = (item.raw.topic, item.raw.partition, item.raw.offset)
        for delivery in item.deliveries:
            _on_done(delivery.future, functools.partial(fencing.note_refused_input, position))
        self.finish(item.message)

    def settle_acknowledged(self, batch: list[Handled]) -> None:
        """Finish at once, in order, the messages whose outputs the broker has already all
        acknowledged (most of them, by the time a few more are handled): the commit then
        keeps up with the batch rather than waiting for its end, and a kill -9 repeats no
        more than before."""
        done = 0
        for item in batch:
            if not all(_acknowledged(delivery.future) for delivery in item.deliveries):
                break
            self.finish(item.message)
            done += 1
        del batch[:done]

    async def settle(self, batch: list[Handled], generation: int | None) -> None:
        """In the order handled, each message counts as handled once the broker has
        acknowledged its outputs. One it refused is sent again after a while
        (``OutputRetry``); refused for good, the input is dead-lettered naming it."""
        for item in batch:
            message = item.message
            with message_context(
                topic=message.topic, partition=message.partition, offset=message.offset
            ):
                await self._until_acknowledged(item, generation)
            if self.app.consumer_generation_id != generation:
                return  # the partitions may have moved: read again from the commit
            self.finish(message)

    async def _until_acknowledged(self, item: Handled, generation: int | None) -> None:
        message = item.message
        while True:
            refused = await _refused(item.deliveries)
            if not refused or self.app.consumer_generation_id != generation:
                return
            error = refused[0][1]
            names = sorted({delivery.topic for delivery, _ in refused})
            retriable = all(getattr(exc, "retriable", False) for _, exc in refused)
            wait = self.state.retry.failed(message.tp, message.offset, retriable)
            if wait is None:  # refused for good: dead-lettered, naming it
                log.error(events.MESSAGE_FAILED, error=type(error).__name__, outputs=names)
                await self.on_error(item.raw, error)
                return
            log.error(
                events.OUTPUT_REFUSED, error=type(error).__name__, retry_in=wait, outputs=names
            )
            await asyncio.sleep(wait)
            for delivery, _ in refused:
                await delivery.again()


def _on_done(future: Any, callback: Any) -> None:
    add = getattr(future, "add_done_callback", None)
    if add is not None:
        add(callback)


def _acknowledged(future: Any) -> bool:
    """The broker has the record (a future done without an exception)."""
    return bool(future.done() and not future.cancelled() and future.exception() is None)


async def _refused(deliveries: list[Unacknowledged]) -> list[tuple[Unacknowledged, Exception]]:
    """Wait for each delivery; the ones the broker refused, with why."""
    refused: list[tuple[Unacknowledged, Exception]] = []
    for delivery in deliveries:
        try:
            await delivery.future
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            refused.append((delivery, exc))
    return refused
