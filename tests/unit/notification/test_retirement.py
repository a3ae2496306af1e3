"""Retirement of a closed booking in the notification service (#17): its copy says released
or transferred, no alert waits and no acknowledgement is pending; after the grace period the
record shrinks to a stub (last revision, its notices' ids), which is deleted later."""

from datetime import timedelta

from schemas.notice_acks import NoticeAck
from services.core.outcomes import Duplicate, Forget, Rejected, Stale
from services.core.policy import Policy
from services.notification import domain as rules
from services.notification import overdue
from tests.unit.scheduling.world import START, World

H = timedelta(hours=1)
D = timedelta(days=1)
POLICY = Policy(retire_after_days=2, forget_after_days=10, ack_timeout_minutes=60)


def run(world: World, record: rules.NotificationRecord | None = None) -> rules.NotificationRecord:
    """Every booking state and alert of ``world`` through the notification rules, in order
    of the states first (as if it had caught up), then the alerts."""
    for state in world.states:
        outcome = rules.on_booking_state(record, state, POLICY, world.now)
        if isinstance(outcome, rules.Outcome):
            record = outcome.record
    for alert in world.alerts:
        outcome = rules.on_alert(record, alert, POLICY, world.now)
        if isinstance(outcome, rules.Outcome):
            record = outcome.record
    assert record is not None
    return record


def ack(world: World, notice_id: str, at: timedelta = H) -> NoticeAck:
    return NoticeAck(
        event_id=f"ack-{notice_id}",
        occurred_at=START + at,
        jurisdiction="us-mn-hennepin",
        booking_id=world.booking_id,
        data={
            "notice_id": notice_id,
            "agency": "dhs-ice",
            "acknowledged_at": START + at,
            "by": "x",
        },
    )


def flagged_then_released() -> World:
    world = World(policy=POLICY)
    world.open()
    world.request()
    world.schedule(START + 10 * H)  # notice_due at once
    world.release(START + 10 * H)
    return world


def test_an_unacknowledged_notice_keeps_the_record_until_it_is_acknowledged() -> None:
    world = flagged_then_released()
    record = run(world)
    pending = [s for s in record.notices.values() if s.ack_due_at is not None]
    assert pending and record.retire_at is None
    acked = rules.on_ack(record, ack(world, pending[0].notice_id), START + H, POLICY)
    assert isinstance(acked, rules.Outcome)
    assert acked.record.retire_at == START + H + POLICY.retire_after


def test_an_escalated_notice_no_longer_holds_the_record() -> None:
    world = flagged_then_released()
    record = run(world)
    now = START
    while record.next_due is not None:
        now = record.next_due
        outcome = overdue.on_tick(record, POLICY, now)
        assert isinstance(outcome, rules.Outcome)
        record = outcome.record
    assert any(s.escalated for s in record.notices.values())
    assert record.retire_at == now + POLICY.retire_after


def test_an_open_booking_or_a_waiting_alert_is_never_retired() -> None:
    world = World(policy=POLICY)
    world.open()
    world.request()
    world.schedule(START + 100 * D)
    assert run(world).retire_at is None
    released = flagged_then_released()
    [*_, last] = released.states
    waiting = rules.on_alert(None, released.alerts[0], POLICY, START)
    assert isinstance(waiting, rules.Outcome)
    # The booking closed, but an alert decided on a later state than this copy still waits.
    older = rules.on_booking_state(waiting.record, released.states[0], POLICY, START)
    assert isinstance(older, rules.Outcome) and older.record.retire_at is None
    assert last.data.revision > released.states[0].data.revision


def retired(world: World) -> rules.NotificationRecord:
    record = run(world)
    for state in list(record.notices.values()):
        if state.ack_due_at is not None:
            outcome = rules.on_ack(record, ack(world, state.notice_id), START + H, POLICY)
            assert isinstance(outcome, rules.Outcome)
            record = outcome.record
    assert record.retire_at is not None
    outcome = overdue.on_tick(record, POLICY, record.retire_at)
    assert isinstance(outcome, rules.Outcome) and outcome.retired
    return outcome.record


def test_the_stub_keeps_no_personal_data_and_drops_late_repeats() -> None:
    world = flagged_then_released()
    stub = retired(world)
    assert stub.retired and stub.booking is None and stub.notices == {}
    assert "Alexandra" not in stub.model_dump_json()
    assert stub.revision == world.states[-1].data.revision
    for alert in world.alerts:
        assert isinstance(rules.on_alert(stub, alert, POLICY, START + 3 * D), Duplicate)
    [notice_id, *_] = stub.issued
    assert isinstance(rules.on_ack(stub, ack(world, notice_id), START + 3 * D, POLICY), Duplicate)
    last, first = world.states[-1], world.states[0]
    assert isinstance(rules.on_booking_state(stub, last, POLICY, START), Duplicate)
    assert isinstance(rules.on_booking_state(stub, first, POLICY, START), Stale)
    unknown = world.alerts[0].model_copy(
        update={"data": world.alerts[0].data.model_copy(update={"alert_id": "other"})}
    )
    assert isinstance(rules.on_alert(stub, unknown, POLICY, START), Rejected)


def test_the_stub_is_forgotten_after_forget_after() -> None:
    stub = retired(flagged_then_released())
    assert stub.retire_at is not None
    early = overdue.on_tick(stub, POLICY, stub.retire_at - timedelta(seconds=1))
    assert isinstance(early, rules.Outcome) and early.record == stub
    assert isinstance(overdue.on_tick(stub, POLICY, stub.retire_at), Forget)
