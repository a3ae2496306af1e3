"""Every row of SPEC 3.4, as examples."""

from __future__ import annotations

from datetime import timedelta

from schemas.escalations import EscalationReason
from schemas.release_schedule import ScheduleStatus
from services.scheduling.records import SchedulingRecord
from tests.unit.scheduling.world import START, World, flagged

H = timedelta(hours=1)
S = timedelta(seconds=1)


def test_an_on_time_notice_fires_at_due_at_and_not_before() -> None:
    world = flagged()
    release_at = START + 5 * 24 * H
    world.schedule(release_at)
    due_at = release_at - 48 * H
    assert world.record is not None and world.record.next_due == due_at
    assert world.advance(due_at - START - S) == []
    [alert] = world.advance(S)
    data = alert.data
    assert data.kind == "notice_due"
    assert (data.emitted_at, data.due_at, data.release_at) == (due_at, due_at, release_at)
    assert data.lead_hours == 48.0
    assert data.window_hours == 48
    assert data.late is False
    assert data.agency == "dhs-ice"
    assert data.request_id == "r1"


def test_the_alert_carries_the_jail_event_that_caused_it() -> None:
    world = flagged()
    outcome = world.schedule(START + 10 * H)
    [alert] = outcome.alerts
    assert alert.data.cause_event_id == world.booking.state.cause.event_id  # type: ignore[union-attr]
    # It names the booking state it was decided on, and not who the person is: the
    # notification service renders from its own copy of that state.
    assert alert.data.booking_revision == world.booking.state.revision  # type: ignore[union-attr]
    assert alert.data.booking is None
    assert "Alexandra" not in alert.model_dump_json()


def test_the_scheduling_record_keeps_no_personal_data() -> None:
    world = flagged()
    world.schedule(START + 60 * H)
    stored = world.record.model_dump_json()  # type: ignore[union-attr]
    for personal in ("Alexandra", "first_name", "date_of_birth", "description"):
        assert personal not in stored
    assert world.record.booking.statutes  # type: ignore[union-attr]  # what policies decide on


def test_a_flag_after_the_window_opened_notifies_at_once_and_late() -> None:
    world = World()
    world.open()
    world.schedule(START + 10 * H)
    outcome = world.request()
    [alert] = outcome.alerts  # type: ignore[union-attr]
    assert alert.data.kind == "notice_due"
    assert alert.data.emitted_at == START
    assert alert.data.late is True
    assert alert.data.lead_hours == 10.0


def test_a_notice_within_a_minute_of_due_at_is_not_late() -> None:
    world = flagged()
    world.schedule(START + 48 * H - 59 * S)
    assert world.alerts[0].data.late is False
    world = flagged()
    world.schedule(START + 48 * H - 61 * S)
    assert world.alerts[0].data.late is True


def test_a_release_scheduled_at_short_notice_notifies_at_once() -> None:
    world = flagged()
    [alert] = world.schedule(START + 6 * H).alerts
    assert alert.data.kind == "notice_due"
    assert alert.data.late is True


def test_a_request_before_the_booking_takes_effect_when_it_opens() -> None:
    world = World()
    outcome = world.request()
    assert outcome.alerts == ()  # type: ignore[union-attr]
    world.open()
    [alert] = world.schedule(START + 12 * H).alerts
    assert alert.data.kind == "notice_due"


def test_a_release_moved_earlier_after_notice_is_a_change_not_a_new_notice() -> None:
    world = flagged()
    world.schedule(START + 30 * H)  # notice at once
    [changed] = world.schedule(START + 20 * H).alerts
    assert changed.data.kind == "release_changed"
    assert changed.data.release_at == START + 20 * H
    assert world.kinds() == ["notice_due", "release_changed"]


def test_a_release_moved_later_out_of_the_window_re_arms_the_deadline() -> None:
    world = flagged()
    world.schedule(START + 30 * H)
    later = START + 10 * 24 * H
    [changed] = world.schedule(later).alerts
    assert changed.data.kind == "release_changed"
    assert world.record is not None and world.record.next_due == later - 48 * H
    [again] = world.advance(later - 48 * H - START)
    assert again.data.kind == "notice_due"
    assert again.data.release_at == later
    assert again.data.late is False
    assert again.data.alert_id != world.alerts[0].data.alert_id


def test_a_release_moved_later_but_still_inside_the_window_is_only_a_change() -> None:
    world = flagged()
    world.schedule(START + 20 * H)
    world.schedule(START + 40 * H)
    assert world.kinds() == ["notice_due", "release_changed"]
    world.advance(3 * 24 * H)
    assert world.kinds() == ["notice_due", "release_changed"]


def test_a_move_before_any_notice_just_moves_the_deadline() -> None:
    world = flagged()
    world.schedule(START + 10 * 24 * H)
    world.schedule(START + 4 * 24 * H)
    assert world.alerts == []
    assert world.record is not None and world.record.next_due == START + 2 * 24 * H
    [alert] = world.advance(2 * 24 * H)
    assert alert.data.kind == "notice_due"


def test_unscheduled_after_notice_cancels_and_a_new_schedule_notifies_again() -> None:
    world = flagged()
    world.schedule(START + 24 * H)
    [cancelled] = world.unschedule().alerts
    assert cancelled.data.kind == "release_cancelled"
    assert cancelled.data.release_at is None
    world.schedule(START + 5 * 24 * H)
    [again] = world.advance(3 * 24 * H)
    assert again.data.kind == "notice_due"
    assert world.kinds() == ["notice_due", "release_cancelled", "notice_due"]


def test_unscheduled_before_notice_says_nothing() -> None:
    world = flagged()
    world.schedule(START + 5 * 24 * H)
    world.unschedule()
    world.advance(10 * 24 * H)
    assert world.alerts == []
    assert world.record is not None and world.record.next_due is None


def test_released_after_notice_reports_the_lead_of_the_first_notice() -> None:
    world = flagged()
    release_at = START + 5 * 24 * H
    world.schedule(release_at)
    world.advance(5 * 24 * H)
    [released] = world.release(release_at).alerts
    assert released.data.kind == "released"
    assert released.data.notice_given is True
    assert released.data.notice_lead_hours == 48.0
    assert world.escalations == []


def test_released_without_notice_is_an_escalation() -> None:
    world = flagged()
    world.schedule(START + 5 * 24 * H)
    world.advance(H)
    [released] = world.release().alerts
    assert released.data.notice_given is False
    assert released.data.notice_lead_hours is None
    [escalation] = world.escalations
    assert escalation.data.reason is EscalationReason.RELEASED_WITHOUT_NOTICE
    assert escalation.data.request_id == "r1"


def test_a_transfer_is_reported_like_a_release() -> None:
    world = flagged()
    world.schedule(START + 20 * H)
    [released] = world.transfer().alerts
    assert released.data.kind == "released"
    assert released.data.notice_given is True
    assert world.record is not None
    assert world.record.schedule is not None
    assert world.record.schedule.status is ScheduleStatus.TRANSFERRED


def test_nothing_after_a_withdrawal() -> None:
    world = flagged()
    world.schedule(START + 5 * 24 * H)
    world.withdraw()
    world.advance(5 * 24 * H)
    world.release()
    assert world.alerts == []
    assert world.escalations == []


def test_a_withdrawal_after_notice_stops_later_alerts() -> None:
    world = flagged()
    world.schedule(START + 20 * H)
    world.withdraw()
    world.schedule(START + 30 * H)
    world.release()
    assert world.kinds() == ["notice_due"]


def test_an_unflagged_booking_never_alerts() -> None:
    world = World()
    world.open()
    world.schedule(START + 20 * H)
    world.advance(24 * H)
    world.release()
    assert world.alerts == []
    assert world.escalations == []


def test_several_agencies_are_tracked_independently() -> None:
    world = World()
    world.open()
    world.request("ice-1", "dhs-ice", hours=48)
    world.request("usms-9", "usms", hours=72)
    release_at = START + 5 * 24 * H
    world.schedule(release_at)
    assert world.record is not None and world.record.next_due == release_at - 72 * H
    first = world.advance(release_at - 72 * H - START)
    assert [(a.data.agency, a.data.window_hours) for a in first] == [("usms", 72)]
    second = world.advance(24 * H)
    assert [(a.data.agency, a.data.window_hours) for a in second] == [("dhs-ice", 48)]
    released = world.release(release_at).alerts
    assert {a.data.agency for a in released} == {"dhs-ice", "usms"}


def test_a_record_stored_with_the_whole_booking_reads_as_its_facts() -> None:
    """Scheduling records written before they were slimmed still load: the facts are kept,
    the rest is dropped at the next write."""
    world = flagged()
    world.schedule(START + 10 * H)
    stored = world.record.model_dump(mode="json")  # type: ignore[union-attr]
    stored["booking"] = world.states[-1].data.model_dump(mode="json")
    record = SchedulingRecord.model_validate(stored)
    assert record.booking is not None
    assert record.booking.revision == world.states[-1].data.revision
    assert record.booking.statutes == tuple(c.statute for c in world.states[-1].data.charges)
