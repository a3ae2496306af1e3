"""The notification service renders notices from its own copy of booking.state.v1: the
scheduling record keeps no personal data, so an alert names the booking revision it was
decided on, and waits here until that state has been read."""

from datetime import timedelta

from schemas.audit import AuditStep
from schemas.notice_alerts import AlertBooking
from services.core.outcomes import Duplicate, Stale
from services.core.policy import NoticeRule, Policy
from services.notification import domain as rules
from tests.unit.scheduling.world import START, World

H = timedelta(hours=1)
ALL = Policy()


def flagged_and_due() -> World:
    world = World()
    world.open()
    world.request()
    world.schedule(START + 10 * H)  # inside the window: notice_due at once
    return world


def test_an_alert_read_before_its_booking_state_waits_then_becomes_the_notice() -> None:
    world = flagged_and_due()
    [alert] = world.alerts
    held = rules.on_alert(None, alert, ALL, START)
    assert isinstance(held, rules.Outcome)
    assert held.held == (alert.data.alert_id,)
    assert held.notices == () and held.audit == ()
    assert alert.data.alert_id in held.record.waiting

    later = START + H
    arrived = rules.on_booking_state(held.record, world.states[-1], ALL, later)
    assert isinstance(arrived, rules.Outcome)
    [notice] = arrived.notices
    assert notice.data.alert_id == alert.data.alert_id
    assert notice.data.subject.first_name == "Alexandra"
    assert notice.data.facility.timezone == "America/Chicago"
    assert notice.data.issued_at == later
    assert [a.data.step for a in arrived.audit] == [AuditStep.ISSUED]
    assert arrived.record.waiting == {}
    assert arrived.held == ()


def test_an_older_booking_state_does_not_release_a_waiting_alert() -> None:
    world = flagged_and_due()
    [alert] = world.alerts
    assert alert.data.booking_revision == world.states[-1].data.revision
    held = rules.on_alert(None, alert, ALL, START)
    assert isinstance(held, rules.Outcome)
    older = rules.on_booking_state(held.record, world.states[0], ALL, START)
    assert isinstance(older, rules.Outcome)
    assert older.notices == ()
    assert alert.data.alert_id in older.record.waiting


def test_a_waiting_alert_read_again_is_a_duplicate() -> None:
    world = flagged_and_due()
    [alert] = world.alerts
    held = rules.on_alert(None, alert, ALL, START)
    assert isinstance(held, rules.Outcome)
    assert isinstance(rules.on_alert(held.record, alert, ALL, START), Duplicate)


def test_a_later_booking_state_renders_too() -> None:
    world = flagged_and_due()
    [alert] = world.alerts
    world.schedule(START + 11 * H)  # a newer revision
    record = world.notification_record()
    assert record.booking is not None
    assert record.booking.revision > (alert.data.booking_revision or 0)
    outcome = rules.on_alert(record, alert, ALL, START)
    assert isinstance(outcome, rules.Outcome)
    assert len(outcome.notices) == 1


def test_booking_states_seen_or_older_are_dropped() -> None:
    world = flagged_and_due()
    record = world.notification_record()
    assert isinstance(rules.on_booking_state(record, world.states[-1], ALL, START), Duplicate)
    stale = rules.on_booking_state(record, world.states[0], ALL, START)
    assert isinstance(stale, Stale)
    assert stale.revision == 1 and stale.last_revision == world.states[-1].data.revision


def test_the_copy_keeps_who_and_where_and_the_statutes_not_the_charges_text() -> None:
    world = flagged_and_due()
    copy = world.notification_record().booking
    assert copy is not None
    state = world.states[-1].data
    assert copy.person == state.person
    assert copy.facility == state.facility
    assert copy.statutes == tuple(charge.statute for charge in state.charges)
    assert "description" not in copy.model_dump_json()


def test_the_policy_decides_on_the_copys_statutes() -> None:
    world = flagged_and_due()
    [alert] = world.alerts
    statutes = world.notification_record().booking.statutes  # type: ignore[union-attr]
    listed = Policy(notices=NoticeRule.LISTED_OFFENSES, listed_statutes=statutes[:1])
    unlisted = Policy(notices=NoticeRule.LISTED_OFFENSES, listed_statutes=("PC 187",))
    allowed = rules.on_alert(world.notification_record(), alert, listed, START)
    withheld = rules.on_alert(world.notification_record(), alert, unlisted, START)
    assert isinstance(allowed, rules.Outcome) and isinstance(withheld, rules.Outcome)
    assert len(allowed.notices) == 1
    assert withheld.notices == ()
    assert [a.data.step for a in withheld.audit] == [AuditStep.SUPPRESSED]


def test_an_alert_written_before_slim_records_renders_from_what_it_carries() -> None:
    world = flagged_and_due()
    [alert] = world.alerts
    state = world.states[-1].data
    legacy = alert.model_copy(
        update={
            "data": alert.data.model_copy(
                update={
                    "booking_revision": None,
                    "booking": AlertBooking(
                        facility=state.facility, person=state.person, charges=state.charges
                    ),
                }
            )
        }
    )
    outcome = rules.on_alert(None, legacy, ALL, START)
    assert isinstance(outcome, rules.Outcome)
    [notice] = outcome.notices
    assert notice.data.subject.last_name == state.person.last_name
