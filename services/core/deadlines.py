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

import heapq
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any


class DeadlineIndex:
    def __init__(self, resend_after: float = 5.0) -> None:
        self.resend_after = resend_after
        self._heap: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}
        self._in_flight: dict[str, tuple[float, float]] = {}  # key -> (due, handed out at)
        self._published: dict[str, tuple[str, ...]] = {}  # in flight: ids the timer sent
        self._publishing: set[str] = set()  # handed out, the timer still sending
        # Keys whose due time is a retirement (a closed booking's record shrinking to a stub,
        # or the stub going), not a deadline owed to anyone: timed alike, counted apart.
        self._retiring: set[str] = set()
        self.generation: int | None = None

    def __len__(self) -> int:
        """Armed deadlines (including those in flight), retirements not counted."""
        return len(self._due) - len(self._retiring)

    @property
    def retiring(self) -> int:
        """Bookings waiting to be retired or forgotten."""
        return len(self._retiring)

    def due_of(self, key: str) -> datetime | None:
        stamp = self._due.get(key)
        return _instant(stamp) if stamp is not None else None

    def set(self, key: str, due: datetime | None, retiring: bool = False) -> None:
        """The booking's earliest armed deadline is now ``due`` (None: nothing armed);
        ``retiring``: the time is the booking's retirement, not a deadline."""
        self._in_flight.pop(key, None)
        self._published.pop(key, None)
        if retiring and due is not None:
            self._retiring.add(key)
        else:
            self._retiring.discard(key)
        if due is None:
            self._due.pop(key, None)
            return
        stamp = due.timestamp()
        if self._due.get(key) == stamp:
            return
        self._due[key] = stamp
        heapq.heappush(self._heap, (stamp, key))

    def rebuild(
        self, entries: Iterable[tuple[str, datetime | None, bool]], generation: int
    ) -> None:
        """From (key, due, retiring) of every stored record."""
        entries = [entry for entry in entries if entry[1] is not None]
        self._due = {key: due.timestamp() for key, due, _ in entries if due is not None}
        self._retiring = {key for key, _, retiring in entries if retiring}
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
                self._hand_out(key, self._in_flight[key][0], stamp_now)

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
            self._hand_out(key, stamp, stamp_now)
            taken.append((key, _instant(stamp)))
        # In flight in the order handed out (or last sent): only the oldest can be owed a
        # resend, so a burst of 10,000 in flight is not walked through at every scan.
        again = []
        for key, (stamp, handed_at) in self._in_flight.items():
            if stamp_now - handed_at < self.resend_after:
                break
            if key not in self._publishing and self._due.get(key) == stamp:
                again.append((key, stamp))
        for key, stamp in again:
            self._hand_out(key, stamp, stamp_now)
            taken.append((key, _instant(stamp)))
        return taken

    def _hand_out(self, key: str, stamp: float, at: float) -> None:
        """In flight from ``at``: moved to the end, which keeps them in the order of ``at``."""
        self._in_flight.pop(key, None)
        self._in_flight[key] = (stamp, at)

    def oldest_overdue(self, now: datetime) -> float:
        """Seconds since the oldest deadline that is due but not yet checked (0 if none);
        retirements count too (a timer behind on them is behind)."""
        stamp_now = now.timestamp()
        overdue = [stamp for stamp in self._due.values() if stamp <= stamp_now]
        return stamp_now - min(overdue) if overdue else 0.0


def _instant(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


def armed_in(items: Iterable[tuple[str, Any]]) -> list[tuple[str, datetime | None, bool]]:
    """(key, due, retiring) from a table's stored records (JSON dicts with a ``next_due``, and
    a ``retire_at`` when nothing is due before the booking's retirement)."""
    armed: list[tuple[str, datetime | None, bool]] = []
    for key, value in items:
        armed.append((key, *due_of_stored(value)))
    return armed


def due_of_stored(value: Any) -> tuple[datetime | None, bool]:
    """A stored record's next time and whether it is a retirement."""
    if not isinstance(value, dict):
        return None, False
    due, retire = value.get("next_due"), value.get("retire_at")
    if due:
        return datetime.fromisoformat(due), False
    if retire:
        return datetime.fromisoformat(retire), True
    return None, False


_NEXT_DUE = b'"next_due":'
_RETIRE_AT = b'"retire_at":'


class _Unreadable(Exception):
    pass


def due_of_raw(value: bytes) -> tuple[datetime | None, bool] | None:
    """``due_of_stored`` from a record's stored JSON (faust's compact ``"name":value``),
    without decoding the record: a restart reads every record of its partitions, most with
    nothing armed, and decoding each took 37 s of a 43.5 s restart at 700,000 bookings
    (bench.national). None when the bytes do not say plainly (the caller decodes then)."""
    try:
        due = _stamp_after(value, _NEXT_DUE)
        if due is not None:
            return due, False
        retire = _stamp_after(value, _RETIRE_AT)
    except _Unreadable:
        return None
    return (retire, True) if retire is not None else (None, False)


def _stamp_after(value: bytes, name: bytes) -> datetime | None:
    """The time stored under the first ``name``: None if absent or null."""
    at = value.find(name)
    if at < 0:
        return None
    start = at + len(name)
    if value.startswith(b"null", start):
        return None
    end = value.find(b'"', start + 1)
    if not value.startswith(b'"', start) or end < 0:
        raise _Unreadable
    try:
        return datetime.fromisoformat(value[start + 1 : end].decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        raise _Unreadable from None
