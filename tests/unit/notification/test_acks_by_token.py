"""What a genuine acknowledgement token may acknowledge (``acks.by_token``): once, the
notice its agency was sent, never a withheld or unknown one."""

from __future__ import annotations

from datetime import timedelta

from schemas.notice_acks import NoticeAck
from services.core.ack_tokens import Claims
from services.core.policy import NoticeRule, Policy
from services.notification import domain as rules
from services.notification.acks import Refused, by_token
from tests.unit.notification.test_notices import alerts, known
from tests.unit.scheduling.world import START

H = timedelta(hours=1)


ALL = Policy()


def issued(policy: Policy = ALL) -> tuple[rules.NotificationRecord, str]:
    outcome = rules.on_alert(known(), alerts()[0], policy, START)
    assert isinstance(outcome, rules.Outcome)
    [state] = outcome.record.notices.values()
    return outcome.record, state.notice_id


def claims(notice_id: str, agency: str = "dhs-ice") -> Claims:
    return Claims(notice_id, agency, "us-mn-hennepin/2027-000123", START + 7 * 24 * H)


def test_a_genuine_token_acknowledges_its_notice_as_a_kafka_ack_would() -> None:
    record, notice_id = issued()
    ack = by_token(record, claims(notice_id), " ERO duty officer ", START + H)
    assert isinstance(ack, NoticeAck)
    assert ack.event_id == f"ack|http|{notice_id}"  # two racing uses write one ack
    assert (ack.jurisdiction, ack.booking_id) == ("us-mn-hennepin", "2027-000123")
    assert ack.data.by == "ERO duty officer" and ack.data.acknowledged_at == START + H
    after = rules.on_ack(record, ack, START + H)
    assert isinstance(after, rules.Outcome)
    assert [a.data.step for a in after.audit] == ["acknowledged"]


def test_a_token_is_used_once() -> None:
    record, notice_id = issued()
    ack = by_token(record, claims(notice_id), "", START + H)
    assert isinstance(ack, NoticeAck) and ack.data.by == "web acknowledgement"
    acked = rules.on_ack(record, ack, START + H)
    again = by_token(acked.record, claims(notice_id), "", START + 2 * H)
    assert isinstance(again, Refused) and again.status == 410
    assert "already acknowledged" in again.reason and "web acknowledgement" in again.reason


def test_no_notice_here_is_404() -> None:
    record, notice_id = issued()
    assert by_token(None, claims(notice_id), "", START).status == 404  # type: ignore[union-attr]
    assert by_token(record, claims("notice|other"), "", START).status == 404  # type: ignore[union-attr]


def test_another_agencys_token_is_refused() -> None:
    record, notice_id = issued()
    refused = by_token(record, claims(notice_id, "usms"), "", START)
    assert isinstance(refused, Refused) and refused.status == 404
    assert "dhs-ice" in refused.reason


def test_a_withheld_notice_cannot_be_acknowledged() -> None:
    record, notice_id = issued(Policy(notices=NoticeRule.NONE))
    refused = by_token(record, claims(notice_id), "", START)
    assert isinstance(refused, Refused) and refused.status == 404


def test_a_retired_bookings_notice_is_gone() -> None:
    record, notice_id = issued()
    stub = rules.NotificationRecord(
        jurisdiction=record.jurisdiction,
        booking_id=record.booking_id,
        retired=True,
        issued=(notice_id,),
    )
    refused = by_token(stub, claims(notice_id), "", START)
    assert isinstance(refused, Refused) and refused.status == 410
