"""The release schedule derived from the booking state (SPEC 3.3): local time, sentences,
revisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.scheduling import domain as rules
from tests import factories as f
from tests.unit.scheduling.world import START, World, flagged

H = timedelta(hours=1)
S = timedelta(seconds=1)


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
