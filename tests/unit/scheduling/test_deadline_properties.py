"""Invariants of the deadline rules over random histories (hypothesis)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.scheduling import domain as rules
from tests.unit.scheduling.world import World

H = timedelta(hours=1)
REQUESTS = ("r1", "r2", "r3")

steps = st.lists(
    st.one_of(
        st.tuples(st.just("schedule"), st.integers(1, 24 * 8)),  # hours after now
        st.tuples(st.just("unschedule"), st.just(0)),
        st.tuples(st.just("request"), st.integers(0, 2)),
        st.tuples(st.just("withdraw"), st.integers(0, 2)),
        st.tuples(st.just("advance"), st.integers(1, 24 * 3)),
        st.tuples(st.just("window"), st.integers(0, 2)),  # a request with a 72 h window
    ),
    max_size=25,
)


def play(history: list[tuple[str, int]], released: bool) -> World:
    world = World()
    world.open()
    for action, value in history:
        if action == "schedule":
            world.schedule(world.now + value * H)
        elif action == "unschedule":
            world.unschedule()
        elif action == "request":
            world.request(REQUESTS[value])
        elif action == "window":
            world.request(REQUESTS[value], agency="usms", hours=72)
        elif action == "withdraw":
            world.withdraw(REQUESTS[value])
        else:
            world.advance(value * H)
    if released:
        world.release()
    return world


@settings(max_examples=400, deadline=None)
@given(steps, st.booleans())
def test_deadline_invariants(history: list[tuple[str, int]], released: bool) -> None:
    world = play(history, released)
    ids = [a.data.alert_id for a in world.alerts]
    assert len(ids) == len(set(ids)), "an alert id was emitted twice"

    for alert in world.alerts:
        data = alert.data
        if data.kind == "notice_due":
            # Never before due_at; late exactly when more than 60 s after it.
            assert data.due_at is not None
            assert data.emitted_at >= data.due_at
            assert data.late == ((data.emitted_at - data.due_at).total_seconds() > 60)

    # Nothing for a request after its withdrawal.
    assert world.record is not None
    for request in world.record.requests.values():
        if request.withdrawn_at is not None and not request.active:
            later = [
                a
                for a in world.alerts
                if a.data.request_id == request.request_id
                and a.data.emitted_at > request.withdrawn_at
            ]
            # A re-filed request is active again; only inactive ones must be silent.
            assert later == [], later

    # At most one notice_due per request filing and schedule revision (the filing is in the
    # id's request part: "r1", or "r1#2" when re-filed after a withdrawal).
    seen = [
        (a.data.alert_id.split("|")[1], a.data.schedule_revision)
        for a in world.of_kind("notice_due")
    ]
    assert len(seen) == len(set(seen))

    # Nothing is left owed: the timer fired everything that was due.
    assert rules.reconcile(world.record, world.now, None).alerts == ()

    # An active request whose scheduled release is inside its window has been told it.
    schedule = world.record.schedule
    if schedule and schedule.status == "scheduled" and schedule.release_at:
        for request in world.record.requests.values():
            if request.active and world.now >= schedule.release_at - request.window:
                assert request.told_release_at == schedule.release_at

    # released: once per request active at release; notice_given iff a notice_due came first
    # for the same filing.
    def filing(alert: object) -> str:
        return alert.data.alert_id.split("|")[1]  # type: ignore[attr-defined]

    for alert in world.of_kind("released"):
        notices = [a for a in world.of_kind("notice_due") if filing(a) == filing(alert)]
        assert alert.data.notice_given == bool(notices)
    released_ids = [a.data.request_id for a in world.of_kind("released")]
    assert len(released_ids) == len(set(released_ids))
    without = {a.data.request_id for a in world.of_kind("released") if not a.data.notice_given}
    assert {e.data.request_id for e in world.escalations} == without


@settings(max_examples=200, deadline=None)
@given(steps)
def test_replaying_the_same_history_gives_the_same_alert_ids(
    history: list[tuple[str, int]],
) -> None:
    first = [a.data.alert_id for a in play(history, True).alerts]
    second = [a.data.alert_id for a in play(history, True).alerts]
    assert first == second
