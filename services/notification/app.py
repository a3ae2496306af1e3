"""Notification service wiring: notice.alerts.v1 + notice.acks.v1 (+ its own ack-timeout
ticks) -> notices.<agency>.v1, notices.subject-copies.v1, notice.audit.v1,
ops.escalations.v1, deadletter.v1.

The rules are in ``services.notification.domain``; the durable ack timers are the same
mechanism as the scheduling service's deadlines (``services.core.deadlines``).
"""

from __future__ import annotations

import faust
from pydantic import TypeAdapter

from schemas.notice_acks import NOTICE_ACK
from schemas.notice_alerts import NoticeAlert
from schemas.notices import Notice
from schemas.ticks import DEADLINE_TICK
from schemas.topics import (
    AUDIT,
    ESCALATIONS,
    NOTICE_ACKS,
    NOTICE_ALERTS,
    NOTIFICATION_TICKS,
    SUBJECT_COPIES,
    agency_notices,
)
from services.core import policy as policies
from services.core.clock import Clock, SystemClock
from services.core.deadlines import DeadlineIndex
from services.kafka.security import client_options
from services.kafka.topics import ensure_topics
from services.notification import domain
from services.ops.logging import get_logger
from services.settings import Settings
from services.streams.app import (
    Output,
    create_app,
    raw_topic,
    reroute_if_misplaced,
    route_inputs,
)
from services.streams.codec import RawMessage
from services.streams.deadletter import DeadLetterPublisher
from services.streams.records import RecordTable
from services.streams.timer import install_deadline_timer

SERVICE = "notification"
NOTICE_ALERT = TypeAdapter(NoticeAlert)
log = get_logger(__name__)


def build(settings: Settings, web_port: int, clock: Clock | None = None) -> faust.App:
    clock = clock or SystemClock()
    book = policies.load(settings.policy_file)
    app = create_app(SERVICE, settings, web_port)
    inputs = raw_topic(app, NOTICE_ALERTS, NOTICE_ACKS, NOTIFICATION_TICKS)
    metrics = app.metrics
    acks_topic = Output(app, NOTICE_ACKS, metrics)
    ticks = Output(app, NOTIFICATION_TICKS, metrics)
    copies = Output(app, SUBJECT_COPIES, metrics)
    ledger = Output(app, AUDIT, metrics)
    escalations = Output(app, ESCALATIONS, metrics)
    deadletters = DeadLetterPublisher(app, SERVICE, clock)
    index = DeadlineIndex()
    records = RecordTable(app, "notices", domain.NotificationRecord, settings.partitions, index)
    load = records.get
    agency_topics: dict[str, Output] = {}

    async def agency_topic(agency: str) -> Output:
        """notices.<agency>.v1, created the first time an agency is named."""
        if agency not in agency_topics:
            spec = agency_notices(agency)
            await ensure_topics(
                client_options(settings),
                settings.partitions,
                settings.replication_factor,
                [spec],
                min_insync_replicas=settings.min_insync_replicas,
            )
            agency_topics[agency] = Output(app, spec, metrics)
        return agency_topics[agency]

    async def publish(key: str, outcome: domain.Outcome) -> None:
        """Notices reach the broker (acknowledged) before the state that says so is written."""
        raw_key = key.encode()
        for notice in outcome.notices:
            topic = await agency_topic(notice.data.agency)
            await topic.send(raw_key, notice, wait=True)
            first = notice.data.attempt == 1
            _log_notice("notice_issued" if first else "notice_resent", notice)
            metrics.notices.labels(
                "issued" if first else "resent", str(notice.data.late).lower()
            ).inc()
        for copy in outcome.copies:
            await copies.send(raw_key, copy, wait=True)
        for escalation in outcome.escalations:
            await escalations.send(raw_key, escalation, wait=True)
            metrics.escalations.labels(escalation.data.reason.value).inc()
            log.warning(
                "escalation_raised",
                reason=escalation.data.reason.value,
                notice_id=escalation.data.notice_id,
                agency=escalation.data.agency,
            )
        for record in outcome.audit:
            await ledger.send(raw_key, record)
            if record.data.step.value == "suppressed":
                late = str(bool(record.data.detail.get("late"))).lower()
                metrics.notices.labels("suppressed", late).inc()
                log.info(
                    "notice_suppressed",
                    notice_id=record.data.notice_id,
                    agency=record.data.agency,
                    rule=record.data.rule,
                )

    def remember(key: str, outcome: domain.Outcome) -> None:
        records.put(key, outcome.record)

    async def on_alert(raw: RawMessage) -> None:
        alert = await deadletters.accept(raw, NOTICE_ALERT, ("notice.alert",))
        if alert is None:
            return
        policy = book.for_jurisdiction(alert.jurisdiction)
        outcome = domain.on_alert(load(alert.key), alert, policy, clock.now())
        if outcome.note == "duplicate":
            log.debug("duplicate_dropped", alert_id=alert.data.alert_id)
            return
        await publish(alert.key, outcome)
        remember(alert.key, outcome)

    async def on_ack(raw: RawMessage) -> None:
        ack = await deadletters.accept(raw, NOTICE_ACK, ("notice.acknowledged",))
        if ack is None:
            return
        if await reroute_if_misplaced(raw, ack.key, acks_topic, settings.partitions):
            return
        outcome = domain.on_ack(load(ack.key), ack, clock.now())
        if isinstance(outcome, domain.Rejected):
            await deadletters.refuse(raw, outcome.errors, ack)
            return
        if outcome.note == "duplicate":
            log.debug("duplicate_dropped", notice_id=ack.data.notice_id)
            return
        log.info("notice_acknowledged", notice_id=ack.data.notice_id, agency=ack.data.agency)
        await publish(ack.key, outcome)
        remember(ack.key, outcome)

    async def on_tick(raw: RawMessage) -> None:
        tick = await deadletters.accept(raw, DEADLINE_TICK, ("deadline.tick",))
        if tick is None:
            return
        record = load(tick.key)
        if record is None:
            index.set(tick.key, None)
            return
        policy = book.for_jurisdiction(record.jurisdiction)
        outcome = domain.on_tick(record, policy, clock.now())
        await publish(tick.key, outcome)
        remember(tick.key, outcome)

    handlers = {
        NOTICE_ALERTS.name: on_alert,
        NOTICE_ACKS.name: on_ack,
        NOTIFICATION_TICKS.name: on_tick,
    }
    route_inputs(app, SERVICE, inputs, handlers, deadletters.send_internal_error)
    install_deadline_timer(app, index, records, ticks, clock, settings.deadline_scan_interval, log)
    return app


def _log_notice(event: str, notice: Notice) -> None:
    data = notice.data  # never the subject: names and dates of birth stay out of logs
    log.info(
        event,
        notice_id=data.notice_id,
        kind=data.kind.value,
        agency=data.agency,
        attempt=data.attempt,
        lead_hours=data.lead_hours,
        late=data.late,
        alert_id=data.alert_id,
    )
