from datetime import timedelta

from schemas.audit import DeliveryResult
from services.core.policy import NoticeRule, Policy
from services.notification import domain as rules
from services.notification import overdue
from services.notification.report import compile_report, render
from tests.unit.notification.test_delivery import REGISTRY, answer, issued
from tests.unit.scheduling.world import START, World

H = timedelta(hours=1)


def ledger() -> list[dict]:
    """Ledger records produced by the real rules for three bookings."""
    records = []
    for booking, policy, release_in, ack in (
        ("b1", Policy(), 60 * H, True),
        ("b2", Policy(), 10 * H, False),
        ("b3", Policy(notices=NoticeRule.NONE, legal_basis="5 ILCS 805"), 30 * H, False),
    ):
        world = World(booking_id=booking, policy=policy)  # both services read one policy
        world.open()
        filed = world.request()
        records += [a.model_dump(mode="json") for a in filed.audit]  # type: ignore[union-attr]
        world.schedule(START + release_in)
        world.advance(release_in)
        world.release()
        record = world.notification_record()
        for alert in world.alerts:
            outcome = rules.on_alert(record, alert, policy, alert.data.emitted_at)
            record = outcome.record
            records += [a.model_dump(mode="json") for a in outcome.audit]
            if ack and outcome.notices:
                from schemas.notice_acks import NoticeAck

                acked = rules.on_ack(
                    record,
                    NoticeAck(
                        event_id=f"ack-{booking}",
                        occurred_at=alert.data.emitted_at,
                        jurisdiction=alert.jurisdiction,
                        booking_id=booking,
                        data={
                            "notice_id": outcome.notices[0].data.notice_id,
                            "agency": "dhs-ice",
                            "acknowledged_at": alert.data.emitted_at,
                            "by": "x",
                        },
                    ),
                    alert.data.emitted_at,
                )
                assert isinstance(acked, rules.Outcome)
                record = acked.record
                records += [a.model_dump(mode="json") for a in acked.audit]
                ack = False
    return records


def test_the_report_counts_what_the_ledger_says() -> None:
    [row] = compile_report(ledger() * 2)  # repeats (same ids) count once
    assert row.jurisdiction == "us-mn-hennepin"
    assert row.requests_received == 3
    assert row.notices_issued == 4  # notice_due and released, for b1 and b2
    assert row.notices_suppressed == 2
    assert row.suppressed_by_rule == {"notices: none (5 ILCS 805)": 2}
    assert row.notices_late == 2  # b2 (10 h of notice) and b3 (suppressed but late)
    assert row.min_lead_hours == 10.0
    assert row.median_lead_hours == 29.0
    assert row.acknowledged_within_timeout == 1
    assert row.flagged_releases_without_notice == 0
    # b3's notice was withheld by Illinois law: no notice given, and no ops failure either.
    assert row.releases_notice_withheld_by_policy == 1


def test_the_ledger_says_a_withheld_notice_was_not_given_and_names_the_rule() -> None:
    released = [
        r
        for r in ledger()
        if r["booking_id"] == "b3" and r["data"]["detail"].get("kind") == "released"
    ]
    assert [r["data"]["step"] for r in released] == ["suppressed"]
    detail = released[0]["data"]["detail"]
    assert detail["notice_given"] is False
    assert detail["notice_withheld_by"] == "notices: none (5 ILCS 805)"
    assert released[0]["data"]["rule"] == "notices: none (5 ILCS 805)"


def test_filters_and_formats() -> None:
    records = ledger()
    assert compile_report(records, jurisdiction="us-ca-los-angeles") == []
    assert compile_report(records, since=START + 1000 * H) == []
    rows = compile_report(records)
    assert render(rows, "csv").splitlines()[0].startswith("jurisdiction,requests_received")
    assert '"notices_issued": 4' in render(rows, "json")
    assert "flagged releases without notice" in render(rows, "table")


def test_notice_given_means_a_channel_confirmed_it_or_the_agency_acknowledged() -> None:
    """b1 acknowledged, b2 not: on Kafka alone b2's two notices are unconfirmed. With its
    notice_due delivered by webhook (2xx) one of them is confirmed; a webhook that ended
    undelivered is counted, and confirms nothing."""
    records = ledger()
    [row] = compile_report(records)
    assert (row.notices_delivered, row.notices_confirmed, row.notices_unconfirmed) == (0, 1, 3)
    assert "notices unconfirmed" in render([row], "table")

    b2_due = next(
        r
        for r in records
        if r["booking_id"] == "b2"
        and r["data"].get("step") == "issued"
        and r["data"]["detail"]["kind"] == "notice_due"
    )
    sent = issued()
    done = overdue.on_answers(sent.record, (answer(sent, START, 200),), Policy(), START, REGISTRY)
    [delivery] = done.deliveries
    assert delivery.data.result is DeliveryResult.DELIVERED
    confirmed = delivery.model_dump(mode="json")
    confirmed["data"]["notice_id"] = b2_due["data"]["notice_id"]
    gave_up = {**confirmed, "event_id": "delivery|other|8"}
    gave_up["data"] = {**confirmed["data"], "result": "gave_up", "notice_id": "notice|other"}
    [row] = compile_report([*records, confirmed, gave_up])
    assert (row.notices_delivered, row.notices_confirmed, row.notices_unconfirmed) == (1, 2, 2)
    assert row.deliveries_undelivered == 1
