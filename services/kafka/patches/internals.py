"""What the service skeleton reads or sets inside faust and aiokafka, in one place: no patch is
installed here. Each function names the faust-streaming 0.15.x behaviour it works around.

- ``committed_on_broker``: faust sometimes has no committed offset on record after an
  assignment and would then commit whatever it processed first, however far past the real
  commit (seen under kill -9: a partition processed from 5560 after a rebalance, 2931-5559
  lost); the agents fill it from the broker before a partition's first message.
- ``withhold_ack``: faust acks every event an agent moves past, processed or not; a message
  the gap guard holds back must stay out of the commit until it is read again (fault suite,
  seed 3: jail events 2918-3552 of one partition committed, never processed).
- ``set_current_event``: faust's tables write to the current event's partition; in a
  ``take_events`` batch faust's current event is the last one buffered.
- ``fetched_offsets`` / ``queued_offsets``: not fixes, views: how far aiokafka has fetched,
  so the stall watchdog can tell a partition waiting behind others from one with a hole.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiokafka.consumer.fetcher import FetchResult
from faust import streams as faust_streams

from services.kafka.client.tuning import ClientTuning
from services.ops import events
from services.ops.logging import get_logger

log = get_logger(__name__)

DEFAULT_TUNING = ClientTuning()


def app_tuning(app: Any) -> ClientTuning:
    """The app's ``ClientTuning`` (``services.streams.app.ServiceApp``), else the defaults."""
    tuning = getattr(app, "tuning", None)
    return tuning if isinstance(tuning, ClientTuning) else DEFAULT_TUNING


def fetched_offsets(consumer: Any, tps: Any) -> dict[Any, int]:
    """tp -> the offset after the last message of ``tp`` aiokafka has fetched: its position
    (everything before it was handed to faust), plus one when it holds fetched records
    from there on. faust may still drop what it was handed (around a rebalance), so this
    says where messages should be, not that they will come. Read from the worker's loop
    while aiokafka runs in faust's consumer thread: single lookups only, a snapshot good
    enough for a watchdog."""
    return {tp: position + holds for tp, (position, holds) in _client_positions(consumer, tps)}


def queued_offsets(consumer: Any, tps: Any) -> dict[Any, int]:
    """tp -> the offset of the next message aiokafka holds for ``tp``, ready to hand to
    faust when the partition's turn comes (only partitions it holds records for)."""
    return {tp: position for tp, (position, holds) in _client_positions(consumer, tps) if holds}


def _client_positions(consumer: Any, tps: Any) -> list[tuple[Any, tuple[int, bool]]]:
    """(tp, (aiokafka's position, whether it holds fetched records from there))."""
    client = getattr(consumer._thread, "_consumer", None)
    if client is None:
        return []
    assignment = getattr(client._subscription.subscription, "assignment", None)
    if assignment is None:
        return []
    buffered: Mapping[Any, Any] = client._fetcher._records
    found = []
    for tp in tps:
        state = assignment.state_value(tp)
        if state is None or not state.has_valid_position:
            continue
        result = buffered.get(tp)
        holds = isinstance(result, FetchResult) and result.has_more()
        found.append((tp, (state.position, holds)))
    return found


async def committed_on_broker(app: Any, tp: Any) -> int | None:
    """The partition's committed offset as the broker has it (its first offset if nothing is
    committed), put on faust's record, which its commits are checked against (_new_offset).
    faust has none on record when it did not seek the partition after an assignment; it
    would then commit whatever it processed first, however far past the real commit."""

    async def committed_or_first(thread: Any, consumer: Any) -> int | None:
        offset = await thread.call_thread(consumer.committed, tp)
        if offset is None or offset < 0:
            offset = await _first_offset(thread, consumer, tp)
        return offset

    # Not known (rebalancing, the broker away): asked again on the next message.
    offset = await _ask_broker(app, tp, events.COMMITTED_OFFSET_UNKNOWN, committed_or_first)
    if offset is not None:
        app.consumer._committed_offset[tp] = offset
        log.info(
            events.COMMITTED_OFFSET_FROM_BROKER,
            topic=tp.topic,
            partition=tp.partition,
            offset=offset,
        )
    return offset


async def log_start(app: Any, tp: Any) -> int | None:
    """The partition's first offset on the broker (what retention has not deleted); None
    when the broker cannot say now."""

    async def first(thread: Any, consumer: Any) -> int | None:
        return await _first_offset(thread, consumer, tp)

    return await _ask_broker(app, tp, events.LOG_START_UNKNOWN, first)


async def _first_offset(thread: Any, consumer: Any, tp: Any) -> int | None:
    first = (await thread.call_thread(consumer.beginning_offsets, [tp])).get(tp)
    return first if isinstance(first, int) else None


async def _ask_broker(
    app: Any, tp: Any, unknown: str, ask: Callable[[Any, Any], Awaitable[int | None]]
) -> int | None:
    """``ask(consumer thread, aiokafka consumer)``, or None with an ``unknown`` warning when
    the broker cannot answer now (rebalancing, away)."""
    thread: Any = app.consumer._thread
    try:
        return await ask(thread, thread._ensure_consumer())
    except Exception as exc:
        log.warning(unknown, topic=tp.topic, partition=tp.partition, error=type(exc).__name__)
        return None


def withhold_ack(consumer: Any, message: Any) -> None:
    """The agent skipped ``message`` without processing it (held behind a hole, to be read
    again): faust must not count it as done. faust acks every event an agent moves past,
    and once the hole before a held run was filled its commit jumped the whole run, still
    unprocessed: a kill before the run was read again lost it (fault suite, seed 3: jail
    events 2918-3552 of one partition, committed at 3553, never processed). Marked acked,
    faust's own ack is a no-op and the offset never reaches the commit."""
    message.acked = True
    consumer._unacked_messages.discard(message)


def set_current_event(event: Any) -> None:
    """Make ``event`` faust's current event in the calling task only: faust's tables write to
    its partition (changelog, RocksDB database). Not ``Stream._set_current_event``, which also
    sets the stream's attribute that ``take_events`` reads to pair the next buffered value with
    its event (a message per batch went missing that way)."""
    faust_streams._current_event.set(weakref.ref(event))
