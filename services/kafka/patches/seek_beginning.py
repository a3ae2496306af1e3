"""Seek to the beginning where nothing is committed (``seek_beginning``).

Defect: after a rebalance faust skips (and acks) messages it prefetched, then relies on
``seek_to_committed()`` to fetch them again. aiokafka leaves a partition that has no
committed offset at its current fetch position, so those prefetched messages are never read
again: seen here as offsets 4-7 of a fresh partition lost when a second worker joined.
Upstream: faust-streaming issues #216 and #221 describe the same window. With
``auto_offset_reset=earliest``, "nothing committed" means "from the beginning", so we seek
there; at worst that repeats messages, which every service tolerates.
Reproducer: ``tests/integration/test_seek_beginning.py`` (aiokafka alone on the real broker:
eight messages fetched, nothing committed, ``seek_to_committed()`` leaves the position at 8).
The fault suite with ``RELEASEWATCH_FAUST_FIXES_OFF=seek_beginning`` lost nothing (at least
once, seed 1, 36c2ffa): its partitions have commits within seconds of the start.
Applies to: faust-streaming 0.15.x (checked on 0.15.x with aiokafka 0.14.0), any broker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka

NAME = "seek_beginning"


async def _seek_to_committed_or_beginning(self: Any) -> Mapping[Any, int]:
    consumer = self._ensure_consumer()
    committed: Mapping[Any, int | None] = await self.call_thread(consumer.seek_to_committed)
    # aiokafka seeks only where the committed offset is > 0; changelogs are faust's own business.
    uncommitted = [
        tp
        for tp, offset in committed.items()
        if (offset is None or offset <= 0) and not tp.topic.endswith("-changelog")
    ]
    if uncommitted:
        await self.call_thread(consumer.seek_to_beginning, *uncommitted)
    return committed  # type: ignore[return-value]


def apply() -> None:
    faust_aiokafka.AIOKafkaConsumerThread.seek_to_committed = _seek_to_committed_or_beginning  # type: ignore[method-assign]
