"""Notification service wiring: notice.alerts.v1 + notice.acks.v1 (+ its own ack-timeout
ticks) -> notices.<agency>.v1, notices.subject-copies.v1, notice.audit.v1,
ops.escalations.v1, deadletter.v1.

The rules are in ``services.notification.domain``; the durable ack timers are the same
mechanism as the scheduling service's deadlines (``services.runtime.deadlines``).
"""

from __future__ import annotations

from typing import Any

import faust
import structlog
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
from services.notification import domain
from services.runtime import policy as policies
from services.runtime.app import consume, create_app, raw_topic, reroute_if_misplaced
from services.runtime.clock import Clock, SystemClock
from services.runtime.codec import Decoded, RawMessage, decode, encode
from services.runtime.deadletter import DeadLetterPublisher
from services.runtime.deadlines import DeadlineIndex, install_deadline_timer
from services.runtime.logging import get_logger
from services.runtime.settings import Settings
from services.runtime.topics import ensure_topics

SERVICE = "notification"
NOTICE_ALERT = TypeAdapter(NoticeAlert)
log = get_logger(__name__)


def build(settings: Settings, web_port: int, clock: Clock | None = None) -> faust.App:
    clock = clock or SystemClock()
    book = policies.load(settings.policy_file)
    app = create_app(SERVICE, settings, web_port)
    inputs = app.topic(
        NOTICE_ALERTS.name,
        NOTICE_ACKS.name,
        NOTIFICATION_TICKS.name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    acks_topic = raw_topic(app, NOTICE_ACKS)
    ticks = raw_topic(app, NOTIFICATION_TICKS)
    copies = raw_topic(app, SUBJECT_COPIES)
    ledger = raw_topic(app, AUDIT)
    escalations = raw_topic(app, ESCALATIONS)
    deadletters = DeadLetterPublisher(app, SERVICE, clock)
    records = app.Table("notices", default=None, key_type=str, partitions=settings.partitions)
    index = DeadlineIndex()
    agency_topics: dict[str, Any] = {}

    async def agency_topic(agency: str) -> Any:
        """notices.<agency>.v1, created the first time an agency is named."""
        if agency not in agency_topics:
            spec = agency_notices(agency)
            await ensure_topics(
                settings.bootstrap_servers, settings.partitions, settings.replication_factor, [spec]
            )
            agency_topics[agency] = raw_topic(app, spec)
        return agency_topics[agency]

    def load(key: str) -> domain.NotificationRecord | None:
        stored = records.get(key)
        return domain.NotificationRecord.model_validate(stored) if stored else None

    async def publish(key: str, outcome: domain.Outcome) -> None:
        """Notices reach the broker (acknowledged) before the state that says so is written."""
        raw_key = key.encode()
        for notice in outcome.notices:
            topic = await agency_topic(notice.data.agency)
            await (await topic.send(key=raw_key, value=encode(notice)))
            _log_notice("notice_issued" if notice.data.attempt == 1 else "notice_resent", notice)
        for copy in outcome.copies:
            await (await copies.send(key=raw_key, value=encode(copy)))
        for escalation in outcome.escalations:
            await (await escalations.send(key=raw_key, value=encode(escalation)))
            log.warning(
                "escalation_raised",
                reason=escalation.data.reason.value,
                notice_id=escalation.data.notice_id,
                agency=escalation.data.agency,
            )
        for record in outcome.audit:
            await ledger.send(key=raw_key, value=encode(record))
            if record.data.step.value == "suppressed":
                log.info(
                    "notice_suppressed",
                    notice_id=record.data.notice_id,
                    agency=record.data.agency,
                    rule=record.data.rule,
                )

    def remember(key: str, outcome: domain.Outcome) -> None:
        records[key] = outcome.record.model_dump(mode="json")
        index.set(key, outcome.record.next_due)

    async def on_alert(raw: RawMessage) -> None:
        result = decode(raw, NOTICE_ALERT, ("notice.alert",))
        if not isinstance(result, Decoded):
            await deadletters.send(raw, result.errors, result.hint)
            return
        alert = result.event
        _bind(alert.event_id, alert.type, alert.jurisdiction)
        policy = book.for_jurisdiction(alert.jurisdiction)
        outcome = domain.on_alert(load(alert.key), alert, policy, clock.now())
        if outcome.note == "duplicate":
            log.debug("duplicate_dropped", alert_id=alert.data.alert_id)
            return
        await publish(alert.key, outcome)
        remember(alert.key, outcome)

    async def on_ack(raw: RawMessage) -> None:
        result = decode(raw, NOTICE_ACK, ("notice.acknowledged",))
        if not isinstance(result, Decoded):
            await deadletters.send(raw, result.errors, result.hint)
            return
        ack = result.event
        _bind(ack.event_id, ack.type, ack.jurisdiction)
        if await reroute_if_misplaced(raw, ack.key, acks_topic, settings.partitions):
            return
        outcome = domain.on_ack(load(ack.key), ack, clock.now())
        if isinstance(outcome, domain.Rejected):
            await deadletters.send(
                raw,
                outcome.errors,
                {"event_id": ack.event_id, "type": ack.type, "jurisdiction": ack.jurisdiction},
            )
            return
        if outcome.note == "duplicate":
            log.debug("duplicate_dropped", notice_id=ack.data.notice_id)
            return
        log.info("notice_acknowledged", notice_id=ack.data.notice_id, agency=ack.data.agency)
        await publish(ack.key, outcome)
        remember(ack.key, outcome)

    async def on_tick(raw: RawMessage) -> None:
        result = decode(raw, DEADLINE_TICK, ("deadline.tick",))
        if not isinstance(result, Decoded):
            await deadletters.send(raw, result.errors, result.hint)
            return
        record = load(result.event.key)
        if record is None:
            index.set(result.event.key, None)
            return
        policy = book.for_jurisdiction(record.jurisdiction)
        outcome = domain.on_tick(record, policy, clock.now())
        await publish(result.event.key, outcome)
        remember(result.event.key, outcome)

    handlers = {
        NOTICE_ALERTS.name: on_alert,
        NOTICE_ACKS.name: on_ack,
        NOTIFICATION_TICKS.name: on_tick,
    }

    async def on_input(raw: RawMessage) -> None:
        await handlers[raw.topic](raw)

    app.agent(inputs, name="notification.inputs")(
        consume(app, SERVICE, deadletters.send_internal_error)(on_input)
    )
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


def _bind(event_id: str, kind: str, jurisdiction: str) -> None:
    structlog.contextvars.bind_contextvars(event_id=event_id, type=kind, jurisdiction=jurisdiction)
