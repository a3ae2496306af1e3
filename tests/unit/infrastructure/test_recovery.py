"""An at-least-once worker's table recovery on changelogs that end with transaction markers:
a partition standing still short of its highwater is recovered when the broker says that only
markers are left, and left to faust otherwise."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from aiokafka import TopicPartition

from services.streams import recovery as watch
from services.streams.recovery import standing_still

A = TopicPartition("releasewatch-booking-bookings-changelog", 0)
B = TopicPartition("releasewatch-booking-bookings-changelog", 1)


@pytest.mark.parametrize(
    ("highwater", "offset", "last_look", "still"),
    [
        (10, 9, 9, True),  # one marker left, unchanged since the last look
        (10, 4, 4, True),
        (10, -1, -1, True),  # nothing recovered yet, and not moving
        (10, 9, 8, False),  # moved since the last look
        (10, 10, 10, False),  # at its highwater: recovered
        (-1, -1, -1, False),  # an empty changelog
        (None, 9, 9, False),  # no highwater known
        (10, None, None, False),  # no offset known
        (10, 9, "not looked at", False),  # first look
    ],
)
def test_a_partition_stands_still_short_of_its_highwater(
    highwater: int | None, offset: int | None, last_look: Any, still: bool
) -> None:
    looked = {} if last_look == "not looked at" else {A: last_look}
    assert standing_still({A: highwater}, {A: offset}, looked) == ([A] if still else [])


def test_only_the_partitions_standing_still_are_named() -> None:
    highwaters = {A: 20, B: 20}
    assert standing_still(highwaters, {A: 12, B: 15}, {A: 12, B: 14}) == [A]


class Probe:
    """Stands in for the broker's answer: which holes hold a record."""

    made: list[Probe] = []
    holding: set[tuple[str, int, int, int]] = set()  # the holes with a record in them

    def __init__(self, client: dict[str, Any], isolation_level: str = "read_committed") -> None:
        self.isolation_level = isolation_level
        self.asked: list[tuple[str, int, int, int]] = []
        self.closed = False
        self.fails = False
        self.on_ask: Callable[[], None] = lambda: None
        Probe.made.append(self)

    async def holds_records(self, topic: str, partition: int, start: int, end: int) -> bool:
        self.asked.append((topic, partition, start, end))
        self.on_ask()
        if self.fails:
            raise ConnectionError("broker away")
        return (topic, partition, start, end) in Probe.holding

    async def close(self) -> None:
        self.closed = True


class Lines:
    """The watch's log lines, by event."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))

    warning = info

    def events(self, name: str) -> list[dict[str, Any]]:
        return [fields for event, fields in self.lines if event == name]


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> Lines:
    lines = Lines()
    monkeypatch.setattr(watch, "log", lines)
    return lines


class App:
    def __init__(self) -> None:
        self.in_transaction = False
        self.should_stop = False
        recovery = faust.App("test-recovery").tables.recovery  # faust's own, not running
        recovery.in_recovery = True
        self.tables = SimpleNamespace(recovery=recovery)
        self.assigned: list[Callable[..., Awaitable[None]]] = []
        self.on_partitions_assigned = SimpleNamespace(connect=self.assigned.append)
        self.futures: list[Any] = []

    def add_future(self, coro: Any) -> Any:
        self.futures.append(coro)
        coro.close()  # not run here: the tests look themselves
        return coro


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> App:
    monkeypatch.setattr(watch, "HoleProbe", Probe)
    Probe.made, Probe.holding = [], set()
    app = App()
    app.watch = watch.watch_recovery(app, {"bootstrap_servers": "127.0.0.1:9"}, "read_uncommitted")  # type: ignore[attr-defined]
    return app


async def look(app: App) -> None:
    await app.watch.look()  # type: ignore[attr-defined]


async def test_the_looks_start_at_the_first_assignment_once() -> None:
    app = App()
    watch.watch_recovery(app, {}, "read_committed")
    [started] = app.assigned
    assert app.futures == []  # faust's timers would start only after the first recovery
    await started(app, set())  # as faust sends it
    await started(app, set())  # as faust sends it
    assert len(app.futures) == 1


def recovering(app: App, highwater: int, offset: int) -> Any:
    recovery = app.tables.recovery
    recovery.active_highwaters[A] = highwater
    recovery.active_offsets[A] = offset
    return recovery


async def test_markers_only_after_a_still_partition_end_its_recovery(app: App, log: Lines) -> None:
    recovery = recovering(app, highwater=46, offset=45)
    await look(app)  # first look: remembered, nobody asked
    assert Probe.made == []
    await look(app)
    [probe] = Probe.made
    assert probe.isolation_level == "read_uncommitted"  # as faust's recovery reads
    assert probe.asked == [(A.topic, 0, 46, 47)]  # the offsets after the last recovered one
    assert recovery.active_offsets[A] == 46
    [line] = log.events("recovery_past_markers")
    assert line["recovered_to"] == 45 and line["markers"] == 1 and line["partition"] == 0


async def test_the_recovery_ends_at_once_when_the_last_partition_is_past_markers(
    app: App, log: Lines
) -> None:
    recovery = recovering(app, highwater=46, offset=45)
    recovery.active_highwaters[B], recovery.active_offsets[B] = 30, 20  # still being read
    await look(app)
    recovery.active_offsets[B] = 25
    await look(app)
    assert recovery.active_offsets[A] == 46
    assert recovery.in_recovery and not recovery.signal_recovery_end.is_set()  # B is left
    assert [line["recovery_over"] for line in log.events("recovery_past_markers")] == [False]
    recovery.active_offsets[B] = 30  # faust read B to its end; its loop has not looked yet
    recovery.active_highwaters[A], recovery.active_offsets[A] = 50, 48  # a new marker on A
    Probe.holding.clear()
    await look(app)
    await look(app)
    assert [line["recovery_over"] for line in log.events("recovery_past_markers")] == [
        False,
        True,
    ]
    assert not recovery.in_recovery and recovery.signal_recovery_end.is_set()
    assert not recovery.app.in_recovery  # faust's own end: the worker is ready again


async def test_a_record_left_to_read_is_waited_for(app: App, log: Lines) -> None:
    recovery = recovering(app, highwater=46, offset=40)
    Probe.holding.add((A.topic, 0, 41, 47))
    for _ in range(3):
        await look(app)
    assert len(Probe.made[0].asked) == 2
    assert recovery.active_offsets[A] == 40
    assert log.events("recovery_past_markers") == []


async def test_a_partition_that_moves_is_not_asked_about(app: App) -> None:
    recovery = recovering(app, highwater=46, offset=10)
    for offset in (10, 20, 30, 45):
        recovery.active_offsets[A] = offset
        await look(app)
    assert Probe.made == []


async def test_a_partition_that_moves_while_the_broker_is_asked_is_left(app: App) -> None:
    recovery = recovering(app, highwater=46, offset=44)
    await look(app)

    def moved() -> None:
        recovery.active_offsets[A] = 45

    original = Probe.__init__

    def made(self: Probe, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.on_ask = moved

    Probe.__init__ = made  # type: ignore[method-assign]
    try:
        await look(app)
    finally:
        Probe.__init__ = original  # type: ignore[method-assign]
    assert recovery.active_offsets[A] == 45


async def test_the_probe_reads_as_the_workers_consumer_does(app: App) -> None:
    exactly_once = App()
    exactly_once.watch = watch.watch_recovery(exactly_once, {}, "read_committed")  # type: ignore[attr-defined]
    recovering(exactly_once, highwater=46, offset=45)
    await look(exactly_once)
    await look(exactly_once)
    [probe] = Probe.made
    assert probe.isolation_level == "read_committed"  # aborted records are skipped too


async def test_the_probe_is_closed_when_recovery_ends(app: App) -> None:
    recovery = recovering(app, highwater=46, offset=40)
    await look(app)
    await look(app)
    [probe] = Probe.made
    recovery.in_recovery = False
    await look(app)
    assert probe.closed
    recovery.in_recovery = True  # the next rebalance: a new probe, a fresh first look
    recovery.active_offsets[A] = 40
    await look(app)
    assert len(Probe.made) == 1
    await look(app)
    assert len(Probe.made) == 2


async def test_a_failed_look_is_logged_and_tried_again(app: App, log: Lines) -> None:
    recovery = recovering(app, highwater=46, offset=45)
    await look(app)
    original = Probe.holds_records

    async def away(self: Probe, *args: Any) -> bool:
        raise ConnectionError("broker away")

    Probe.holds_records = away  # type: ignore[method-assign]
    try:
        await look(app)  # does not raise: a faust timer's exception stops the worker
    finally:
        Probe.holds_records = original  # type: ignore[method-assign]
    assert [line["error"] for line in log.events("recovery_watch_failed")] == ["ConnectionError"]
    assert recovery.active_offsets[A] == 45
    await look(app)
    assert recovery.active_offsets[A] == 46


async def test_a_probe_that_fails_to_close_is_logged_not_raised(app: App, log: Lines) -> None:
    recovery = recovering(app, highwater=46, offset=40)
    await look(app)
    await look(app)
    [probe] = Probe.made

    async def broken_close() -> None:
        raise ConnectionError("broker away")

    probe.close = broken_close  # type: ignore[method-assign]
    recovery.in_recovery = False
    await look(app)  # does not raise: it would stop the worker
    assert [line["error"] for line in log.events("recovery_watch_failed")] == ["ConnectionError"]
