"""The per-agency attempt rate: a burst at once, then one slot per interval."""

from __future__ import annotations

import pytest

from services.delivery.rate import Bucket


def test_a_burst_goes_at_once_then_one_per_interval() -> None:
    bucket = Bucket(per_minute=600)  # 10/s, a burst of 10
    waits = [bucket.reserve(100.0) for _ in range(13)]
    assert waits[:10] == [0.0] * 10
    assert waits[10:] == pytest.approx([0.1, 0.2, 0.3])


def test_a_quiet_spell_refills_the_burst_but_no_more() -> None:
    bucket = Bucket(per_minute=60, burst=3)
    assert [bucket.reserve(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve(0.0) == pytest.approx(1.0)
    assert [bucket.reserve(1000.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve(1000.0) == pytest.approx(1.0)


@pytest.mark.parametrize("per_minute", [1, 7, 60, 600, 6000])
def test_over_a_minute_no_more_than_the_rate_plus_the_burst(per_minute: int) -> None:
    bucket = Bucket(per_minute=per_minute)
    burst = max(1, per_minute // 60)
    starts = [bucket.reserve(0.0) for _ in range(per_minute + burst + 5)]
    assert sum(1 for s in starts if s < 60.0) <= per_minute + burst
