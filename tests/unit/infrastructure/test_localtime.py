from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.core.localtime import NonexistentLocalTime, to_local, to_utc


@pytest.mark.parametrize(
    ("local", "zone", "expected_utc"),
    [
        # Plain winter and summer times.
        ("2027-01-15T09:00", "America/Chicago", "2027-01-15T15:00"),
        ("2027-07-15T09:00", "America/Chicago", "2027-07-15T14:00"),
        ("2027-07-15T09:00", "America/Los_Angeles", "2027-07-15T16:00"),
        ("2027-07-15T09:00", "America/Phoenix", "2027-07-15T16:00"),  # no DST in Arizona
        ("2027-01-15T09:00", "Pacific/Honolulu", "2027-01-15T19:00"),
        # Fall back (2027-11-07 02:00 CDT -> 01:00 CST): 01:30 happens twice; take the earlier.
        ("2027-11-07T01:30", "America/Chicago", "2027-11-07T06:30"),
        ("2027-11-07T01:00", "America/Chicago", "2027-11-07T06:00"),
        ("2027-11-07T01:59", "America/New_York", "2027-11-07T05:59"),
        # Just outside the fall-back overlap.
        ("2027-11-07T00:59", "America/Chicago", "2027-11-07T05:59"),
        ("2027-11-07T02:00", "America/Chicago", "2027-11-07T08:00"),
        # Around the spring-forward gap (2027-03-14 02:00 CST -> 03:00 CDT).
        ("2027-03-14T01:59", "America/Chicago", "2027-03-14T07:59"),
        ("2027-03-14T03:00", "America/Chicago", "2027-03-14T08:00"),
    ],
)
def test_local_times_become_utc(local: str, zone: str, expected_utc: str) -> None:
    result = to_utc(datetime.fromisoformat(local), zone)
    assert result == datetime.fromisoformat(expected_utc).replace(tzinfo=UTC)
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("local", "zone"),
    [
        ("2027-03-14T02:00", "America/Chicago"),
        ("2027-03-14T02:30", "America/Chicago"),
        ("2027-03-14T02:59", "America/New_York"),
        ("2027-03-28T02:30", "Europe/Berlin"),
    ],
)
def test_a_time_in_the_spring_forward_gap_does_not_exist(local: str, zone: str) -> None:
    with pytest.raises(NonexistentLocalTime, match="does not exist"):
        to_utc(datetime.fromisoformat(local), zone)


def test_an_aware_time_keeps_its_instant() -> None:
    aware = datetime(2027, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-6)))
    assert to_utc(aware, "Asia/Tokyo") == datetime(2027, 3, 1, 15, 30, tzinfo=UTC)


def test_to_local_carries_the_facility_offset() -> None:
    local = to_local(datetime(2027, 7, 15, 14, 0, tzinfo=UTC), "America/Chicago")
    assert local.isoformat() == "2027-07-15T09:00:00-05:00"


def test_to_local_refuses_naive_times() -> None:
    with pytest.raises(ValueError):
        to_local(datetime(2027, 7, 15, 14, 0), "America/Chicago")


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1)))
def test_every_existing_local_time_round_trips(local: datetime) -> None:
    zone = "America/Chicago"
    try:
        instant = to_utc(local, zone)
    except NonexistentLocalTime:
        return
    assert to_local(instant, zone).replace(tzinfo=None) == local
    # Never later than either reading of the same wall-clock time: more notice, never less.
    for fold in (0, 1):
        assert instant <= local.replace(tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)
