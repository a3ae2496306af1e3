import gc

import pytest

from services.ops import gcwatch
from services.ops.gcwatch import GcPauses


def test_each_collection_is_noted_with_its_generation_and_duration() -> None:
    times = iter([10.0, 10.25, 20.0, 20.001])
    pauses = GcPauses(clock=lambda: next(times))
    pauses("start", {"generation": 2})
    pauses("stop", {"generation": 2, "collected": 0})
    pauses("start", {"generation": 0})
    pauses("stop", {"generation": 0, "collected": 3})
    assert pauses.drain() == [(2, pytest.approx(0.25)), (0, pytest.approx(0.001))]
    assert pauses.drain() == []  # drained once


def test_a_stop_without_its_start_is_ignored() -> None:
    pauses = GcPauses(clock=lambda: 5.0)
    pauses("stop", {"generation": 1})
    assert pauses.drain() == []


def test_only_the_latest_pauses_are_kept_between_drains() -> None:
    ticks = iter(range(100))
    pauses = GcPauses(clock=lambda: float(next(ticks)), keep=3)
    for _ in range(5):
        pauses("start", {"generation": 0})
        pauses("stop", {"generation": 0})
    assert len(pauses.drain()) == 3


def test_installed_it_times_real_collections_and_a_second_install_replaces_it() -> None:
    first = gcwatch.install()
    second = gcwatch.install()
    try:
        assert first not in gc.callbacks
        assert gc.callbacks.count(second) == 1
        gc.collect()
        assert any(generation == 2 and seconds >= 0 for generation, seconds in second.drain())
    finally:
        gc.callbacks.remove(second)


def test_survivors_of_a_full_collection_are_frozen() -> None:
    freezer = gcwatch.Freezer(unfreeze_every=3600, now=0.0)
    assert freezer.after([(0, 0.001), (1, 0.002)], now=1.0) is None
    assert freezer.after([(0, 0.001), (2, 0.6)], now=2.0) == "freeze"
    assert freezer.after([], now=3.0) is None


def test_everything_is_unfrozen_once_per_period() -> None:
    freezer = gcwatch.Freezer(unfreeze_every=3600, now=0.0)
    assert freezer.after([(2, 0.6)], now=3599.0) == "freeze"
    assert freezer.after([(2, 0.6)], now=3600.0) == "unfreeze"  # the next full one walks all
    assert freezer.after([(2, 0.9)], now=3601.0) == "freeze"
    assert freezer.after([], now=7199.0) is None
    assert freezer.after([], now=7200.0) == "unfreeze"


def test_freezing_survivors_hides_them_from_the_collector() -> None:
    kept = [{"booking": n} for n in range(1000)]
    try:
        gcwatch.freeze_survivors()
        assert gc.get_freeze_count() >= len(kept)
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
