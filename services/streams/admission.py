"""Admit: whether a message read from an input partition is handled now. In offset order and
without holes (``GapGuard``): a message handled already since the last reset is skipped; one
after a hole is held back (not acked, read again) and the partition sought back to the hole,
unless the broker says the hole holds only transaction markers; a hole open too long is given
up only as far as retention deleted it."""

from __future__ import annotations

import time
from typing import Any

from services.kafka.client.holes import HoleProbe
from services.kafka.patches import internals
from services.ops import events
from services.ops.logging import get_logger
from services.streams.app import ServiceApp
from services.streams.gaps import AcceptHole, Hold, Process, Repeat, Verdict
from services.streams.reading import ReadState

log = get_logger(__name__)


class Admission:
    def __init__(self, app: ServiceApp, state: ReadState, probe: HoleProbe | None) -> None:
        self.app = app
        self.state = state
        # Transaction markers (and, under exactly_once, aborted records) take offsets a
        # consumer never sees: the probe asks the broker whether a hole holds records it
        # should have been handed; one that does not is passed at once.
        self.probe = probe

    async def admit(self, message: Any) -> bool:
        """True: handle ``message`` now. False: skipped (a repeat), or held back to be read
        again (a hole before it, or its partition's committed offset not known yet)."""
        consumer: Any = self.app.consumer
        state = self.state
        state.follow(self.app.consumer_generation_id)
        # faust's own record of the committed offset (set by its seek and commits); where it
        # has none, the broker's, before a partition's first message.
        committed = consumer._committed_offset.get(message.tp)
        if committed is None and state.fill_committed and not state.guard.expects(message.tp):
            committed = await internals.committed_on_broker(self.app, message.tp)
            if committed is None:  # not known now: read this message again later
                internals.withhold_ack(consumer, message)
                await consumer.seek(message.tp, message.offset)
                return False
        verdict = await self._verdict(message, committed)
        state.taken.inc(message.topic)
        if isinstance(verdict, Hold):
            internals.withhold_ack(consumer, message)  # read again, not done
            if verdict.seek_to is not None:
                log.warning(
                    events.INPUT_GAP_SEEK_BACK,
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                    seek_to=verdict.seek_to,
                )
                await consumer.seek(message.tp, verdict.seek_to)
            return False
        return not isinstance(verdict, Repeat)

    async def _verdict(self, message: Any, committed: int | None) -> Verdict:
        state = self.state
        now = time.monotonic()
        verdict = (
            state.guard.check(message.tp, message.offset, committed, now)
            if state.guarded
            else Process()
        )
        if isinstance(verdict, Repeat):  # handled already, read again after a seek
            return verdict
        markers = False
        if isinstance(verdict, Hold) and self.probe and verdict.seek_to is not None:
            start, end = verdict.missing_from, message.offset
            if not await self.probe.holds_records(message.topic, message.partition, start, end):
                verdict, markers = state.guard.accept(message.tp, end, time.monotonic()), True
        if isinstance(verdict, Hold) and verdict.overdue:
            verdict = await self._give_up_deleted(message, verdict, committed)
        if isinstance(verdict, AcceptHole):
            (log.debug if markers else log.warning)(
                events.INPUT_GAP_ACCEPTED,
                topic=message.topic,
                partition=message.partition,
                missing_from=verdict.missing_from,
                offset=message.offset,
            )
        return verdict

    async def _give_up_deleted(self, message: Any, held: Hold, committed: int | None) -> Verdict:
        """A hole open too long: given up only as far as retention deleted it (the
        partition's log starts past it); still readable, it is waited for and sought again."""
        first = await internals.log_start(self.app, message.tp)
        hole = {
            "topic": message.topic,
            "partition": message.partition,
            "missing_from": held.missing_from,
            "offset": message.offset,
            "log_start": first,
        }
        if first is None or first <= held.missing_from:
            log.warning(events.INPUT_GAP_STILL_OPEN, **hole)
            return held
        now = time.monotonic()
        self.state.guard.gone_before(message.tp, first, now)
        log.warning(events.INPUT_GAP_ACCEPTED, **hole)
        return self.state.guard.check(message.tp, message.offset, committed, now)
