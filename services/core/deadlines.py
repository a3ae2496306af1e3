"""Durable deadlines, shared by every service that must act at a given time.

DeadlineIndex: which bookings have an armed deadline, earliest first, in memory.

The truth is the ``next_due`` kept in each booking's record in the changelog-backed table;
this index is rebuilt from it whenever the worker's partitions change, so a deadline moves
with its partition and survives a crash. Due bookings are handed out once and then held
"in flight" until the agent has checked them (``set`` clears that), or handed out again if
nothing came back within ``resend_after`` seconds of its tick being sent (a tick lost in a
rebalance); never while the timer is still publishing it. While in flight, the index also
remembers which outputs the timer already published for the deadline
(``note_published``), so a tick handed out again does not publish them again.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

# The timer's fast path: given the keys just fallen due, publish what is owed now and
# return, per key, the ids of the outputs the broker acknowledged.
FireEarly = Callable[[list[str]], Awaitable[dict[str, tuple[str, ...]]]]


class DeadlineIndex:
    def __init__(self, resend_after: float = 5.0) -> None:
        self.resend_after = resend_after
        self._heap: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}
        self._in_flight: dict[str, tuple[float, float]] = {}  # key -> (due, handed out at)
        self._published: dict[str, tuple[str, ...]] = {}  # in flight: ids the timer sent
        self._publishing: set[str] = set()  # handed out, the timer still sending
        self.generation: int | None = None

    def __len__(self) -> int:
        """Armed deadlines (including those in flight)."""
        return len(self._due)

    def due_of(self, key: str) -> datetime | None:
        stamp = self._due.get(key)
        return _instant(stamp) if stamp is not None else None

    def set(self, key: str, due: datetime | None) -> None:
        """The booking's earliest armed deadline is now ``due`` (None: nothing armed)."""
        self._in_flight.pop(key, None)
        self._published.pop(key, None)
        if due is None:
            self._due.pop(key, None)
            return
        stamp = due.timestamp()
        if self._due.get(key) == stamp:
            return
        self._due[key] = stamp
        heapq.heappush(self._heap, (stamp, key))

    def rebuild(self, entries: Iterable[tuple[str, datetime | None]], generation: int) -> None:
        self._due = {key: due.timestamp() for key, due in entries if due is not None}
        self._heap = [(stamp, key) for key, stamp in self._due.items()]
        heapq.heapify(self._heap)
        self._in_flight.clear()
        self._published.clear()
        self.generation = generation

    def note_published(self, key: str, ids: tuple[str, ...]) -> None:
        """The timer published ``ids`` for ``key``'s deadline in flight (ignored once the
        agent has answered: its state already records them)."""
        if key in self._in_flight:
            self._published[key] = ids

    def publishing(self, keys: Iterable[str]) -> None:
        """The timer is sending these keys' alerts and ticks: not handed out again meanwhile
        (a slow round of acknowledgements would otherwise publish them a second time)."""
        self._publishing.update(keys)

    def sent(self, keys: Iterable[str], now: datetime) -> None:
        """The timer is done with these keys (sent, or given up): ``resend_after`` counts
        from now."""
        stamp_now = now.timestamp()
        for key in keys:
            self._publishing.discard(key)
            if key in self._in_flight:
                self._in_flight[key] = (self._in_flight[key][0], stamp_now)

    def published(self, key: str) -> tuple[str, ...] | None:
        """What the timer published for ``key``'s deadline in flight (None: not tried)."""
        return self._published.get(key)

    def take_due(self, now: datetime) -> list[tuple[str, datetime]]:
        """Bookings whose deadline is at or before ``now``, each handed out once."""
        stamp_now = now.timestamp()
        taken: list[tuple[str, datetime]] = []
        heap = self._heap
        while heap and heap[0][0] <= stamp_now:
            stamp, key = heapq.heappop(heap)
            if self._due.get(key) != stamp or key in self._in_flight:
                continue  # superseded by a later set(), or already handed out
            self._in_flight[key] = (stamp, stamp_now)
            taken.append((key, _instant(stamp)))
        for key, (stamp, handed_at) in list(self._in_flight.items()):
            if key in self._publishing:
                continue
            if stamp_now - handed_at >= self.resend_after and self._due.get(key) == stamp:
                self._in_flight[key] = (stamp, stamp_now)
                taken.append((key, _instant(stamp)))
        return taken

    def oldest_overdue(self, now: datetime) -> float:
        """Seconds since the oldest deadline that is due but not yet checked (0 if none)."""
        stamp_now = now.timestamp()
        overdue = [stamp for stamp in self._due.values() if stamp <= stamp_now]
        return stamp_now - min(overdue) if overdue else 0.0


def _instant(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


def armed_in(items: Iterable[tuple[str, Any]]) -> list[tuple[str, datetime | None]]:
    """(key, next_due) from a table's stored records (JSON dicts with a ``next_due``)."""
    armed = []
    for key, value in items:
        due = value.get("next_due") if isinstance(value, dict) else None
        armed.append((key, datetime.fromisoformat(due) if due else None))
    return armed


def install_deadline_timer(
    app: Any,
    index: DeadlineIndex,
    table: Any,
    ticks: Any,
    clock: Any,
    interval: float,
    log: Any,
    fire_early: FireEarly | None = None,
) -> None:
    """The timer half of durable deadlines: after every rebalance, rebuild the index from the
    table once it has recovered; then hand each due booking to its partition's agent as a
    tick (``DeadlineTick``) on the service's own ticks topic. The agent decides from state.

    With ``fire_early``, the timer first publishes what is owed itself (acknowledged by the
    broker) and the tick names it, so the agent only records it: a burst of deadlines then
    waits for one round of acknowledgements, not for one agent step each.
    Also publishes the armed count and the deadline lag as metrics."""
    from schemas.ticks import DeadlineTick

    app.metrics.watch_deadlines(lambda: len(index), lambda: index.oldest_overdue(clock.now()))

    in_progress: set[asyncio.Task[None]] = set()

    @app.timer(interval=interval)
    async def fire_due_deadlines() -> None:
        recovered = app.tables.recovery.completed.is_set()
        if app.rebalancing or not recovered:
            return
        # Every rebalance may move partitions: rebuild from the table once it has recovered.
        generation = app.rebalancing_count * 1_000_000 + app.consumer_generation_id
        if index.generation != generation:
            started = time.perf_counter()
            index.rebuild(armed_in(table.items()), generation)
            log.info(
                "deadlines_rebuilt",
                armed=len(index),
                generation=generation,
                seconds=round(time.perf_counter() - started, 3),
            )
        now = clock.now()
        due = index.take_due(now)
        if not due:
            return
        # Published in the background: the next scan does not wait for this one's
        # acknowledgements (a burst of 10,000 deadlines in one second otherwise waits a scan
        # behind each round of them). What is in flight is not handed out again while it is
        # published nor for ``resend_after`` after, so two rounds never carry the same one.
        task = asyncio.ensure_future(publish_due(due, now))
        in_progress.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(in_progress.discard)

    async def publish_due(due: list[tuple[str, datetime]], now: datetime) -> None:
        keys = [key for key, _ in due]
        index.publishing(keys)
        try:
            if fire_early is not None:
                fresh = [key for key, _ in due if index.published(key) is None]
                for key, ids in (await fire_early(fresh)).items():
                    index.note_published(key, ids)
            await ticks.send_all(
                [
                    (
                        key.encode(),
                        DeadlineTick(
                            key=key,
                            due_at=due_at,
                            sent_at=now,
                            published=index.published(key) or (),
                        ),
                    )
                    for key, due_at in due
                ]
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # handed out again after resend_after
            log.error("deadlines_not_published", due=len(due), error=type(exc).__name__)
        finally:
            index.sent(keys, clock.now())
