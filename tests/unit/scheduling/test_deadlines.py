"""Every row of SPEC 3.4, as examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.escalations import EscalationReason
from schemas.release_schedule import ScheduleStatus
from services.scheduling import domain as rules
from tests import factories as f
from tests.unit.scheduling.world import START, World

H = timedelta(hours=1)
S = timedelta(seconds=1)


def flagged(hours: int | None = None) -> World:
    world = World()
    world.open()
    world.request(hours=hours)
    return world


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
    assert alert.data.booking is not None
    assert alert.data.booking.facility.timezone == "America/Chicago"


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


def test_the_window_is_48_real_hours_across_a_dst_change() -> None:
    world = World()
    world.open()
    world.request()
    # 09:00 CDT on 2027-03-15 is 14:00Z; two calendar days earlier at 09:00 would be
    # 15:00Z (CST), but 48 real hours before is 14:00Z = 08:00 CST.
    world.schedule("2027-03-15T09:00:00")
    assert world.record is not None
    assert world.record.next_due == datetime(2027, 3, 13, 14, 0, tzinfo=UTC)


def test_an_ambiguous_release_time_gives_the_earlier_instant_and_more_notice() -> None:
    world = flagged()
    world.schedule("2027-11-07T01:30:00")  # CDT reading: 06:30Z (CST would be 07:30Z)
    assert world.record is not None
    assert world.record.next_due == datetime(2027, 11, 5, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("release_hour", "expected"),
    [(9, datetime(2027, 4, 1, 14, 0, tzinfo=UTC)), (17, datetime(2027, 4, 1, 22, 0, tzinfo=UTC))],
)
def test_a_sentence_projects_the_release_at_the_facility_release_hour(
    release_hour: int, expected: datetime
) -> None:
    world = World(release_hour=release_hour)
    world.open()
    # 2027-03-02 + 40 days - 10 credit = 2027-04-01, at the release hour, Chicago (CDT).
    world.jail(f.sentence("2027-03-02", 40, credit_days=10, booking_id=world.booking_id))
    assert world.record is not None and world.record.schedule is not None
    assert world.record.schedule.release_at == expected


def test_a_projection_into_the_spring_forward_gap_moves_past_it() -> None:
    from schemas.booking_state import ProjectedRelease

    plan = ProjectedRelease(starts_on=datetime(2027, 3, 4).date(), term_days=10)
    assert rules.projected_release(plan, "America/Chicago", 2) == datetime(
        2027, 3, 14, 8, 0, tzinfo=UTC
    )


def test_each_schedule_change_is_one_message_with_the_next_revision() -> None:
    world = flagged()
    world.schedule(START + 5 * 24 * H)
    world.jail(f.charges("1", booking_id=world.booking_id))
    world.schedule(START + 6 * 24 * H)
    world.unschedule()
    revisions = [(m.data.revision, m.data.status.value) for m in world.schedules]
    assert revisions == [(1, "unscheduled"), (2, "scheduled"), (3, "scheduled"), (4, "unscheduled")]
    assert (
        world.schedules[1].data.cause_event_id == world.outcomes[2].record.schedule.cause_event_id
    )  # type: ignore[union-attr]


def test_a_repeated_booking_state_resends_the_schedule_and_alerts_nothing() -> None:
    world = flagged()
    world.schedule(START + 20 * H)
    assert world.booking is not None and world.record is not None
    from services.booking.domain import message_for

    again = message_for(world.booking, (world.record.jurisdiction, world.record.booking_id))
    outcome = rules.on_booking_state(world.record, again, 9, world.now + H)
    assert isinstance(outcome, rules.Outcome)
    assert not outcome.schedule_changed  # the same schedule, sent again
    assert outcome.alerts == ()
    assert outcome.schedule is not None and outcome.schedule.data.revision == 2


def test_a_repeated_request_event_is_a_duplicate() -> None:
    world = World()
    world.open()
    world.request(event_id="ice:1")
    world.schedule(START + 10 * H)
    outcome = world.request(event_id="ice:1")
    assert isinstance(outcome, rules.Duplicate)
    assert world.kinds() == ["notice_due"]


def test_withdrawing_an_unknown_request_is_refused() -> None:
    world = World()
    world.open()
    outcome = world.withdraw("nope")
    assert isinstance(outcome, rules.Rejected)
    assert outcome.errors[0].path == "data.request_id"


def test_a_request_after_release_is_recorded_without_alerts() -> None:
    world = World()
    world.open()
    world.release()
    outcome = world.request()
    assert isinstance(outcome, rules.Outcome)
    assert outcome.audit[0].data.detail["received_after_release"] is True
    assert outcome.alerts == ()
    assert world.record is not None and "r1" in world.record.requests


def test_alert_ids_are_the_same_for_the_same_situation() -> None:
    def run() -> list[str]:
        world = flagged()
        world.schedule(START + 30 * H)
        world.schedule(START + 10 * 24 * H)
        world.advance(9 * 24 * H)
        world.release()
        return [a.data.alert_id for a in world.alerts]

    first, second = run(), run()
    assert first == second
    assert len(set(first)) == len(first) == 4


def test_a_tick_before_the_deadline_and_a_repeated_tick_owe_nothing() -> None:
    world = flagged()
    world.schedule(START + 5 * 24 * H)
    assert world.record is not None
    assert rules.on_tick(world.record, START + H).alerts == ()
    world.advance(3 * 24 * H)
    assert len(world.alerts) == 1
    assert rules.on_tick(world.record, world.now + 2 * H).alerts == ()


def test_a_deadline_missed_while_down_fires_late_when_back() -> None:
    world = flagged()
    release_at = START + 5 * 24 * H
    world.schedule(release_at)
    assert world.record is not None
    # The service was down from before due_at until 10 minutes after it.
    outcome = rules.on_tick(world.record, release_at - 48 * H + 10 * 60 * S)
    [alert] = outcome.alerts
    assert alert.data.late is True
    assert alert.data.due_at == release_at - 48 * H


def test_every_request_filed_or_withdrawn_is_a_ledger_record() -> None:
    world = World()
    world.open()
    filed = world.request(hours=72)
    withdrawn = world.withdraw()
    assert isinstance(filed, rules.Outcome)
    assert isinstance(withdrawn, rules.Outcome)
    [received] = filed.audit
    [gone] = withdrawn.audit
    assert (received.data.step, gone.data.step) == ("request_received", "request_withdrawn")
    assert received.data.detail["window_hours"] == 72
    assert gone.data.detail["reason"] == "no longer sought"
    assert received.event_id != gone.event_id
