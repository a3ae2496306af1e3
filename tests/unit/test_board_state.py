from datetime import UTC, datetime, timedelta

from services.board.state import BoardState

NOW = datetime(2027, 3, 2, 12, 0, tzinfo=UTC)
KEY = "us-mn-hennepin/2027-000123"


def fed() -> BoardState:
    state = BoardState()
    state.apply(
        "booking.state.v1",
        KEY,
        {
            "data": {
                "facility": {
                    "id": "hcj",
                    "name": "Hennepin County Jail",
                    "timezone": "America/Chicago",
                },
                "person": {"first_name": "Alexandra"},
            }
        },
    )
    state.apply(
        "agency.requests.v1",
        KEY,
        {"type": "notice_request.received", "data": {"request_id": "r1", "agency": "dhs-ice"}},
    )
    state.apply(
        "release.schedule.v1",
        KEY,
        {
            "data": {
                "status": "scheduled",
                "release_at": (NOW + timedelta(days=3)).isoformat(),
                "facility_timezone": "America/Chicago",
            }
        },
    )
    return state


def test_a_flagged_release_within_seven_days_is_upcoming_with_countdowns() -> None:
    [row] = fed().view(NOW)["upcoming"]
    assert row["key"] == KEY
    assert row["agency"] == "dhs-ice"
    assert row["timezone"] == "America/Chicago"
    assert row["seconds_to_release"] == 3 * 86400
    assert row["seconds_to_due"] == 86400  # 48 h before release
    assert "Alexandra" not in str(fed().view(NOW))


def test_unflagged_withdrawn_or_distant_releases_are_not_upcoming() -> None:
    state = fed()
    state.apply(
        "agency.requests.v1",
        KEY,
        {"type": "notice_request.withdrawn", "data": {"request_id": "r1"}},
    )
    assert state.view(NOW)["upcoming"] == []
    state = fed()
    state.apply(
        "release.schedule.v1",
        KEY,
        {"data": {"status": "scheduled", "release_at": (NOW + timedelta(days=9)).isoformat()}},
    )
    assert state.view(NOW)["upcoming"] == []


def test_a_notice_awaits_acknowledgement_until_the_ledger_records_it() -> None:
    state = fed()
    notice = {
        "data": {
            "notice_id": "n1",
            "kind": "notice_due",
            "agency": "dhs-ice",
            "issued_at": NOW.isoformat(),
            "attempt": 1,
            "late": True,
            "lead_hours": 10.0,
        }
    }
    state.apply("notices.dhs-ice.v1", KEY, notice)
    view = state.view(NOW)
    assert [r["notice_id"] for r in view["awaiting_ack"]] == ["n1"]
    assert [r["notice_id"] for r in view["late_notices"]] == ["n1"]
    state.apply("notice.audit.v1", KEY, {"data": {"step": "acknowledged", "notice_id": "n1"}})
    state.apply("notices.dhs-ice.v1", KEY, notice)  # a repeat after the ack
    assert state.view(NOW)["awaiting_ack"] == []


def test_filters_escalations_and_dead_letters() -> None:
    state = fed()
    state.apply(
        "ops.escalations.v1", KEY, {"data": {"escalation_id": "e1", "reason": "not_acknowledged"}}
    )
    for _ in range(2):  # the same dead letter twice counts once
        state.apply("deadletter.v1", None, {"deadletter_id": "t:0:1", "reason": "schema"})
    state.apply("deadletter.v1", None, {"deadletter_id": "t:0:2", "reason": "invalid_json"})
    view = state.view(NOW)
    assert view["dead_letters"] == {"invalid_json": 1, "schema": 1}
    assert len(view["escalations"]) == 1
    assert state.view(NOW, jurisdiction="us-ca-los-angeles")["upcoming"] == []
    assert state.view(NOW, facility="hcj")["upcoming"] != []
