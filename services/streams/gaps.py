"""GapGuard: every input partition is read without holes, whatever the client does.

faust 0.15 can hand a stream offset N+k right after a rebalance when it skipped offsets
N..N+k-1 internally (prefetched messages dropped during recovery; seen here: the opening
event of a booking skipped, its next event then refused as "never opened"). Its commit
never moves past the hole, so nothing is lost for good, but nothing re-reads the hole
until the next rebalance either. The guard notices the hole from the offsets alone, asks
for a seek back to the first missing offset, and holds later messages until it arrives:
processing stays in offset order. A hole still open after ``give_up_after`` seconds is
``overdue``: the agent asks the broker where the partition's log starts, and only offsets
retention deleted are given up (``gone_before``), with a warning. Giving up on time alone
lost messages that were there (a kill -9 during a load of 60,000 bookings: seeks back that
never delivered, and ~1,200 messages per partition taken for a hole after 30 s).
A message this worker already handled since the last reset (read again after any seek back)
is a ``Repeat``: skipped, not processed twice.

The guard also says what may be committed (``committable``): the offset after the last
message handled in order from the committed offset, holes accepted included. faust's own
rule (acks, plus the offsets it saw skipped counted as done) cannot be trusted around seeks:
after a kill -9 and the seeks back that followed, its acked list held offsets below the
commit and twice over, and its "skipped" ranges covered messages never processed
(bench.national: the commit of every booking.state partition stopped about 2,000 short of
the end, for good, though everything was processed).

A hole at the very end of a partition shows no later offset; ``stalled`` finds it from the
high watermark. A partition can also sit still because its messages wait behind other
partitions' (seen loading 200,000 bookings: a fetch of requests kept the agent busy for
minutes, booking.state partitions waited over 5 s, and every seek back threw their
fetched messages away, so they hardly moved: 26,000 of 200,000 armed after 200 s). A
partition the client has fetched past, while the agent's input buffer holds a backlog, is
given ``stall_after_busy`` seconds instead. Only then: faust drops messages it fetched
right after an assignment (the hole this watchdog exists for), and a worker that is merely
moving other partitions must still find that in ``stall_after`` (seen in a test: requests
held for 55 s after a restart, when "other partitions move" counted as busy). A partition
whose very next message the client holds, ready to hand out when its turn comes, waits
``stall_after_queued``: a seek would throw that message away and put the partition at the
back of the client's queue (seen after a kill -9 during a load of 60,000 bookings: two
booking.state partitions sought every 6 s for a minute, their next message held each time).
Pure: offsets and times in, a verdict out.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Process:
    pass


@dataclass(frozen=True)
class Hold:
    """Do not process this message yet; ``seek_to`` (if set) is where to read again;
    ``overdue``: the hole has been open ``give_up_after`` seconds, ask whether retention
    deleted it."""

    missing_from: int
    seek_to: int | None
    overdue: bool = False


@dataclass(frozen=True)
class Repeat:
    """Already handled since the last reset (read again after a seek back): skip it."""


@dataclass(frozen=True)
class AcceptHole:
    """The missing offsets did not come: process this message and go on."""

    missing_from: int


Verdict = Process | Hold | AcceptHole | Repeat


class GapGuard:
    def __init__(
        self,
        give_up_after: float = 30.0,
        reseek_every: float = 3.0,
        stall_after: float = 5.0,
        stall_after_busy: float = 60.0,
        deep_backlog: int = 1000,
        stall_after_queued: float = 120.0,
    ) -> None:
        self.give_up_after = give_up_after
        self.reseek_every = reseek_every
        self.stall_after = stall_after
        self.stall_after_busy = stall_after_busy
        self.deep_backlog = deep_backlog
        self.stall_after_queued = stall_after_queued
        self._deep_at = float("-inf")  # when the agent's buffer last held a backlog
        self._expected: dict[Hashable, int] = {}
        self._holding: dict[Hashable, tuple[int, float, float]] = {}  # from, since, last seek
        self._progress: dict[Hashable, float] = {}  # when a partition last moved (or was sought)
        # Offsets [first, next) handled in a row, without a hole between them.
        self._handled: dict[Hashable, tuple[int, int]] = {}
        # The offset after everything handled in order since the committed offset.
        self._done: dict[Hashable, int] = {}

    def reset(self) -> None:
        """Partitions were reassigned: start again from the committed offsets."""
        self._expected.clear()
        self._holding.clear()
        self._progress.clear()
        self._handled.clear()
        self._done.clear()

    def handled(self, tp: Hashable, offset: int) -> None:
        """The message at ``offset`` was processed (or dead-lettered): a later copy of it is
        a ``Repeat``. Called after the handler, so a message cut short is processed again.
        After a jump (an accepted hole) the run starts again, so a message from the hole that
        turns up late is still processed."""
        if self._done.get(tp) == offset:
            self._done[tp] = offset + 1
        first, after = self._handled.get(tp, (offset, offset))
        if offset == after:
            self._handled[tp] = (first, offset + 1)
        elif offset > after:
            self._handled[tp] = (offset, offset + 1)

    def committable(self, tp: Hashable) -> int | None:
        """The offset to commit for ``tp``: everything before it was handled (or given up as
        a hole) since the guard took the partition from its committed offset; None when
        the guard does not know the partition (not seen since the last reset, or first
        seen without a committed offset)."""
        return self._done.get(tp)

    def expects(self, tp: Hashable) -> bool:
        """The guard knows which offset of ``tp`` comes next (it has seen the partition since
        the last reset)."""
        return tp in self._expected

    def stalled(
        self,
        positions: dict[Hashable, tuple[int | None, int | None]],
        now: float,
        fetched: Mapping[Hashable, int] | None = None,
        backlog: int = 0,
        queued: Mapping[Hashable, int] | None = None,
    ) -> list[tuple[Hashable, int]]:
        """Partitions with messages waiting (high watermark above the next expected offset)
        that have not moved for ``stall_after`` seconds: a hole at the end of a partition,
        which no later message can reveal. ``positions``: tp -> (committed, high watermark);
        ``fetched``: tp -> the offset after the last message the client has fetched;
        ``backlog``: messages waiting in the agent's input buffer now. A partition whose
        next message was fetched, while the buffer held ``deep_backlog`` or more within the
        last ``stall_after`` seconds, waits ``stall_after_busy``; ``queued``: tp -> the
        offset of the next message the client holds, ready to hand out: a partition whose
        expected message is that one waits ``stall_after_queued``. Returns (tp, offset to
        seek to); each is re-armed for another wait."""
        found = []
        if backlog >= self.deep_backlog:
            self._deep_at = now
        busy = now - self._deep_at < self.stall_after
        for tp, (committed, highwater) in positions.items():
            expected = self._expected.get(tp, committed)
            if expected is None or highwater is None or highwater <= expected:
                self._progress.pop(tp, None)
                continue
            waiting_its_turn = busy and fetched is not None and fetched.get(tp, -1) > expected
            if queued is not None and queued.get(tp) == expected:
                limit = self.stall_after_queued
            elif waiting_its_turn:
                limit = self.stall_after_busy
            else:
                limit = self.stall_after
            since = self._progress.setdefault(tp, now)
            if now - since >= limit:
                self._progress[tp] = now
                found.append((tp, expected))
        return found

    def accept(self, tp: Hashable, offset: int, now: float) -> AcceptHole:
        """The hole before ``offset`` is known to hold nothing to read (under exactly_once:
        transaction markers and aborted records): go on from ``offset`` at once."""
        accepted = self.gone_before(tp, offset, now)
        self._expected[tp] = offset + 1  # and the message at ``offset`` is processed now
        return accepted

    def gone_before(self, tp: Hashable, first: int, now: float) -> AcceptHole:
        """The partition's log now starts at ``first`` (retention deleted what came before):
        the missing offsets below it are given up, and reading goes on from ``first``."""
        start = self._expected.get(tp, first)
        self._holding.pop(tp, None)
        self._expected[tp] = first
        self._progress[tp] = now
        if tp in self._done:
            self._done[tp] = max(self._done[tp], first)
        return AcceptHole(missing_from=start)

    def again(self, tp: Hashable, offset: int, now: float) -> None:
        """The message at ``offset`` was cut short (the broker refused its output) and is
        read again: hold what follows it until it has been handled."""
        self._expected[tp] = offset
        self._holding[tp] = (offset, now, now)
        self._progress[tp] = now

    def check(self, tp: Hashable, offset: int, committed: int | None, now: float) -> Verdict:
        first, after = self._handled.get(tp, (0, 0))
        if first <= offset < after:
            return Repeat()
        expected = self._expected.get(tp)
        if expected is None and committed is not None and committed >= 0:
            expected = committed
            self._done.setdefault(tp, committed)
        if expected is None or offset <= expected:
            # The first message with nothing to compare, the next one, or a repeat.
            if expected is None or offset == expected:
                self._holding.pop(tp, None)
                self._progress[tp] = now
            self._expected[tp] = max(expected or 0, offset + 1)
            return Process()
        holding = self._holding.get(tp)
        if holding is None or holding[0] != expected:
            self._holding[tp] = (expected, now, now)
            return Hold(missing_from=expected, seek_to=expected)
        start, since, last_seek = holding
        if now - since >= self.give_up_after:
            self._holding[tp] = (start, now, now)  # asked again give_up_after from now
            return Hold(missing_from=start, seek_to=start, overdue=True)
        if now - last_seek >= self.reseek_every:
            self._holding[tp] = (start, since, now)
            return Hold(missing_from=start, seek_to=start)
        return Hold(missing_from=start, seek_to=None)
