"""A jail's roster turned into events by comparing it with the last (#45): pure rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.jail_booking import JAIL_EVENT, Facility
from services.intake import roster, roster_changes
from services.intake.roster import Mapping
from services.intake.roster_changes import Applied, Held, Snapshot

NOW = datetime(2027, 3, 2, 12, tzinfo=UTC)
MAPPING = Mapping(
    jurisdiction="us-mn-hennepin",
    facility=Facility(id="hcj", name="Hennepin County Jail", timezone="America/Chicago"),
    columns={
        "booking_id": "Booking #",
        "first_name": "First",
        "last_name": "Last",
        "date_of_birth": "DOB",
        "booked_at": "Booked",
        "release_at": "Release",
        "person_id": "SID",
    },
    date_format="%m/%d/%Y",
    datetime_format="%m/%d/%Y %H:%M",
)
HEADER = "Booking #,Last,First,DOB,SID,Booked,Release,Housing\n"


def row(booking: str, release: str = "", sid: str = "", last: str = "Doe") -> str:
    return f"{booking},{last},Jo,05/17/1990,{sid},03/01/2027 22:14,{release},4B\n"


def text(*rows: str) -> str:
    return HEADER + "".join(rows)


EMPTY = Snapshot()


def apply(rows: tuple[str, ...], last: Snapshot = EMPTY, accept: bool = False) -> Applied | Held:
    body = text(*rows)
    return roster_changes.compare(
        roster.read(body, MAPPING), last, MAPPING, NOW, roster_changes.digest(body), accept
    )


def applied(rows: tuple[str, ...], last: Snapshot = EMPTY) -> Applied:
    result = apply(rows, last)
    assert isinstance(result, Applied), result
    for event in result.events:
        JAIL_EVENT.validate_python(event)  # each one a valid SPEC 3.1 event
    return result


def kinds(result: Applied) -> list[tuple[str, str]]:
    return [(e["booking_id"], e["type"]) for e in result.events]


def test_the_first_roster_opens_everyone_and_schedules_the_dates() -> None:
    first = applied((row("B1", "03/04/2027 09:00", sid="MN-1"), row("B2")))
    assert kinds(first) == [
        ("B1", "booking.opened"),
        ("B1", "release.scheduled"),
        ("B2", "booking.opened"),
    ]
    opened = first.events[0]
    assert opened["data"]["person"] == {
        "person_id": "MN-1",
        "first_name": "Jo",
        "last_name": "Doe",
        "date_of_birth": "1990-05-17",
    }
    assert opened["data"]["booked_at"] == "2027-03-01T22:14:00"  # local, no offset (SPEC 3.1)
    assert opened["occurred_at"] == "2027-03-02T04:14:00+00:00"
    assert first.events[1]["data"] == {"release_at": "2027-03-04T09:00:00", "basis": "other"}
    assert first.events[2]["data"]["person"]["person_id"] == "booking:B2"
    assert first.snapshot.bookings == {
        "B1": roster_changes.Listed("2027-03-04T09:00:00", 1),
        "B2": roster_changes.Listed(None, 0),
    }


def test_only_changes_are_events_set_moved_cleared_and_gone() -> None:
    last = applied((row("B1", "03/04/2027 09:00"), row("B2"), row("B3"), row("B4"))).snapshot
    same = applied((row("B1", "03/04/2027 09:00"), row("B2"), row("B3"), row("B4")), last)
    assert same.events == ()
    changed = applied(
        (row("B1", "03/05/2027 09:00"), row("B2", "03/06/2027 10:00"), row("B3"), row("B5")), last
    )
    assert kinds(changed) == [
        ("B1", "release.scheduled"),  # moved
        ("B2", "release.scheduled"),  # set
        ("B5", "booking.opened"),  # new
        ("B4", "inmate.released"),  # gone: inferred
    ]
    released = changed.events[-1]["data"]
    assert released == {"released_at": NOW.isoformat(), "release_type": "other", "inferred": True}
    assert changed.inferred_releases == 1
    cleared = applied(
        (row("B1"), row("B2", "03/06/2027 10:00"), row("B3"), row("B5")), changed.snapshot
    )
    assert kinds(cleared) == [("B1", "release.unscheduled")]


def test_a_date_moved_back_is_a_new_event_not_a_repeat() -> None:
    first = applied((row("B1", "03/04/2027 09:00"),))
    moved = applied((row("B1", "03/05/2027 09:00"),), first.snapshot)
    back = applied((row("B1", "03/04/2027 09:00"),), moved.snapshot)
    ids = [e["event_id"] for result in (first, moved, back) for e in result.events]
    assert len(ids) == len(set(ids)) == 4


def test_the_same_roster_compared_again_after_a_crash_gives_the_same_ids() -> None:
    last = applied((row("B1"), row("B2"), row("B3"), row("B4"))).snapshot
    rows = (row("B1", "03/05/2027 09:00"), row("B2"), row("B3"), row("B5"))
    assert applied(rows, last).events == applied(rows, last).events


def test_a_roster_that_shrinks_past_the_guard_is_held_and_the_snapshot_stays() -> None:
    last = applied(tuple(row(f"B{n}") for n in range(10))).snapshot
    four_gone = apply(tuple(row(f"B{n}") for n in range(6)), last)
    assert isinstance(four_gone, Held)
    assert (four_gone.listed, four_gone.last_listed) == (6, 10)
    assert "40% gone" in four_gone.reason and "30%" in four_gone.reason
    three_gone = applied(tuple(row(f"B{n}") for n in range(7)), last)  # at the guard: applied
    assert three_gone.inferred_releases == 3
    accepted = apply(tuple(row(f"B{n}") for n in range(6)), last, accept=True)
    assert isinstance(accepted, Applied) and accepted.inferred_releases == 4
    empty = apply((), last)
    assert isinstance(empty, Held)  # an empty roster is the classic broken export
    small = applied((row("B1"), row("B2"), row("B3"))).snapshot
    assert isinstance(apply((row("B1"),), small), Applied)  # two of three: under the minimum
    assert isinstance(apply((), small), Held)


def test_a_malformed_row_is_named_by_line_and_the_rest_still_counts() -> None:
    body = text(
        row("B1"), row("B2").replace("05/17/1990", "17.05.1990"), row("B3", "tomorrow"), row("B4")
    )
    reading = roster.read(body, MAPPING)
    assert sorted(reading.rows) == ["B1", "B4"]
    assert [(p.line, p.booking_id) for p in reading.problems] == [(3, "B2"), (4, "B3")]
    assert "'DOB': '17.05.1990' is not a date (%m/%d/%Y)" in reading.problems[0].message
    assert "'Release': 'tomorrow' is not a date-time" in reading.problems[1].message
    assert reading.problems[0].text.startswith("B2,Doe,Jo,17.05.1990")


def test_a_malformed_row_of_a_listed_booking_is_not_taken_for_a_release() -> None:
    last = applied((row("B1"), row("B2"), row("B3"), row("B4"))).snapshot
    result = applied(
        (row("B1"), row("B2").replace("05/17/1990", "never"), row("B3"), row("B4")), last
    )
    assert result.events == () and set(result.snapshot.bookings) == {"B1", "B2", "B3", "B4"}


def test_a_row_without_a_booking_number_stops_every_inference_that_round() -> None:
    last = applied((row("B1"), row("B2"), row("B3"), row("B4"))).snapshot
    result = applied((row("B1"), row(""), row("B3"), row("B4", "03/05/2027 09:00")), last)
    assert kinds(result) == [("B4", "release.scheduled")]  # B2 not inferred released
    assert "B2" in result.snapshot.bookings


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("Name,DOB\nx,y\n", "no column 'Booking #' in the header"),
        (text(row("B1"), row("B1")), "booking listed twice"),
        (text(row("B1", "03/14/2027 02:30")), "does not exist in America/Chicago"),  # DST gap
        (text(row("B1").replace(",Doe,", ",,")), "'Last' is empty"),
    ],
)
def test_each_problem_says_what(body: str, says: str) -> None:
    problems = roster.read(body, MAPPING).problems
    assert any(says in p.message for p in problems), problems


def test_a_booking_listed_again_after_an_inferred_release_is_reported_not_reopened() -> None:
    last = applied((row("B1"), row("B2"), row("B3"), row("B4"))).snapshot
    gone = applied((row("B1"), row("B2"), row("B3")), last)
    assert kinds(gone) == [("B4", "inmate.released")]
    back = applied((row("B1"), row("B2"), row("B3"), row("B4", "03/05/2027 09:00")), gone.snapshot)
    assert back.events == () and back.reappeared == ("B4",)
    assert back.snapshot.released == {"B4"}


def test_the_snapshot_survives_json() -> None:
    first = applied((row("B1", "03/04/2027 09:00"), row("B2"), row("B3"))).snapshot
    snapshot = applied((row("B1", "03/04/2027 09:00"), row("B2")), first).snapshot
    assert snapshot.released == {"B3"}
    assert Snapshot.from_json(snapshot.to_json()) == snapshot
    assert roster_changes.unchanged(snapshot, text(row("B1", "03/04/2027 09:00"), row("B2")))


BOOKINGS = st.dictionaries(
    st.sampled_from([f"B{n}" for n in range(12)]),
    st.sampled_from(["", "03/04/2027 09:00", "03/05/2027 18:30", "04/01/2027 00:00"]),
)


@given(st.lists(BOOKINGS, min_size=1, max_size=6))
def test_replaying_the_events_gives_the_rosters_own_dates(rosters: list[dict[str, str]]) -> None:
    """Across any sequence of rosters (accepted), what the events say is each roster's state."""
    snapshot = Snapshot()
    state: dict[str, str | None] = {}
    seen: set[str] = set()
    for listing in rosters:
        result = apply(tuple(row(b, r) for b, r in sorted(listing.items())), snapshot, accept=True)
        assert isinstance(result, Applied)
        for event in result.events:
            assert event["event_id"] not in seen  # never a repeat of an earlier change
            seen.add(event["event_id"])
            booking = event["booking_id"]
            if event["type"] == "booking.opened":
                state[booking] = None
            elif event["type"] == "release.scheduled":
                state[booking] = event["data"]["release_at"]
            elif event["type"] == "release.unscheduled":
                state[booking] = None
            elif event["type"] == "inmate.released":
                del state[booking]
        assert set(result.reappeared) == set(listing) & snapshot.released
        snapshot = result.snapshot
        expected = {
            b: (datetime.strptime(r, "%m/%d/%Y %H:%M").isoformat() if r else None)
            for b, r in listing.items()
            if b not in snapshot.released  # released once: closed, whatever the roster says
        }
        assert state == expected
