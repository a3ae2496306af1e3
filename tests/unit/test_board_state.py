"""The board's statuses, folded from topic messages in any order (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.board.state import BoardState
from services.board.statuses import Facts, Sent, Status, detail, notice_name, status_of
from services.board.view import view

NOW = datetime(2027, 3, 2, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
KEY = "us-mn-hennepin/2027-000123"
NOTICE = "notice|us-mn-hennepin/2027-000123|r1|notice_due|r1"


def booking_state(key: str = KEY) -> dict[str, Any]:
    facility = {"id": "hcj", "name": "Hennepin County Jail", "timezone": "America/Chicago"}
    return {"data": {"facility": facility, "person": {"first_name": "Alexandra"}}}


def schedule(release_in: timedelta, status: str = "scheduled") -> dict[str, Any]:
    release = (NOW + release_in).isoformat()
    return {
        "data": {"status": status, "release_at": release, "facility_timezone": "America/Chicago"}
    }


def request(request_id: str = "r1", hours: int | None = None) -> dict[str, Any]:
    data = {"request_id": request_id, "agency": "dhs-ice", "notice_hours": hours}
    return {"type": "notice_request.received", "data": data}


def notice(
    lead: float, late: bool = False, attempt: int = 1, at: datetime = NOW, kind: str = "notice_due"
) -> dict[str, Any]:
    return {
        "data": {
            "notice_id": NOTICE,
            "request_id": "r1",
            "kind": kind,
            "agency": "dhs-ice",
            "issued_at": at.isoformat(),
            "attempt": attempt,
            "late": late,
            "lead_hours": lead,
        }
    }


def audit(step: str, **data: Any) -> dict[str, Any]:
    return {"data": {"step": step, "at": NOW.isoformat(), **data}}


def fed(release_in: timedelta = 72 * H, status: str = "scheduled") -> BoardState:
    state = BoardState()
    state.apply("booking.state.v1", KEY, booking_state())
    state.apply("agency.requests.v1", KEY, request())
    state.apply("release.schedule.v1", KEY, schedule(release_in, status))
    return state


def only_row(state: BoardState, now: datetime = NOW) -> dict[str, Any]:
    [row] = view(state, now)["releases"]
    return row


def test_a_flagged_release_not_yet_due_is_upcoming_with_its_due_time_in_local_text() -> None:
    row = only_row(fed())
    assert row["status"] == "upcoming"
    assert row["seconds_to_release"] == 3 * 86400
    assert row["seconds_to_due"] == 86400  # 48 h before release
    assert row["due_local"] == "Mar 03 06:00 CST"
    assert row["detail"] == "48 h notice due Mar 03 06:00 CST"
    assert "Alexandra" not in str(view(fed(), NOW))


def test_past_due_with_no_notice_is_overdue_after_the_late_threshold_and_needs_action() -> None:
    state = fed(release_in=48 * H - timedelta(seconds=30))
    assert only_row(state)["status"] == "upcoming"  # 30 s past due: not yet late
    state = fed(release_in=47 * H)
    row = only_row(state)
    assert (row["status"], row["needs_action"]) == ("overdue", True)
    assert "none was sent" in row["detail"] and "1 h ago" in row["detail"]


def test_a_notice_sent_in_time_awaits_acknowledgement_then_names_who_acknowledged() -> None:
    state = fed()
    state.apply("notices.dhs-ice.v1", KEY, notice(lead=50.5))
    row = only_row(state)
    assert row["status"] == "sent"
    assert (
        row["detail"]
        == "sent Mar 02 06:00 CST, 50 h 30 min ahead, attempt 1; awaiting acknowledgement"
    )
    assert view(state, NOW)["awaiting_ack"][0]["name"] == (
        "Release notice to dhs-ice, booking 2027-000123"
    )
    state.apply(
        "notice.audit.v1", KEY, audit("acknowledged", notice_id=NOTICE, detail={"by": "ERO"})
    )
    row = only_row(state)
    assert row["status"] == "acknowledged"
    assert row["detail"].endswith("acknowledged by ERO at Mar 02 06:00 CST")
    assert view(state, NOW)["awaiting_ack"] == []


def delivery(attempt: int, result: str, status: int | None, error: str | None = None) -> dict:
    data = {"notice_id": NOTICE, "channel": "webhook", "attempt": attempt, "result": result}
    return {"type": "notice.delivery", "data": {**data, "status": status, "error": error}}


def test_each_channel_beyond_kafka_shows_its_latest_attempt_in_any_order() -> None:
    state = fed()
    state.apply("notices.dhs-ice.v1", KEY, notice(lead=50.5))
    state.apply("notice.audit.v1", KEY, delivery(1, "retrying", 503))
    assert only_row(state)["detail"] == (
        "sent Mar 02 06:00 CST, 50 h 30 min ahead, attempt 1; webhook: retrying (HTTP 503); "
        "awaiting acknowledgement"
    )
    state.apply("notice.audit.v1", KEY, delivery(3, "delivered", 200))
    state.apply("notice.audit.v1", KEY, delivery(2, "retrying", None, "timeout: no answer"))
    assert "webhook: delivered (HTTP 200), attempt 3;" in only_row(state)["detail"]
    gone = fed()
    gone.apply("notice.audit.v1", KEY, delivery(1, "gave_up", None, "TLS: bad certificate"))
    gone.apply("notices.dhs-ice.v1", KEY, notice(lead=50.5))
    assert "webhook: gave up (TLS: bad certificate);" in only_row(gone)["detail"]


def test_an_acknowledgement_read_before_its_notice_still_counts() -> None:
    state = fed()
    state.apply(
        "notice.audit.v1", KEY, audit("acknowledged", notice_id=NOTICE, detail={"by": "ERO"})
    )
    state.apply("notices.dhs-ice.v1", KEY, notice(lead=50))
    assert only_row(state)["status"] == "acknowledged"
    assert view(state, NOW)["awaiting_ack"] == []  # a repeat after the ack is not awaited


def test_a_late_notice_says_by_how_much_and_stays_late_once_acknowledged() -> None:
    state = fed(release_in=10 * H)
    state.apply("notices.dhs-ice.v1", KEY, notice(lead=10.25, late=True))
    row = only_row(state)
    assert row["status"] == "late"
    assert row["detail"].startswith("late by 37 h 45 min: sent")
    state.apply(
        "notice.audit.v1", KEY, audit("acknowledged", notice_id=NOTICE, detail={"by": "ERO"})
    )
    assert only_row(state)["status"] == "late"
    assert "acknowledged by ERO" in only_row(state)["detail"]


def test_a_notice_withheld_by_policy_names_the_rule_and_is_not_overdue() -> None:
    state = fed(release_in=10 * H)
    rule = "notices: none (Or. Rev. Stat. 181A.820)"
    state.apply(
        "notice.audit.v1",
        KEY,
        audit("suppressed", request_id="r1", rule=rule, detail={"kind": "notice_due"}),
    )
    row = only_row(state)
    assert (row["status"], row["needs_action"]) == ("suppressed", False)
    assert row["detail"] == f"no notice sent: withheld by {rule}"


def test_released_rows_say_what_notice_was_given() -> None:
    state = fed(release_in=-2 * H, status="released")
    assert only_row(state)["detail"] == "released; no notice given"
    state.apply("notices.dhs-ice.v1", KEY, notice(lead=49, at=NOW - 51 * H))
    row = only_row(state)
    assert row["status"] == "released" and row["seconds_to_release"] is None
    assert "notice sent Feb 28 03:00 CST, 49 h ahead" in row["detail"]
    withheld = fed(release_in=-2 * H, status="transferred")
    withheld.apply(
        "notice.audit.v1",
        KEY,
        audit("suppressed", request_id="r1", rule="notices: none", detail={"kind": "notice_due"}),
    )
    assert only_row(withheld)["detail"] == "released; no notice given, withheld by notices: none"


def test_an_escalation_outranks_what_else_happened_and_follows_an_overdue_row() -> None:
    state = fed(release_in=-1 * H, status="released")
    state.apply("notices.dhs-ice.v1", KEY, notice(lead=49))
    other = "us-mn-hennepin/2027-000999"
    state.apply("agency.requests.v1", other, request())
    state.apply("release.schedule.v1", other, schedule(30 * H))
    state.apply(
        "ops.escalations.v1",
        KEY,
        {
            "data": {
                "escalation_id": "e1",
                "reason": "not_acknowledged",
                "request_id": "r1",
                "key": KEY,
                "at": NOW.isoformat(),
                "detail": "sent 4 times",
            }
        },
    )
    rows = view(state, NOW)["releases"]
    assert [r["status"] for r in rows] == ["overdue", "escalated"]
    assert rows[1]["detail"] == "not_acknowledged: sent 4 times"


def test_rows_needing_action_come_first_and_counters_are_per_jurisdiction() -> None:
    state = BoardState()
    cases = {
        "us-mn-hennepin/a": 10 * H,  # notice due 38 h ago: overdue
        "us-mn-hennepin/b": 60 * H,  # upcoming
        "us-or-multnomah/c": 70 * H,  # upcoming
    }
    for key, release_in in cases.items():
        state.apply("agency.requests.v1", key, request())
        state.apply("release.schedule.v1", key, schedule(release_in))
    page = view(state, NOW)
    assert [r["key"] for r in page["releases"]] == list(cases)
    assert page["counts"] == {
        "us-mn-hennepin": {"overdue": 1, "upcoming": 1},
        "us-or-multnomah": {"upcoming": 1},
    }
    assert [s["status"] for s in page["statuses"]][:2] == ["overdue", "escalated"]
    assert [r["key"] for r in view(state, NOW, jurisdiction="us-or-multnomah")["releases"]] == [
        "us-or-multnomah/c"
    ]


def test_a_resent_notice_updates_the_attempt_and_an_older_one_read_later_does_not() -> None:
    state = fed()
    state.apply("notices.dhs-ice.v1", KEY, notice(lead=50, attempt=2, at=NOW + H))
    state.apply("notices.dhs-ice.v1", KEY, notice(lead=50, attempt=1))
    assert "attempt 2" in only_row(state, NOW + H)["detail"]


def test_the_window_follows_the_request_or_the_policy_default() -> None:
    state = BoardState()
    state.apply("agency.requests.v1", KEY, request(hours=72))
    state.apply("release.schedule.v1", KEY, schedule(80 * H))
    assert only_row(state)["detail"].startswith("72 h notice due")
    state.apply("notice.alerts.v1", KEY, {"data": {"request_id": "r1", "window_hours": 24}})
    assert only_row(state)["detail"].startswith("24 h notice due")


def test_unflagged_withdrawn_unscheduled_or_distant_releases_are_not_shown() -> None:
    state = fed()
    state.apply(
        "agency.requests.v1",
        KEY,
        {"type": "notice_request.withdrawn", "data": {"request_id": "r1"}},
    )
    assert view(state, NOW)["releases"] == []
    assert view(fed(release_in=9 * 24 * H), NOW)["releases"] == []
    assert view(fed(status="unscheduled"), NOW)["releases"] == []
    assert view(fed(release_in=-8 * 24 * H, status="released"), NOW)["releases"] == []


def test_filters_escalations_and_dead_letters() -> None:
    state = fed()
    state.apply(
        "ops.escalations.v1", KEY, {"data": {"escalation_id": "e1", "reason": "not_acknowledged"}}
    )
    for _ in range(2):  # the same dead letter twice counts once
        state.apply("deadletter.v1", None, {"deadletter_id": "t:0:1", "reason": "schema"})
    state.apply("deadletter.v1", None, {"deadletter_id": "t:0:2", "reason": "invalid_json"})
    page = view(state, NOW)
    assert page["dead_letters"] == {"invalid_json": 1, "schema": 1}
    assert len(page["escalations"]) == 1
    assert view(state, NOW, jurisdiction="us-ca-los-angeles")["releases"] == []
    assert view(state, NOW, facility="hcj")["releases"] != []


@pytest.mark.parametrize(
    ("facts", "status"),
    [
        (Facts(48, "scheduled", NOW + 49 * H, "UTC"), Status.UPCOMING),
        (Facts(48, "scheduled", NOW + 48 * H - timedelta(seconds=61), "UTC"), Status.OVERDUE),
        (Facts(48, "scheduled", None, "UTC"), Status.UPCOMING),
        (Facts(48, "released", NOW, "UTC"), Status.RELEASED),
        (Facts(48, "released", NOW, "UTC", escalation="released_without_notice"), Status.ESCALATED),
        (Facts(48, "scheduled", NOW, "UTC", withheld_by="notices: none"), Status.SUPPRESSED),
        (Facts(48, "released", NOW, "UTC", withheld_by="notices: none"), Status.RELEASED),
        (Facts(48, "scheduled", NOW, "UTC", notice=Sent("n", NOW, 1.0, True)), Status.LATE),
        (Facts(48, "scheduled", NOW, "UTC", notice=Sent("n", NOW, 49.0, False)), Status.SENT),
        (
            Facts(48, "scheduled", NOW, "UTC", notice=Sent("n", NOW, 49.0, False, 1, "ERO", NOW)),
            Status.ACKNOWLEDGED,
        ),
    ],
)
def test_status_rules(facts: Facts, status: Status) -> None:
    assert status_of(facts, NOW) is status
    assert detail(facts, status, NOW)  # every status says something


@pytest.mark.parametrize(
    ("kind", "attempt", "name"),
    [
        ("notice_due", 1, "Release notice to dhs-ice, booking 2027-1"),
        ("notice_due", 3, "Release notice to dhs-ice, booking 2027-1 (attempt 3)"),
        ("release_changed", 1, "Release change to dhs-ice, booking 2027-1"),
        ("release_cancelled", 2, "Release cancellation to dhs-ice, booking 2027-1 (attempt 2)"),
        ("something_new", 1, "Notice to dhs-ice, booking 2027-1"),
    ],
)
def test_notices_have_readable_names(kind: str, attempt: int, name: str) -> None:
    assert notice_name(kind, "dhs-ice", "2027-1", attempt) == name


def alert(alert_id: str, emitted: datetime) -> dict[str, Any]:
    data = {"alert_id": alert_id, "emitted_at": emitted.isoformat(), "request_id": "r1"}
    return {"type": "notice.alert", "data": data}


def test_a_burst_shows_as_alerts_waiting_for_their_notice_until_each_is_out() -> None:
    """#47: alerts read with no notice yet are counted with the oldest one's wait; a notice
    (or the policy withholding it) ends the wait, in whichever order the topics arrive."""
    state = BoardState()
    for n in range(3):
        state.apply("notice.alerts.v1", KEY, alert(f"a{n}", NOW - timedelta(seconds=40 - n)))
    state.apply("notices.dhs-ice.v1", KEY, {"data": {"alert_id": "a9"}})  # before its alert
    state.apply("notice.alerts.v1", KEY, alert("a9", NOW - timedelta(seconds=50)))
    assert view(state, NOW)["alerts_waiting"] == {"count": 3, "oldest_seconds": 40}
    state.apply("notices.dhs-ice.v1", KEY, {"data": {"alert_id": "a0"}})
    suppressed = {"data": {"step": "suppressed", "alert_id": "a1", "detail": {}}}
    state.apply("notice.audit.v1", KEY, suppressed)
    assert view(state, NOW)["alerts_waiting"] == {"count": 1, "oldest_seconds": 38}
    state.apply("notices.dhs-ice.v1", KEY, {"data": {"alert_id": "a2"}})
    assert view(state, NOW)["alerts_waiting"] == {"count": 0, "oldest_seconds": 0}


def test_an_alert_waiting_over_an_hour_is_no_longer_a_burst() -> None:
    state = BoardState()
    state.apply("notice.alerts.v1", KEY, alert("old", NOW - 2 * H))
    state.apply("notice.alerts.v1", KEY, alert("new", NOW - timedelta(seconds=5)))
    assert view(state, NOW)["alerts_waiting"] == {"count": 1, "oldest_seconds": 5}
