"""The stall watchdog: once a second, each input partition's committed offset and high
watermark from the broker; a partition the gap guard finds stalled (a hole at its very end,
which no later offset shows) is sought back to its first missing offset, unless the broker
says the hole holds only transaction markers. Also the consumer-lag metric and the
once-a-second summary of what was handled."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from services.kafka.client.holes import HoleProbe
from services.kafka.patches import internals
from services.ops import events
from services.ops.logging import get_logger
from services.streams.app import ServiceApp
from services.streams.reading import ReadState

log = get_logger(__name__)

SUMMARY_EVERY = 1.0  # seconds


class StallWatchdog:
    def __init__(self, app: ServiceApp, state: ReadState, probe: HoleProbe | None) -> None:
        self.app = app
        self.state = state
        self.probe = probe

    async def look(self) -> None:
        """One look. A failed one (partitions moving under it) is tried again next time: an
        exception in a faust timer stops the whole worker."""
        try:
            await self._look()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(events.INPUT_WATCH_FAILED, error=type(exc).__name__)

    async def _look(self) -> None:
        app, state = self.app, self.state
        if app.rebalancing or not app.tables.recovery.completed.is_set():  # type: ignore[attr-defined]
            return
        state.follow(app.consumer_generation_id)
        consumer: Any = app.consumer
        inputs = [
            tp
            for tp in consumer.assignment()
            if not tp.topic.endswith("-changelog") and not tp.topic.endswith("__leader")
        ]
        if not inputs:
            return
        # High watermarks from the broker (ListOffsets): a partition the fetcher has not
        # reached has none locally.
        ends = await consumer.highwaters(*inputs)
        positions = {tp: (consumer._committed_offset.get(tp), ends.get(tp)) for tp in inputs}
        for tp, (committed, end) in positions.items():
            # Never committed and nothing handled yet, though the partition has messages:
            # faust may have dropped what it fetched right after the assignment, and with
            # nothing to compare the hole would never show. Take the broker's position.
            if committed is None and end and state.fill_committed and not state.guard.expects(tp):
                positions[tp] = (await internals.committed_on_broker(app, tp), end)
        app.metrics.record_positions(
            {(tp.topic, tp.partition): position for tp, position in positions.items()}
        )
        fetched = internals.fetched_offsets(consumer, inputs)
        queued = internals.queued_offsets(consumer, inputs)
        backlog = state.backlog()
        stalled: list[tuple[Any, int]] = state.guard.stalled(
            positions, time.monotonic(), fetched, backlog, queued
        )
        for tp, offset in stalled if state.guarded else []:
            end = positions[tp][1]
            probe = self.probe
            if probe and end and not await probe.holds_records(tp.topic, tp.partition, offset, end):
                continue  # only markers after the last record: nothing is stuck
            log.warning(
                events.INPUT_STALLED_SEEK_BACK,
                topic=tp.topic,
                partition=tp.partition,
                seek_to=offset,
                high_watermark=end,
                fetched_to=fetched.get(tp),
                queued_at=queued.get(tp),  # the next message the client holds for it
                backlog=backlog,
                # faust asks the client only for partitions in its fetch set; one it took
                # out when the agent's buffer was under pressure waits for a callback.
                fetching=tp in (getattr(consumer, "_active_partitions", None) or ()),
                buffer_full=tp in (getattr(consumer, "_buffered_partitions", None) or ()),
            )
            await consumer.seek(tp, offset)


def install(app: ServiceApp, watchdog: StallWatchdog, state: ReadState, every: float) -> None:
    """The watchdog's look every ``every`` seconds, and the handled summary every second."""

    @app.timer(interval=every)
    async def unstick_partitions() -> None:
        await watchdog.look()

    @app.timer(interval=SUMMARY_EVERY)
    async def summarise_handled() -> None:
        state.handled.report()
