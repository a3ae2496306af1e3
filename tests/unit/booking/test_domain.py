from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.booking_state import BookingStatus, ExplicitRelease, ProjectedRelease, UnknownRelease
from schemas.deadletter import RejectReason
from services.booking.domain import (
    Accepted,
    BookingRecord,
    Decision,
    Duplicate,
    Forget,
    Rejected,
    Resend,
    Retired,
    StaleSequence,
    apply,
    on_tick,
)
from tests import factories as f


def run(*documents: dict[str, Any]) -> tuple[BookingRecord | None, list[Decision]]:
    """Apply documents in order, each at its own position; return the record and decisions."""
    record: BookingRecord | None = None
    decisions = []
    for offset, document in enumerate(documents):
        decision = apply(record, f.typed(document), f"jail.booking.v1:0:{offset}")
        decisions.append(decision)
        if isinstance(decision, Accepted):
            record = decision.record
    return record, decisions


def accepted(*documents: dict[str, Any]) -> BookingRecord:
    record, decisions = run(*documents)
    assert all(isinstance(d, Accepted) for d in decisions), decisions
    assert record is not None
    return record


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_booking_opened_starts_the_state_in_utc() -> None:
    record = accepted(f.opened())
    state = record.state
    assert state.revision == 1
    assert state.status is BookingStatus.IN_CUSTODY
    assert state.booked_at == utc("2027-03-01T15:30:00+00:00")
    assert state.facility.timezone == "America/Chicago"
    assert state.release_plan is None


def test_the_state_message_carries_the_event_that_changed_it() -> None:
    document = f.opened()
    _, [decision] = run(document)
    assert isinstance(decision, Accepted)
    message = decision.message
    assert message.event_id == "us-mn-hennepin/2027-000123@1"
    assert message.data.cause.event_id == document["event_id"]
    assert message.data.cause.type == "booking.opened"
    assert (message.data.cause.partition, message.data.cause.offset) == (0, 0)
    assert message.key == "us-mn-hennepin/2027-000123"


def test_each_accepted_event_increments_the_revision() -> None:
    record = accepted(f.opened(), f.charges("609.52"), f.scheduled("2027-04-01T09:00:00-05:00"))
    assert record.state.revision == 3
    assert [c.statute for c in record.state.charges] == ["609.52"]


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("2027-04-01T09:00:00", "2027-04-01T14:00:00+00:00"),  # CDT
        ("2027-12-01T09:00:00", "2027-12-01T15:00:00+00:00"),  # CST
        ("2027-11-07T01:30:00", "2027-11-07T06:30:00+00:00"),  # ambiguous: the earlier instant
        ("2027-04-01T09:00:00-05:00", "2027-04-01T14:00:00+00:00"),  # explicit offset
        ("2027-04-01T14:00:00Z", "2027-04-01T14:00:00+00:00"),
    ],
)
def test_release_times_are_read_in_the_facility_timezone(local: str, expected: str) -> None:
    record = accepted(f.opened(), f.scheduled(local, basis="court_order"))
    plan = record.state.release_plan
    assert isinstance(plan, ExplicitRelease)
    assert plan.release_at == utc(expected)
    assert plan.basis == "court_order"


def test_the_same_local_time_is_another_instant_in_another_facility() -> None:
    la = {"id": "lacj", "name": "LA Men's Central Jail", "timezone": "America/Los_Angeles"}
    record = accepted(
        f.opened(jurisdiction="us-ca-los-angeles", data={"facility": la}),
        f.scheduled("2027-04-01T09:00:00", jurisdiction="us-ca-los-angeles"),
    )
    plan = record.state.release_plan
    assert isinstance(plan, ExplicitRelease)
    assert plan.release_at == utc("2027-04-01T16:00:00+00:00")


@pytest.mark.parametrize("local", ["2027-03-14T02:00:00", "2027-03-14T02:30:00"])
def test_a_release_in_the_spring_forward_gap_is_refused(local: str) -> None:
    _, decisions = run(f.opened(), f.scheduled(local))
    assert isinstance(decisions[1], Rejected)
    [error] = decisions[1].errors
    assert (error.path, error.reason) == ("data.release_at", RejectReason.NONEXISTENT_LOCAL_TIME)


def test_a_booking_time_in_the_gap_is_refused() -> None:
    _, [decision] = run(f.opened(data={"booked_at": "2027-03-14T02:15:00"}))
    assert isinstance(decision, Rejected)
    assert decision.errors[0].path == "data.booked_at"


@pytest.mark.parametrize(
    "document",
    [
        f.scheduled("2027-02-28T09:00:00"),
        f.released("2027-03-01T09:29:00-06:00"),
        f.transferred("2027-02-01T00:00:00Z"),
        f.sentence("2027-01-01", term_days=10),
    ],
    ids=["scheduled", "released", "transferred", "sentence"],
)
def test_a_release_before_the_booking_is_inconsistent(document: dict[str, Any]) -> None:
    _, decisions = run(f.opened(), document)
    assert isinstance(decisions[1], Rejected)
    assert decisions[1].errors[0].reason == RejectReason.INCONSISTENT
    assert "before the booking" in decisions[1].errors[0].message


@pytest.mark.parametrize(
    "document",
    [
        f.charges("609.52"),
        f.scheduled("2027-04-01T09:00:00"),
        f.unscheduled(),
        f.sentence("2027-03-01", 30),
        f.released("2027-04-01T09:00:00"),
        f.transferred("2027-04-01T09:00:00"),
    ],
    ids=lambda d: d["type"],
)
def test_an_event_for_a_booking_never_opened_is_refused(document: dict[str, Any]) -> None:
    _, [decision] = run(document)
    assert isinstance(decision, Rejected)
    [error] = decision.errors
    assert (error.path, error.reason) == ("booking_id", RejectReason.INCONSISTENT)
    assert "never opened" in error.message


def test_a_duplicate_event_id_is_dropped() -> None:
    first = f.opened()
    record, decisions = run(first, f.charges("1"), dict(first))
    assert isinstance(decisions[2], Duplicate)  # a publisher's duplicate: nothing re-sent
    assert record is not None
    assert record.state.revision == 2


def test_a_redelivered_message_is_told_apart_and_resends_the_current_state() -> None:
    record, _ = run(f.opened())
    assert record is not None
    again = apply(
        record, f.typed(f.opened(event_id=next(iter(record.applied)))), "jail.booking.v1:0:0"
    )
    assert isinstance(again, Resend)
    assert again.record is record
    assert again.message.data.revision == 1


@pytest.mark.parametrize(("first", "second"), [(5, 5), (5, 4), (5, 0)])
def test_a_sequence_not_above_the_last_is_stale(first: int, second: int) -> None:
    record, decisions = run(
        f.opened(sequence=first), f.scheduled("2027-04-01T09:00:00", sequence=second)
    )
    assert isinstance(decisions[1], StaleSequence)
    assert (decisions[1].sequence, decisions[1].last_sequence) == (second, first)
    assert record is not None
    assert record.state.release_plan is None


def test_events_without_a_sequence_are_applied_and_keep_the_last_one() -> None:
    record = accepted(f.opened(sequence=3), f.charges("1"), f.charges("2", sequence=4))
    assert record.state.last_sequence == 4


def test_a_later_sequence_after_an_unsequenced_event_still_counts() -> None:
    record, decisions = run(f.opened(sequence=3), f.charges("1"), f.charges("2", sequence=3))
    assert isinstance(decisions[2], StaleSequence)
    assert record is not None
    assert [c.statute for c in record.state.charges] == ["1"]


def test_the_latest_schedule_wins_whether_explicit_or_projected() -> None:
    record = accepted(
        f.opened(),
        f.sentence("2027-03-02", 30, credit_days=3),
        f.scheduled("2027-04-01T09:00:00"),
    )
    assert isinstance(record.state.release_plan, ExplicitRelease)
    record = accepted(f.opened(), f.scheduled("2027-04-01T09:00:00"), f.sentence("2027-03-02", 60))
    assert isinstance(record.state.release_plan, ProjectedRelease)
    assert record.state.release_plan.term_days == 60


def test_unscheduled_forgets_the_release_time() -> None:
    record = accepted(f.opened(), f.scheduled("2027-04-01T09:00:00"), f.unscheduled("appeal"))
    assert record.state.release_plan == UnknownRelease(reason="appeal")


def test_release_closes_the_booking() -> None:
    record = accepted(f.opened(), f.released("2027-04-01T09:05:00", release_type="bond"))
    assert record.state.status is BookingStatus.RELEASED
    assert record.state.released_at == utc("2027-04-01T14:05:00+00:00")
    assert record.state.release_type == "bond"


def test_transfer_closes_the_booking() -> None:
    record = accepted(f.opened(), f.transferred("2027-04-01T09:05:00"))
    assert record.state.status is BookingStatus.TRANSFERRED
    assert record.state.transferred_to is not None
    assert record.state.transferred_to.agency == "usms"


@pytest.mark.parametrize(
    "document",
    [f.charges("1"), f.scheduled("2027-05-01T09:00:00"), f.released("2027-05-01T09:00:00")],
    ids=lambda d: d["type"],
)
def test_events_after_release_are_refused(document: dict[str, Any]) -> None:
    _, decisions = run(f.opened(), f.released("2027-04-01T09:00:00"), document)
    assert isinstance(decisions[2], Rejected)
    assert "closed" in decisions[2].errors[0].message


def test_a_second_booking_opened_corrects_the_details() -> None:
    fixed = {"facility": {**f.FACILITY, "name": "Hennepin County Adult Detention Center"}}
    record = accepted(f.opened(), f.scheduled("2027-04-01T09:00:00"), f.opened(data=fixed))
    assert record.state.facility.name == "Hennepin County Adult Detention Center"
    assert isinstance(record.state.release_plan, ExplicitRelease)  # kept
    assert record.state.revision == 3


JAIL_DOCS = st.sampled_from(
    [
        lambda seq: f.charges("609.52", sequence=seq),
        lambda seq: f.scheduled("2027-04-01T09:00:00", sequence=seq),
        lambda seq: f.scheduled("2027-11-07T01:30:00", sequence=seq),
        lambda seq: f.unscheduled(sequence=seq),
        lambda seq: f.sentence("2027-03-02", 45, 5, sequence=seq),
        lambda seq: f.released("2027-04-02T10:00:00", sequence=seq),
    ]
)


@settings(max_examples=200)
@given(st.lists(st.tuples(JAIL_DOCS, st.none() | st.integers(0, 20), st.booleans()), max_size=15))
def test_invariants_over_random_histories(steps: list[Any]) -> None:
    record = accepted(f.opened(sequence=0))
    documents: list[dict[str, Any]] = []
    for offset, (build, sequence, repeat) in enumerate(steps, 1):
        document = dict(documents[-1]) if repeat and documents else build(sequence)
        documents.append(document)
        before = record
        decision = apply(record, f.typed(document), f"jail.booking.v1:0:{offset}")
        if isinstance(decision, Accepted):
            record = decision.record
            # Revisions go up by one; sequences never go down; ids are remembered.
            assert record.state.revision == before.state.revision + 1
            assert (record.state.last_sequence or 0) >= (before.state.last_sequence or 0)
            assert document["event_id"] in record.applied
        else:
            assert record is before
        if repeat and len(documents) > 1:
            assert not isinstance(decision, Accepted)


# ---------------------------------------------------------------------------- retirement

DAY = timedelta(days=1)
RELEASED = utc("2027-04-01T14:00:00+00:00")  # 09:00 in Minneapolis


def closed(*more: dict[str, Any]) -> BookingRecord:
    return accepted(f.opened(sequence=1), *more, f.released("2027-04-01T09:00:00", sequence=7))


def retired_stub(record: BookingRecord, at: datetime) -> BookingRecord:
    decision = on_tick(record, at, forget_after=2 * DAY)
    assert isinstance(decision, Retired)
    return decision.record


def test_an_open_booking_is_never_due_for_retirement() -> None:
    record = accepted(f.opened(), f.scheduled("2027-04-01T09:00:00"))
    assert record.retire_at is None
    assert isinstance(on_tick(record, RELEASED + 999 * DAY, forget_after=DAY), Duplicate)


@pytest.mark.parametrize(
    ("closing", "at"),
    [
        (f.released("2027-04-01T09:00:00"), RELEASED),
        (f.transferred("2027-04-01T09:00:00"), RELEASED),
    ],
    ids=["released", "transferred"],
)
def test_closing_a_booking_times_its_retirement_from_when_it_happened(
    closing: dict[str, Any], at: datetime
) -> None:
    record, decisions = run(f.opened(), closing)
    assert isinstance(decisions[1], Accepted)
    assert record is not None
    assert record.retire_at == at + 30 * DAY  # the default grace period
    shorter = apply(accepted(f.opened()), f.typed(closing), "jail.booking.v1:0:5", 3 * DAY)
    assert isinstance(shorter, Accepted)
    assert shorter.record.retire_at == at + 3 * DAY


def test_a_tick_before_the_grace_period_is_over_changes_nothing() -> None:
    record = closed()
    assert record.retire_at is not None
    early = on_tick(record, record.retire_at - timedelta(seconds=1), forget_after=DAY)
    assert isinstance(early, Duplicate)


def test_retirement_keeps_a_stub_without_personal_data() -> None:
    record = closed(f.charges("609.52", sequence=3))
    assert record.retire_at is not None and record.state is not None
    stub = retired_stub(record, record.retire_at + timedelta(hours=1))
    assert stub.state is None and stub.retired
    assert stub.stub is not None
    assert (stub.stub.revision, stub.stub.status, stub.stub.last_sequence) == (
        3,
        BookingStatus.RELEASED,
        7,
    )
    assert set(stub.applied) == set(record.applied)  # event ids only
    assert stub.retire_at == record.retire_at + timedelta(hours=1) + 2 * DAY
    assert stub.jurisdiction == "us-mn-hennepin"
    dumped = stub.model_dump_json()
    for personal in ("person", "first_name", "last_name", "date_of_birth", "charges"):
        assert personal not in dumped


def test_a_stub_drops_a_late_repeat_of_any_event_it_applied() -> None:
    opening = f.opened(sequence=1)
    record = accepted(opening, f.released("2027-04-01T09:00:00", sequence=7))
    assert record.retire_at is not None
    stub = retired_stub(record, record.retire_at)
    # the same message again (a redelivery at its position) cannot be re-sent: dropped too
    for position in ("jail.booking.v1:0:0", "jail.booking.v1:3:99"):
        assert isinstance(apply(stub, f.typed(dict(opening)), position), Duplicate)


@pytest.mark.parametrize("sequence", [7, 6, 0])
def test_a_stub_drops_an_event_with_an_old_sequence_as_stale(sequence: int) -> None:
    record = closed()
    assert record.retire_at is not None
    stub = retired_stub(record, record.retire_at)
    decision = apply(stub, f.typed(f.charges("1", sequence=sequence)), "jail.booking.v1:0:9")
    assert decision == StaleSequence(sequence=sequence, last_sequence=7)


@pytest.mark.parametrize(
    "document",
    [
        f.charges("1", sequence=8),
        f.charges("1"),
        f.released("2027-04-02T09:00:00"),
        f.opened(),
    ],
    ids=["newer", "unsequenced", "release", "reopened"],
)
def test_something_new_for_a_stub_is_refused_naming_the_retirement(
    document: dict[str, Any],
) -> None:
    record = closed()
    assert record.retire_at is not None
    decision = apply(retired_stub(record, record.retire_at), f.typed(document), "j:0:9")
    assert isinstance(decision, Rejected)
    [error] = decision.errors
    assert error.reason is RejectReason.INCONSISTENT
    assert "retired" in error.message and document["type"] in error.message


def test_the_stub_is_forgotten_after_its_time_and_not_before() -> None:
    record = closed()
    assert record.retire_at is not None
    stub = retired_stub(record, record.retire_at)
    assert stub.retire_at is not None
    assert isinstance(on_tick(stub, stub.retire_at - timedelta(seconds=1), DAY), Duplicate)
    assert isinstance(on_tick(stub, stub.retire_at, DAY), Forget)


def test_once_forgotten_an_event_is_one_for_a_booking_never_opened() -> None:
    # what the service holds after Forget: nothing (SPEC 5)
    decision = apply(None, f.typed(f.charges("1", sequence=9)), "jail.booking.v1:0:9")
    assert isinstance(decision, Rejected)
    assert "never opened" in decision.errors[0].message


def test_a_record_from_before_retirement_existed_still_reads() -> None:
    record = closed()
    assert record.state is not None
    old = {"state": record.state.model_dump(mode="json"), "applied": record.applied}
    restored = BookingRecord.model_validate(old)
    assert restored.retire_at is None and not restored.retired
    assert restored.jurisdiction == ""


def test_states_to_republish_are_the_current_messages_of_bookings_not_retired() -> None:
    from services.booking.domain import message_for, states_to_republish

    open_one = accepted(f.opened(booking_id="b-1"), f.charges("1", booking_id="b-1"))
    closed_one = accepted(
        f.opened(booking_id="b-2"), f.released("2027-04-01T09:00:00", booking_id="b-2")
    )
    assert closed_one.retire_at is not None
    stub = retired_stub(closed_one, closed_one.retire_at)
    latest = {
        f"{f.JURISDICTION}/b-1": open_one,
        f"{f.JURISDICTION}/b-2": closed_one,
        f"{f.JURISDICTION}/b-3": None,  # deleted (a tombstone)
        f"{f.JURISDICTION}/b-4": stub,
    }
    states = states_to_republish(latest)
    assert [(s.booking_id, s.data.revision) for s in states] == [("b-1", 2), ("b-2", 2)]
    assert states[0] == message_for(open_one, (f.JURISDICTION, "b-1"))
    assert states[0].event_id == f"{f.JURISDICTION}/b-1@2"  # as first sent: readers dedupe
