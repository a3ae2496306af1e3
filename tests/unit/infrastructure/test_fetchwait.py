import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.kafka.client.tansu_quirks import FetchWait


def test_it_starts_at_the_floor() -> None:
    assert FetchWait(50, 2000).current_ms == 50


def test_an_empty_answer_for_a_partition_behind_doubles_the_wait_up_to_the_ceiling() -> None:
    wait = FetchWait(50, 2000)
    assert [wait.after_fetch(behind=3, starved=1) for _ in range(7)] == [
        100,
        200,
        400,
        800,
        1600,
        2000,
        2000,
    ]


def test_a_served_fetch_keeps_the_wait_that_worked() -> None:
    wait = FetchWait(50, 2000)
    wait.after_fetch(behind=8, starved=8)
    wait.after_fetch(behind=8, starved=8)
    assert wait.after_fetch(behind=8, starved=0) == 200
    assert wait.after_fetch(behind=2, starved=0) == 200


def test_caught_up_it_halves_back_to_the_floor() -> None:
    wait = FetchWait(50, 2000)
    for _ in range(6):
        wait.after_fetch(behind=1, starved=1)
    assert wait.current_ms == 2000
    assert [wait.after_fetch(behind=0, starved=0) for _ in range(7)] == [
        1000,
        500,
        250,
        125,
        62,
        50,
        50,
    ]


def test_a_reader_that_is_always_served_never_waits_longer() -> None:
    wait = FetchWait(50, 2000)
    assert {wait.after_fetch(behind=4, starved=0) for _ in range(20)} == {50}


@pytest.mark.parametrize(("floor", "ceiling"), [(0, 100), (-1, 100), (200, 100)])
def test_a_floor_above_the_ceiling_or_not_positive_is_refused(floor: int, ceiling: int) -> None:
    with pytest.raises(ValueError, match="floor"):
        FetchWait(floor, ceiling)


@given(
    st.lists(st.tuples(st.integers(0, 24), st.integers(0, 24)), max_size=200),
    st.integers(1, 500),
    st.integers(0, 5000),
)
def test_the_wait_stays_between_floor_and_ceiling(
    fetches: list[tuple[int, int]], floor: int, extra: int
) -> None:
    wait = FetchWait(floor, floor + extra)
    for behind, starved in fetches:
        starved = min(starved, behind)
        assert floor <= wait.after_fetch(behind, starved) <= floor + extra
