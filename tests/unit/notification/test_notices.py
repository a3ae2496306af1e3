from datetime import timedelta

import pytest

from schemas.audit import AuditStep
from schemas.notice_acks import NoticeAck
from schemas.notice_alerts import NoticeAlert
from services.core.policy import NoticeRule, Policy
from services.notification import domain as rules
from services.notification import overdue
from tests.unit.scheduling.world import START, World

H = timedelta(hours=1)
ALL = Policy()
NONE = Policy(notices=NoticeRule.NONE, legal_basis="5 ILCS 805")
LISTED = Policy(notices=NoticeRule.LISTED_OFFENSES, listed_statutes=("609.52",), subject_copy=True)
UNLISTED = Policy(notices=NoticeRule.LISTED_OFFENSES, listed_statutes=("PC 187",))
FAST = Policy(ack_timeout_minutes=30, max_resends=2)


def released(release_in: timedelta = 10 * H) -> World:
    world = World()
    world.open()
    world.request()
    world.schedule(START + release_in)
    world.release(START + release_in)
    return world


def alerts(release_in: timedelta = 10 * H) -> list[NoticeAlert]:
    return released(release_in).alerts  # notice_due (late, at once) and released


def known() -> rules.NotificationRecord:
    """The notification record once the booking's state was read: notices render from it."""
    return released().notification_record()


def ack(notice_id: str, agency: str = "dhs-ice", after: timedelta = H) -> NoticeAck:
    return NoticeAck(
        event_id=f"ack-{notice_id}",
        occurred_at=START + after,
        jurisdiction="us-mn-hennepin",
        booking_id="2027-000123",
        data={
            "notice_id": notice_id,
            "agency": agency,
            "acknowledged_at": START + after,
            "by": "ERO duty officer",
        },
    )


def test_a_notice_carries_every_field_an_agency_needs() -> None:
    due = alerts()[0]
    outcome = rules.on_alert(known(), due, ALL, START)
    [notice] = outcome.notices
    data = notice.data
    assert data.notice_id == rules.notice_id_for(due.data.alert_id)
    assert data.kind == "notice_due"
    assert (data.subject.first_name, data.subject.last_name) == ("Alexandra", "Quintanilla")
    assert data.subject.booking_id == "2027-000123"
    assert data.facility.timezone == "America/Chicago"
    assert data.release_at == START + 10 * H
    assert data.release_at_local is not None
    assert data.release_at_local.isoformat() == "2027-03-02T04:00:00-06:00"
    assert (data.lead_hours, data.late, data.attempt) == (10.0, True, 1)
    [issued] = outcome.audit
    assert issued.data.step is AuditStep.ISSUED
    assert issued.data.rule == "notices: all"


def test_a_repeated_alert_never_becomes_a_second_notice() -> None:
    due = alerts()[0]
    first = rules.on_alert(known(), due, ALL, START)
    assert isinstance(first, rules.Outcome)
    again = rules.on_alert(first.record, due, ALL, START + H)
    assert isinstance(again, rules.Duplicate)  # no notice, no ledger record


def test_a_none_jurisdiction_sends_nothing_and_records_the_rule() -> None:
    outcome = rules.on_alert(known(), alerts()[0], NONE, START)
    assert outcome.notices == ()
    assert outcome.copies == ()
    [suppressed] = outcome.audit
    assert suppressed.data.step is AuditStep.SUPPRESSED
    assert suppressed.data.rule == "notices: none (5 ILCS 805)"


def test_listed_offenses_allow_a_listed_statute_and_owe_the_subject_a_copy() -> None:
    outcome = rules.on_alert(known(), alerts()[0], LISTED, START)
    assert len(outcome.notices) == 1
    assert outcome.copies == outcome.notices
    assert [a.data.step for a in outcome.audit] == [AuditStep.ISSUED, AuditStep.SUBJECT_COPY]
    assert outcome.audit[0].data.rule == "listed_offenses: 609.52"


def test_listed_offenses_suppress_an_unlisted_one() -> None:
    outcome = rules.on_alert(known(), alerts()[0], UNLISTED, START)
    assert outcome.notices == ()
    assert outcome.audit[0].data.rule is not None
    assert outcome.audit[0].data.rule.startswith("listed_offenses: no charge")


def test_an_unacknowledged_notice_is_resent_then_escalated() -> None:
    outcome = rules.on_alert(known(), alerts()[0], FAST, START)
    record = outcome.record
    notice_id = outcome.notices[0].data.notice_id
    assert record.next_due == START + 30 * timedelta(minutes=1)
    attempts = []
    now = START
    for _ in range(3):
        now = record.next_due  # type: ignore[assignment]
        tick = overdue.on_tick(record, FAST, now)
        record = tick.record
        attempts += [n.data.attempt for n in tick.notices]
        if tick.escalations:
            [escalation] = tick.escalations
            assert escalation.data.reason == "not_acknowledged"
            assert escalation.data.notice_id == notice_id
    assert attempts == [2, 3]
    assert record.next_due is None
    steps = [a.data.step for a in overdue.on_tick(record, FAST, now + H).audit]
    assert steps == []


def test_a_resend_keeps_the_notice_id() -> None:
    outcome = rules.on_alert(known(), alerts()[0], FAST, START)
    tick = overdue.on_tick(outcome.record, FAST, START + H)
    [again] = tick.notices
    assert again.data.notice_id == outcome.notices[0].data.notice_id
    assert again.event_id != outcome.notices[0].event_id
    assert [a.data.step for a in tick.audit] == [AuditStep.RESENT]


def test_an_acknowledgement_stops_the_resends() -> None:
    outcome = rules.on_alert(known(), alerts()[0], FAST, START)
    notice_id = outcome.notices[0].data.notice_id
    acked = rules.on_ack(outcome.record, ack(notice_id, after=10 * timedelta(minutes=1)), START)
    assert isinstance(acked, rules.Outcome)
    [record] = acked.audit
    assert record.data.step is AuditStep.ACKNOWLEDGED
    assert record.data.detail["within_timeout"] is True
    assert acked.record.next_due is None
    assert overdue.on_tick(acked.record, FAST, START + 5 * H).notices == ()


def test_a_late_acknowledgement_is_recorded_as_late() -> None:
    outcome = rules.on_alert(known(), alerts()[0], FAST, START)
    notice_id = outcome.notices[0].data.notice_id
    acked = rules.on_ack(outcome.record, ack(notice_id, after=2 * H), START + 2 * H)
    assert isinstance(acked, rules.Outcome)
    assert acked.audit[0].data.detail["within_timeout"] is False


@pytest.mark.parametrize(
    ("notice_id", "agency", "path"),
    [
        ("notice|nope", "dhs-ice", "data.notice_id"),
        (None, "usms", "data.agency"),
    ],
)
def test_acks_for_unknown_notices_or_from_another_agency_are_refused(
    notice_id: str | None, agency: str, path: str
) -> None:
    outcome = rules.on_alert(known(), alerts()[0], ALL, START)
    target = notice_id or outcome.notices[0].data.notice_id
    result = rules.on_ack(outcome.record, ack(target, agency=agency), START)
    assert isinstance(result, rules.Rejected)
    assert result.errors[0].path == path


def test_a_second_ack_is_a_duplicate() -> None:
    outcome = rules.on_alert(known(), alerts()[0], ALL, START)
    notice_id = outcome.notices[0].data.notice_id
    first = rules.on_ack(outcome.record, ack(notice_id), START)
    assert isinstance(first, rules.Outcome)
    second = rules.on_ack(first.record, ack(notice_id), START)
    assert isinstance(second, rules.Duplicate)


def test_a_released_notice_needs_no_acknowledgement() -> None:
    due, released = alerts()
    record = rules.on_alert(known(), due, FAST, START).record
    record = rules.on_ack(record, ack(rules.notice_id_for(due.data.alert_id)), START).record  # type: ignore[union-attr]
    outcome = rules.on_alert(record, released, FAST, START + 10 * H)
    assert outcome.notices[0].data.kind == "released"
    assert outcome.record.next_due is None
    assert outcome.audit[0].data.detail["notice_given"] is True
