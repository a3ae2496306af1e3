"""Requests filed, repeated and withdrawn, ticks, alert ids and the ledger record of each
request (SPEC 3.4)."""

from __future__ import annotations

from datetime import timedelta

from services.scheduling import domain as rules
from tests.unit.scheduling.world import START, World, flagged

H = timedelta(hours=1)
S = timedelta(seconds=1)


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
