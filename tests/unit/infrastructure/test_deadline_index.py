from datetime import UTC, datetime, timedelta

import pytest

from services.core.deadlines import DeadlineIndex

T0 = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def test_due_keys_come_out_earliest_first_and_once() -> None:
    index = DeadlineIndex()
    index.set("b", T0 + 2 * S)
    index.set("a", T0 + S)
    index.set("c", T0 + 10 * S)
    assert index.take_due(T0) == []
    assert index.take_due(T0 + 3 * S) == [("a", T0 + S), ("b", T0 + 2 * S)]
    assert index.take_due(T0 + 4 * S) == []  # in flight, not handed out twice
    assert len(index) == 3


def test_a_moved_deadline_replaces_the_old_one() -> None:
    index = DeadlineIndex()
    index.set("a", T0 + S)
    index.set("a", T0 + 5 * S)
    assert index.take_due(T0 + 2 * S) == []
    assert index.take_due(T0 + 5 * S) == [("a", T0 + 5 * S)]


def test_disarming_removes_the_key() -> None:
    index = DeadlineIndex()
    index.set("a", T0 + S)
    index.set("a", None)
    assert index.take_due(T0 + 10 * S) == []
    assert len(index) == 0


def test_a_tick_with_no_answer_is_handed_out_again() -> None:
    index = DeadlineIndex(resend_after=5)
    index.set("a", T0)
    assert index.take_due(T0) == [("a", T0)]
    assert index.take_due(T0 + 4 * S) == []
    assert index.take_due(T0 + 5 * S) == [("a", T0)]


def test_nothing_is_handed_out_again_while_the_timer_still_publishes_it() -> None:
    index = DeadlineIndex(resend_after=5)
    index.set("a", T0)
    index.set("b", T0)
    assert sorted(index.take_due(T0)) == [("a", T0), ("b", T0)]
    index.publishing(["a"])  # a slow round of acknowledgements for "a"
    assert index.take_due(T0 + 30 * S) == [("b", T0)]
    index.set("b", None)  # the agent answered "b"
    index.sent(["a"], T0 + 40 * S)  # resend_after counts from when its tick went out
    assert index.take_due(T0 + 44 * S) == []
    assert index.take_due(T0 + 45 * S) == [("a", T0)]


def test_resends_follow_the_order_each_tick_went_out() -> None:
    index = DeadlineIndex(resend_after=5)
    for number, key in enumerate("abcd"):
        index.set(key, T0 + number * S)
        index.take_due(T0 + number * S)  # handed out at T0, T0+1, T0+2, T0+3
    index.sent(["a"], T0 + 3 * S)  # its tick went out last: counts from then
    index.publishing(["b"])  # still publishing: not handed out, does not hold up the rest
    assert index.take_due(T0 + 6 * S) == []
    assert index.take_due(T0 + 7 * S) == [("c", T0 + 2 * S)]
    assert index.take_due(T0 + 8 * S) == [("d", T0 + 3 * S), ("a", T0)]
    index.sent(["b"], T0 + 8 * S)
    assert index.take_due(T0 + 11 * S) == []
    assert index.take_due(T0 + 12 * S) == [("c", T0 + 2 * S)]  # 5 s after its resend
    assert index.take_due(T0 + 13 * S) == [("d", T0 + 3 * S), ("a", T0), ("b", T0 + S)]


def test_ten_thousand_in_flight_are_not_resent_before_their_time() -> None:
    index = DeadlineIndex(resend_after=5)
    keys = [f"k{n}" for n in range(10_000)]
    for key in keys:
        index.set(key, T0)
    assert len(index.take_due(T0)) == 10_000
    assert index.take_due(T0 + 4 * S) == []
    index.set("k0", None)  # answered
    assert sorted(key for key, _ in index.take_due(T0 + 5 * S)) == sorted(keys[1:])


def test_a_deadline_answered_while_publishing_is_not_handed_out_again() -> None:
    index = DeadlineIndex(resend_after=5)
    index.set("a", T0)
    index.take_due(T0)
    index.publishing(["a"])
    index.set("a", None)  # the agent recorded it before the timer's round ended
    index.sent(["a"], T0 + S)
    assert index.take_due(T0 + 60 * S) == []


def test_an_answer_clears_the_in_flight_state() -> None:
    index = DeadlineIndex(resend_after=5)
    index.set("a", T0)
    index.take_due(T0)
    index.set("a", None)  # the agent fired the alert; nothing more is armed
    assert index.take_due(T0 + 60 * S) == []


def test_rebuild_replaces_everything_and_overdue_fire_at_once() -> None:
    index = DeadlineIndex()
    index.set("gone", T0)
    index.rebuild(
        [("x", T0 - 600 * S, False), ("y", None, False), ("z", T0 + S, False)], generation=7
    )
    assert index.generation == 7
    assert len(index) == 2
    assert index.oldest_overdue(T0) == 600.0
    assert index.take_due(T0) == [("x", T0 - 600 * S)]


def test_what_the_timer_published_is_kept_while_the_deadline_is_in_flight() -> None:
    index = DeadlineIndex(resend_after=5)
    index.set("a", T0)
    assert index.take_due(T0) == [("a", T0)]
    assert index.published("a") is None  # not tried yet
    index.note_published("a", ("alert-1",))
    assert index.take_due(T0 + 5 * S) == [("a", T0)]  # handed out again, with what was sent
    assert index.published("a") == ("alert-1",)


def test_the_agents_answer_forgets_what_the_timer_published() -> None:
    index = DeadlineIndex()
    index.set("a", T0)
    index.take_due(T0)
    index.note_published("a", ("alert-1",))
    index.set("a", T0 + 60 * S)  # the agent recorded the alert; the next deadline is armed
    assert index.published("a") is None
    assert index.take_due(T0 + 60 * S) == [("a", T0 + 60 * S)]
    assert index.published("a") is None


def test_a_late_note_for_an_answered_deadline_is_ignored() -> None:
    index = DeadlineIndex()
    index.set("a", T0)
    index.take_due(T0)
    index.set("a", None)  # the agent answered while the timer's sends were in flight
    index.note_published("a", ("alert-1",))
    assert index.published("a") is None


def test_rebuild_forgets_what_the_timer_published() -> None:
    index = DeadlineIndex()
    index.set("a", T0)
    index.take_due(T0)
    index.note_published("a", ("alert-1",))
    index.rebuild([("a", T0, False)], generation=2)  # partitions moved: decide again from the table
    assert index.published("a") is None
    assert index.take_due(T0) == [("a", T0)]


def test_retirements_are_timed_like_deadlines_but_not_counted_as_armed() -> None:
    index = DeadlineIndex()
    index.set("owed", T0 + S)
    index.set("closed", T0, retiring=True)
    assert len(index) == 1 and index.retiring == 1
    assert [key for key, _ in index.take_due(T0)] == ["closed"]
    assert index.oldest_overdue(T0 + 10 * S) == 10  # a timer behind on retirements is behind
    index.set("closed", T0 + 60 * S, retiring=True)  # now a stub, forgotten later
    assert index.retiring == 1
    index.set("closed", None)  # forgotten
    assert index.retiring == 0 and len(index) == 1
    index.set("owed", T0 + 5 * S, retiring=True)
    index.set("owed", T0 + 5 * S)  # a deadline again (a request after the release, say)
    assert index.retiring == 0 and len(index) == 1


def test_rebuild_reads_deadlines_and_retirements_from_stored_records() -> None:
    from services.core.deadlines import armed_in

    stored = {
        "a": {"next_due": (T0 + S).isoformat(), "retire_at": None},
        "b": {"next_due": None, "retire_at": (T0 + 9 * S).isoformat()},
        "c": {"next_due": None},
        "d": "not a record",
    }
    index = DeadlineIndex()
    index.rebuild(armed_in(stored.items()), generation=1)
    assert len(index) == 1 and index.retiring == 1
    assert index.due_of("b") == T0 + 9 * S


def stored_bytes(record: dict[str, object]) -> bytes:
    """A record as faust's json codec stores it (compact separators)."""
    import json

    return json.dumps(record, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "record",
    [
        {"booking_id": "b-1", "next_due": "2027-03-01T12:00:01Z", "retire_at": None},
        {"booking_id": "b-2", "next_due": None, "retire_at": "2027-04-01T00:00:00+00:00"},
        {"booking_id": "b-3", "next_due": None, "retire_at": None},
        {"booking_id": "b-4"},  # the booking service's records before retirement
        {"booking_id": "b-5", "retire_at": "2027-04-01T00:00:00Z", "retired": True},
        {"booking_id": "b-6", "next_due": "2027-03-01T12:00:01.250000Z", "retire_at": None},
    ],
)
def test_the_raw_read_agrees_with_the_decoded_one(record: dict[str, object]) -> None:
    from services.core.deadlines import due_of_raw, due_of_stored

    assert due_of_raw(stored_bytes(record)) == due_of_stored(record)


@pytest.mark.parametrize(
    "record",
    [
        # An agency's event id "next_due" in the applied requests, ahead of the real field.
        {"applied": {"next_due": "agency.requests.v1/3/17"}, "next_due": "2027-03-01T12:00:00Z"},
        {"requests": {"next_due": {"status": "active"}}, "next_due": None},
        {"next_due": "not a time"},
    ],
)
def test_bytes_that_do_not_say_plainly_are_left_to_the_decoder(record: dict[str, object]) -> None:
    from services.core.deadlines import due_of_raw

    assert due_of_raw(stored_bytes(record)) is None


def test_a_quoted_name_inside_a_text_value_is_not_taken_for_the_field() -> None:
    from services.core.deadlines import due_of_raw

    record = {"notes": 'says "next_due":"2020-01-01T00:00:00Z"', "next_due": None}
    assert due_of_raw(stored_bytes(record)) == (None, False)
