"""Notices, policy, acknowledgements and escalation, black-box through the topics."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.notice_alerts import AlertKind, NoticeAlert, NoticeAlertData
from schemas.topics import (
    AGENCY_REQUESTS,
    AUDIT,
    DEADLETTER,
    ESCALATIONS,
    JAIL_BOOKING,
    NOTICE_ACKS,
    NOTICE_ALERTS,
    SUBJECT_COPIES,
)
from tests import factories as f
from tests.support.poll import until
from tests.support.topics import KafkaHelper, Watch

pytestmark = pytest.mark.integration
H = timedelta(hours=1)

POLICY = """
default:
  notices: all
  ack_timeout_minutes: 0.05   # 3 s, so the test sees resends and escalation
  max_resends: 1
jurisdictions:
  us-il-cook:
    notices: none
    legal_basis: "Illinois TRUST Act, 5 ILCS 805"
  us-ca-los-angeles:
    notices: listed_offenses
    listed_statutes: ["PC 211"]
    subject_copy: true
  us-mn-hennepin:
    ack_timeout_minutes: 10
  us-mn-ramsey:
    ack_timeout_minutes: 10
  us-az-maricopa:
    retire_after_days: 0.0001   # 8.6 s after a booking closes, then its stub as long
    forget_after_days: 0.0001
"""
ZONES = {
    "us-mn-hennepin": "America/Chicago",
    "us-mn-ramsey": "America/Chicago",
    "us-il-cook": "America/Chicago",
    "us-ca-los-angeles": "America/Los_Angeles",
    "us-az-maricopa": "America/Phoenix",
}


def now() -> datetime:
    return datetime.now(UTC)


async def flagged_booking(
    kafka: KafkaHelper, jurisdiction: str, statute: str = "609.52", release_in: timedelta = 10 * H
) -> str:
    """A booking flagged by dhs-ice whose release is inside the window: a late notice."""
    booking_id = f"nt-{uuid.uuid4().hex[:10]}"
    facility = {"id": "f1", "name": "County Jail", "timezone": ZONES[jurisdiction]}
    charge = {"charge_id": "c1", "statute": statute, "level": "felony"}
    booked = (now() - H).isoformat()
    await kafka.publish(
        JAIL_BOOKING.name,
        f.opened(
            booking_id=booking_id,
            jurisdiction=jurisdiction,
            occurred_at=booked,
            data={"facility": facility, "charges": [charge], "booked_at": booked},
        ),
    )
    await kafka.publish(
        AGENCY_REQUESTS.name,
        f.envelope(
            "notice_request.received",
            {"request_id": "ice-1", "agency": "dhs-ice"},
            booking_id=booking_id,
            jurisdiction=jurisdiction,
            occurred_at=now().isoformat(),
        ),
    )
    await kafka.publish(
        JAIL_BOOKING.name,
        f.scheduled(
            (now() + release_in).isoformat(), booking_id=booking_id, jurisdiction=jurisdiction
        ),
    )
    return f"{jurisdiction}/{booking_id}"


def of(key: str):
    return lambda record: record.key == key


def steps(audit: Watch, key: str) -> list[str]:
    return [r.value["data"]["step"] for r in audit.unique(of(key))]


@pytest.fixture
async def stack(start_service: Any, kafka: KafkaHelper, tmp_path: Path) -> dict[str, Watch]:
    policy = tmp_path / "policies.yaml"
    policy.write_text(POLICY)
    for name in ("booking", "scheduling", "notification"):
        start_service(name, RELEASEWATCH_POLICY_FILE=str(policy))
    return {
        topic: await kafka.watch(topic)
        for topic in (
            "notices.dhs-ice.v1",
            AUDIT.name,
            SUBJECT_COPIES.name,
            ESCALATIONS.name,
            NOTICE_ALERTS.name,
            DEADLETTER.name,
        )
    }


async def test_notices_follow_the_jurisdiction_policy_and_acks_stop_resends(
    stack: dict[str, Watch], kafka: KafkaHelper
) -> None:
    notices, audit = stack["notices.dhs-ice.v1"], stack[AUDIT.name]
    allowed = await flagged_booking(kafka, "us-mn-hennepin")
    forbidden = await flagged_booking(kafka, "us-il-cook")
    listed = await flagged_booking(kafka, "us-ca-los-angeles", statute="PC 211")
    unlisted = await flagged_booking(kafka, "us-ca-los-angeles", statute="PC 484")

    [notice] = await notices.wait_for_unique(of(allowed), 1, 90, "event_id", "notice")
    data = notice.value["data"]
    assert data["kind"] == "notice_due"
    assert data["late"] is True
    assert data["attempt"] == 1
    assert data["subject"]["first_name"] == f.PERSON["first_name"]
    local = datetime.fromisoformat(data["release_at_local"])
    assert local.utcoffset() in (timedelta(hours=-6), timedelta(hours=-5))  # Chicago
    assert local == datetime.fromisoformat(data["release_at"])

    await notices.wait_for_unique(of(listed), 1, 60)
    [copy] = await stack[SUBJECT_COPIES.name].wait_for_unique(of(listed), 1, 60)
    assert copy.value["data"]["notice_id"].startswith("notice|")

    for key in (forbidden, unlisted):
        [suppressed] = await audit.wait_for_unique(
            lambda r, key=key: r.key == key and r.value["data"]["step"] == "suppressed", 1, 60
        )
        assert suppressed.value["data"]["rule"]
    assert (
        "none"
        in audit.unique(lambda r: r.key == forbidden and r.value["data"]["step"] == "suppressed")[
            0
        ].value["data"]["rule"]
    )
    assert notices.matching(of(forbidden)) == []
    assert notices.matching(of(unlisted)) == []

    # The agency acknowledges: the ledger records it within the timeout.
    jurisdiction, booking_id = allowed.split("/")
    await kafka.publish(
        NOTICE_ACKS.name,
        f.envelope(
            "notice.acknowledged",
            {
                "notice_id": data["notice_id"],
                "agency": "dhs-ice",
                "acknowledged_at": now().isoformat(),
                "by": "ERO duty officer",
            },
            booking_id=booking_id,
            jurisdiction=jurisdiction,
            occurred_at=now().isoformat(),
        ),
    )
    [acked] = await audit.wait_for_unique(
        lambda r: r.key == allowed and r.value["data"]["step"] == "acknowledged", 1, 60
    )
    assert acked.value["data"]["detail"]["within_timeout"] is True
    assert steps(audit, allowed)[-2:] == ["issued", "acknowledged"] or "acknowledged" in steps(
        audit, allowed
    )


async def test_unacknowledged_notices_are_resent_then_escalated(
    stack: dict[str, Watch], kafka: KafkaHelper
) -> None:
    key = await flagged_booking(kafka, "us-az-maricopa")  # default policy: 3 s, 1 resend
    [escalation] = await stack[ESCALATIONS.name].wait_for_unique(
        lambda r: r.key == key and r.value["data"]["reason"] == "not_acknowledged", 1, 90
    )
    # The notices and the ledger are other topics, read by other consumers: wait for them too.
    sent = await stack["notices.dhs-ice.v1"].wait_for_unique(of(key), 2, 30)
    assert sorted(r.value["data"]["attempt"] for r in sent) == [1, 2]
    assert escalation.value["data"]["notice_id"].startswith("notice|")
    await stack[AUDIT.name].wait_for_unique(
        lambda r: r.key == key and r.value["data"]["step"] == "escalated", 1, 30
    )
    assert steps(stack[AUDIT.name], key)[-3:] == ["issued", "resent", "escalated"]

    # Released: nothing is owed any more, so all three services retire the booking (a stub),
    # then forget it: each changelog ends with a tombstone for it.
    jurisdiction, booking_id = key.split("/")
    await kafka.publish(
        JAIL_BOOKING.name,
        f.released(now().isoformat(), booking_id=booking_id, jurisdiction=jurisdiction),
    )
    tables = (("booking", "bookings"), ("scheduling", "bookings"), ("notification", "notices"))
    for service, table in tables:
        async with Watch(kafka.bootstrap, f"releasewatch-{service}-{table}-changelog") as log:
            await until(
                lambda log=log: (
                    [r.raw_value for r in log.records if r.key and key in r.key][-1:] == [None]
                ),
                90,
                f"{service}: a tombstone for the booking",
            )
            values = [r.value for r in log.records if r.key and key in r.key]
            stubs = [v for v in values if v and (v.get("retired") or v.get("stub"))]
            assert stubs, f"{service} wrote no stub before forgetting"
            assert "first_name" not in json.dumps(stubs[-1])
    # Forgotten by the booking service: a late jail event is one for a booking never opened.
    late = f.charges("609.52", booking_id=booking_id, jurisdiction=jurisdiction)
    await kafka.publish(JAIL_BOOKING.name, late)
    [letter] = await stack[DEADLETTER.name].wait_for_unique(
        lambda r: r.value["event_id"] == late["event_id"], 1, 60, "deadletter_id"
    )
    assert letter.value["reason"] == "inconsistent"
    assert "never opened" in letter.value["errors"][0]["message"]


async def test_a_repeated_alert_yields_one_notice_and_bad_acks_are_dead_lettered(
    stack: dict[str, Watch], kafka: KafkaHelper
) -> None:
    key = await flagged_booking(kafka, "us-mn-hennepin")
    [alert] = await stack[NOTICE_ALERTS.name].wait_for_unique(of(key), 1, 90)
    notices = stack["notices.dhs-ice.v1"]
    await notices.wait_for_unique(of(key), 1, 60)
    await kafka.publish(NOTICE_ALERTS.name, alert.raw_value, key=key)  # the same alert again
    jurisdiction, booking_id = key.split("/")
    unknown = f.envelope(
        "notice.acknowledged",
        {
            "notice_id": "notice|never-issued",
            "agency": "dhs-ice",
            "acknowledged_at": now().isoformat(),
            "by": "x",
        },
        booking_id=booking_id,
        jurisdiction=jurisdiction,
        occurred_at=now().isoformat(),
    )
    await kafka.publish(NOTICE_ACKS.name, unknown)
    await kafka.publish(NOTICE_ACKS.name, b"{not json", key=key)
    letters = await stack[DEADLETTER.name].wait_for_unique(
        lambda r: r.key == key and r.value["source_topic"] == NOTICE_ACKS.name,
        2,
        60,
        "deadletter_id",
    )
    assert sorted(r.value["reason"] for r in letters) == ["inconsistent", "invalid_json"]
    # The duplicate alert was handled before the acks (same partition, in order).
    firsts = [r for r in notices.matching(of(key)) if r.value["data"]["attempt"] == 1]
    assert len(firsts) == 1, [json.loads(r.raw_value or b"{}")["event_id"] for r in firsts]


async def test_the_agency_listener_acknowledges_and_the_report_matches_the_ledger(
    stack: dict[str, Watch], kafka: KafkaHelper, broker: Any, tmp_path: Path
) -> None:
    import asyncio
    import sys

    from tests.integration.conftest import ROOT, service_env

    # A jurisdiction no other test uses: the report covers the whole ledger.
    key = await flagged_booking(kafka, "us-mn-ramsey")
    await stack["notices.dhs-ice.v1"].wait_for_unique(of(key), 1, 90)
    env = service_env(broker, tmp_path)
    listener = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "agency",
        "listen",
        "--agency",
        "dhs-ice",
        "--by",
        "test officer",
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        [acked] = await stack[AUDIT.name].wait_for_unique(
            lambda r: r.key == key and r.value["data"]["step"] == "acknowledged", 1, 60
        )
        assert acked.value["data"]["detail"]["by"] == "test officer"
    finally:
        listener.terminate()
        await listener.wait()

    report = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "report",
        "--jurisdiction",
        "us-mn-ramsey",
        "--format",
        "json",
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(report.communicate(), 60)
    [row] = json.loads(out)
    ledger = stack[AUDIT.name].unique(lambda r: r.jurisdiction_is("us-mn-ramsey"))
    issued = [r for r in ledger if r.value["data"]["step"] == "issued"]
    acks = [r for r in ledger if r.value["data"]["step"] == "acknowledged"]
    assert row["notices_issued"] >= len(issued) >= 1
    assert row["acknowledged_within_timeout"] + row["acknowledged_late"] >= len(acks) >= 1
    assert row["flagged_releases_without_notice"] == 0


async def test_how_far_notices_are_behind_their_alerts_is_a_metric(
    start_service: Any, kafka: KafkaHelper
) -> None:
    """#47: an alert read 90 s after it was emitted (a burst's backlog) shows as the wait,
    against the limit ReleasewatchNoticesBehindAlerts pages at (here set to 45 s)."""
    notification = start_service("notification", RELEASEWATCH_ALERT_WAIT_LIMIT="45")
    booking = f"wait-{uuid.uuid4().hex[:8]}"
    emitted = now() - timedelta(seconds=90)
    alert = NoticeAlert(
        event_id=f"alert-{booking}",
        occurred_at=emitted,
        jurisdiction="us-mn-hennepin",
        booking_id=booking,
        data=NoticeAlertData(
            alert_id=f"alert-{booking}",
            kind=AlertKind.NOTICE_DUE,
            request_id=f"req-{booking}",
            agency="dhs-ice",
            release_at=emitted + timedelta(hours=47),
            window_hours=48,
            due_at=emitted,
            emitted_at=emitted,
            lead_hours=47.0,
            late=True,
            schedule_revision=1,
            booking_revision=1,
        ),
    )
    await kafka.publish(NOTICE_ALERTS.name, json.loads(alert.model_dump_json()))

    def waited() -> float:
        return notification.metrics().get("releasewatch_alert_wait_seconds", 0.0)

    await until(lambda: waited() >= 90, 90, "the alert's wait on /metrics")
    assert waited() < 600
    assert notification.metrics()["releasewatch_alert_wait_limit_seconds"] == 45
