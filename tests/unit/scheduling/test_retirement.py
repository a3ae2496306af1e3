"""Retirement of a closed booking in the scheduling service (#17): released or transferred
with nothing owed, the record shrinks to a stub after the policy's grace period (30 days by
default), and the stub is deleted after ``forget_after``. The stub drops late repeats."""

from datetime import timedelta

import pytest

from schemas.agency_requests import AGENCY_REQUEST
from schemas.audit import AuditStep
from services.core.outcomes import Duplicate, Forget, Rejected, Stale
from services.core.policy import Policy
from services.scheduling import domain as rules
from tests import factories as f
from tests.unit.scheduling.world import START, World

H = timedelta(hours=1)
D = timedelta(days=1)


def released(policy: Policy | None = None, how: str = "release") -> World:
    world = World(policy=policy)
    world.open()
    world.request()
    world.schedule(START + 60 * H)
    world.advance(14 * H)  # the notice goes out (due at release - 48 h)
    getattr(world, how)(world.now)
    return world


def test_an_open_booking_is_never_retired() -> None:
    world = World()
    world.open()
    world.request()
    world.schedule(START + 90 * D)
    assert world.record is not None
    assert world.record.retire_at is None
    world.advance(60 * D)
    assert world.record is not None and not world.record.retired


@pytest.mark.parametrize("how", ["release", "transfer"])
def test_a_closed_booking_is_retired_after_the_grace_period(how: str) -> None:
    world = released(how=how)
    record = world.record
    assert record is not None
    assert record.next_due is None  # nothing owed: the released alert went out with it
    assert record.retire_at == world.now + timedelta(days=30)
    world.advance(29 * D)
    assert world.record is not None and not world.record.retired
    world.advance(1 * D)
    stub = world.record
    assert stub is not None and stub.retired
    assert isinstance(world.outcomes[-1], rules.Outcome) and world.outcomes[-1].retired
    assert stub.requests == {} and stub.applied == {} and stub.schedule is None
    assert stub.booking is not None and stub.booking.statutes == ()
    assert len(stub.model_dump_json()) < 250
    assert stub.retire_at == world.now + timedelta(days=30)


def test_the_stub_is_forgotten_after_forget_after_and_the_booking_is_then_unknown() -> None:
    policy = Policy(retire_after_days=2, forget_after_days=10)
    world = released(policy)
    world.advance(2 * D)
    assert world.record is not None and world.record.retired
    world.advance(9 * D)
    assert world.record is not None
    world.advance(1 * D)
    assert world.record is None
    assert isinstance(world.outcomes[-1], Forget)


def test_the_grace_period_counts_from_the_first_moment_nothing_was_owed() -> None:
    world = released(Policy(retire_after_days=5))
    first = world.record.retire_at  # type: ignore[union-attr]
    world.advance(1 * D)
    world.request("r2")  # filed after the release: recorded, nothing armed
    assert world.record is not None and world.record.retire_at == first


def test_a_stub_drops_late_repeats_of_the_last_state_and_older_ones() -> None:
    world = released(Policy(retire_after_days=1))
    last, first = world.states[-1], world.states[0]
    world.advance(1 * D)
    stub = world.record
    assert stub is not None and stub.retired
    assert isinstance(rules.on_booking_state(stub, last, 9, world.now), Duplicate)
    assert isinstance(rules.on_booking_state(stub, first, 9, world.now), Stale)
    newer = last.model_copy(update={"data": last.data.model_copy(update={"revision": 99})})
    refused = rules.on_booking_state(stub, newer, 9, world.now)
    assert isinstance(refused, Rejected)
    assert "retired" in refused.errors[0].message


def test_a_request_for_a_retired_booking_is_on_the_ledger_and_arms_nothing() -> None:
    world = released(Policy(retire_after_days=1))
    world.advance(1 * D)
    stub = world.record
    assert stub is not None
    document = f.envelope(
        "notice_request.received",
        {"request_id": "late", "agency": "dhs-ice", "form": "I-247A"},
        booking_id=world.booking_id,
        occurred_at=world.now.isoformat(),
    )
    outcome = rules.on_request(stub, AGENCY_REQUEST.validate_python(document), "p", 48, world.now)
    assert isinstance(outcome, rules.Outcome)
    assert outcome.record == stub and outcome.alerts == ()
    [audit] = outcome.audit
    assert audit.data.step is AuditStep.REQUEST_RECEIVED
    assert audit.data.detail["received_after_release"] is True
    withdrawal = f.envelope(
        "notice_request.withdrawn",
        {"request_id": "r1", "reason": "lifted"},
        booking_id=world.booking_id,
        occurred_at=world.now.isoformat(),
    )
    refused = rules.on_request(stub, AGENCY_REQUEST.validate_python(withdrawal), "q", 48, world.now)
    assert isinstance(refused, Rejected)


def test_a_tick_before_the_retirement_time_changes_nothing() -> None:
    world = released()
    record = world.record
    assert record is not None and record.retire_at is not None
    early = rules.on_tick(record, record.retire_at - timedelta(seconds=1))
    assert isinstance(early, rules.Outcome) and not early.retired
    assert early.record == record


@pytest.mark.parametrize("days", [0.0001, 1, 30, 365])
def test_any_grace_period_is_honoured(days: float) -> None:
    world = released(Policy(retire_after_days=days))
    closed_at = world.now
    world.advance(timedelta(days=days) - timedelta(seconds=1))
    assert world.record is not None and not world.record.retired
    world.advance(timedelta(seconds=1))
    assert world.record is not None and world.record.retired
    assert world.now == closed_at + timedelta(days=days)
