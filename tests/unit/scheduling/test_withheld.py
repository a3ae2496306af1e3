"""Ledger truth (SPEC 3.4 `released`): "given" means the agency received a notice. A notice
the jurisdiction's policy withheld was not given, the released alert names the rule, and a
release the law withheld notice for raises no released-without-notice escalation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.escalations import EscalationReason
from services.core.policy import Policy
from tests import factories as f
from tests.unit.scheduling.world import START, World

H = timedelta(hours=1)
NONE = Policy(notices="none", legal_basis="ORS 181A.820")
LISTED = Policy(notices="listed_offenses", listed_statutes=("609.52",))
ALL = Policy()


def flagged_world(policy: Policy, statutes: tuple[str, ...] = ("609.52",)) -> World:
    world = World(policy=policy)
    charges = [
        {"charge_id": f"c{n}", "statute": s, "description": "x", "level": "felony"}
        for n, s in enumerate(statutes, 1)
    ]
    world.open(data={"charges": charges})
    world.request()
    return world


def released_alert(world: World) -> dict:
    [released] = [a for a in world.alerts if a.data.kind.value == "released"]
    return released.data.model_dump()


@pytest.mark.parametrize(
    ("policy", "statutes", "given", "withheld"),
    [
        (ALL, ("609.52",), True, None),
        (LISTED, ("609.52",), True, None),
        (LISTED, ("609.52", "169A.20"), True, None),
        (LISTED, ("169A.20",), False, "listed_offenses: no charge under a listed statute"),
        (NONE, ("609.52",), False, "notices: none (ORS 181A.820)"),
    ],
)
def test_a_notice_is_given_only_where_the_policy_lets_it_through(
    policy: Policy, statutes: tuple[str, ...], given: bool, withheld: str | None
) -> None:
    world = flagged_world(policy, statutes)
    world.schedule(START + 10 * H)  # inside the window: the notice_due is owed at once
    assert world.kinds() == ["notice_due"]  # the alert is raised either way: the ledger says
    world.advance(2 * H)
    world.release(world.now)
    data = released_alert(world)
    assert (data["notice_given"], data["notice_withheld_by"]) == (given, withheld)
    # the lead of the first notice before the actual release (2 hours here), if one went
    assert data["notice_lead_hours"] == (pytest.approx(2.0, abs=0.01) if given else None)
    assert world.escalations == []  # given, or withheld by law: no ops failure either way


@pytest.mark.parametrize(
    ("policy", "escalated", "withheld"),
    [
        (ALL, True, None),
        (LISTED, True, None),  # 609.52 is listed: a notice was owed and none went
        (NONE, False, "notices: none (ORS 181A.820)"),
    ],
)
def test_released_before_any_notice_escalates_only_where_one_was_allowed(
    policy: Policy, escalated: bool, withheld: str | None
) -> None:
    world = flagged_world(policy)
    world.release(world.now)  # never scheduled: no notice_due before the release
    data = released_alert(world)
    assert data["notice_given"] is False and data["notice_withheld_by"] == withheld
    reasons = [e.data.reason for e in world.escalations]
    assert reasons == ([EscalationReason.RELEASED_WITHOUT_NOTICE] if escalated else [])


def test_the_rule_that_withheld_the_notice_is_kept_when_charges_change_later() -> None:
    world = flagged_world(LISTED, ("169A.20",))
    world.schedule(START + 10 * H)  # withheld: no listed charge at the time
    world.jail(f.charges("609.52", booking_id=world.booking_id))  # listed afterwards
    world.release(world.now + H)
    data = released_alert(world)
    assert data["notice_given"] is False
    assert data["notice_withheld_by"] == "listed_offenses: no charge under a listed statute"
    assert world.escalations == []


def test_a_withheld_notice_then_one_let_through_counts_as_given() -> None:
    world = flagged_world(LISTED, ("169A.20",))
    world.schedule(START + 10 * H)  # withheld
    world.jail(f.charges("609.52", booking_id=world.booking_id))
    world.schedule(START + 80 * H)  # moved out of the window: re-armed
    world.advance(40 * H)  # due again: now a listed charge, the notice goes
    world.release(world.now)
    data = released_alert(world)
    assert data["notice_given"] is True and data["notice_withheld_by"] is None
