"""Notification service wiring: notice.alerts.v1 + notice.acks.v1 + booking.state.v1 (who
each notice is about, sealed) + booking.keys.v1 (what opens it) (+ its own ack-timeout
ticks) -> notices.<agency>.v1, notices.subject-copies.v1, notice.audit.v1, ops.escalations.v1,
deadletter.v1.

The rules are in ``services.notification.domain`` (and ``overdue``, ``delivery``); the durable
ack timers are the same skeleton as the scheduling service's deadlines
(``services.streams.durable``). An agency with a webhook in the registry
(``services.core.agencies``) is also sent each notice by HTTPS (``services.delivery``): the
attempts an outcome asks for are made after its notices reach Kafka, and their answers decide
the record stored (next attempt, delivered, or escalated).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import faust
from pydantic import TypeAdapter

from schemas.audit import (
    AuditRecord,
    AuditStep,
    DeliveryAttempt,
    DeliveryChannel,
    DeliveryResult,
)
from schemas.booking_keys import BookingKey
from schemas.booking_state import BookingState
from schemas.jail_booking import Person
from schemas.notice_acks import NOTICE_ACK, NoticeAck
from schemas.notice_alerts import NoticeAlert
from schemas.notices import Notice
from schemas.sealed import SealedValue
from schemas.topics import (
    BOOKING_KEYS,
    BOOKING_STATE,
    NOTICE_ACKS,
    NOTICE_ALERTS,
    NOTIFICATION_TICKS,
    SUBJECT_COPIES,
    agency_notices,
)
from services.core import agencies
from services.core.clock import Clock
from services.core.outcomes import Duplicate
from services.delivery.mail import MailSender, Relay
from services.delivery.webhook import WebhookSender
from services.kafka.admin.topics import ensure_topics
from services.kafka.client.security import client_options
from services.notification import domain, http_acks, overdue
from services.notification.delivery import Answer
from services.notification.domain import NotificationRecord, Outcome
from services.notification.http_acks import AckLinks
from services.ops import events
from services.ops.logging import get_logger
from services.settings import Settings
from services.streams.durable import Decision, DurableService
from services.streams.output import Output
from services.streams.sealing import PersonSeal

SERVICE = "notification"
NOTICE_ALERT = TypeAdapter(NoticeAlert)
BOOKING_STATE_MESSAGE = TypeAdapter(BookingState)
BOOKING_KEY_MESSAGE = TypeAdapter(BookingKey)
# Where a record holds person data, sealed at rest with the booking's data key (#46)
PERSONAL = (
    "booking.person",
    "notices.*.last.data.subject",
    "notices.*.deliveries.*.message.data.subject",
    "waiting.*.data.booking.person",
)
log = get_logger(__name__)


def build(settings: Settings, web_port: int, clock: Clock | None = None) -> faust.App:
    service = DurableService(
        SERVICE,
        settings,
        web_port,
        clock,
        table="notices",
        record=NotificationRecord,
        ticks=NOTIFICATION_TICKS,
        personal=PERSONAL,
    )
    clock, book = service.clock, service.policies
    sealing = service.sealing
    metrics = service.metrics
    metrics.alert_wait_limit.set(settings.alert_wait_limit)
    registry = agencies.load(settings.agencies_file)
    secret = settings.ack_token_secret.get_secret_value() if settings.ack_token_secret else None
    scheme = "https" if settings.web_certfile else "http"
    base_url = settings.ack_base_url or f"{scheme}://{settings.web_host}:{web_port}"
    if secret is not None:
        http_acks.install(service, secret)
        if settings.ack_base_url is None:
            log.warning(events.ACK_LINKS_TO_THIS_WORKER, base_url=base_url)
    links = AckLinks(secret, base_url, settings.ack_token_days)
    webhooks = WebhookSender(
        registry,
        {a.slug: agencies.read_secrets(a) for a in registry.agencies if a.webhook},
        clock,
        settings.delivery_cafile,
        links,
    )
    service.app.closers.append(webhooks.close)
    mail = MailSender(registry, relay_of(settings), settings.delivery_cafile, links)
    senders: dict[DeliveryChannel, WebhookSender | MailSender] = {
        DeliveryChannel.WEBHOOK: webhooks,
        DeliveryChannel.EMAIL: mail,
    }
    copies = service.output(SUBJECT_COPIES)
    agency_topics: dict[str, Output] = {}

    @service.on(NOTICE_ALERTS, NOTICE_ALERT)
    def on_alert(alert: NoticeAlert, record: NotificationRecord | None, position: str) -> Decision:
        policy = book.for_jurisdiction(alert.jurisdiction)
        now = clock.now()
        decision = domain.on_alert(record, alert, policy, now, registry)
        if not isinstance(decision, Duplicate):  # a repeat read again after a restart is no lag
            metrics.alert_wait.set(max(0.0, (now - alert.data.emitted_at).total_seconds()))
        return decision

    @service.on(BOOKING_STATE, BOOKING_STATE_MESSAGE)
    def on_booking_state(
        message: BookingState, record: NotificationRecord | None, position: str
    ) -> Decision:
        policy = book.for_jurisdiction(message.jurisdiction)
        message = opened_state(sealing, message, record)
        return domain.on_booking_state(record, message, policy, clock.now(), registry)

    @service.on(BOOKING_KEYS, BOOKING_KEY_MESSAGE)
    def on_booking_key(
        message: BookingKey, record: NotificationRecord | None, position: str
    ) -> Decision:
        policy = book.for_jurisdiction(message.jurisdiction)
        record = opened_with_key(sealing, message, record)
        return domain.on_booking_key(record, message, policy, clock.now(), registry)

    @service.on(NOTICE_ACKS, NOTICE_ACK)
    def on_ack(ack: NoticeAck, record: NotificationRecord | None, position: str) -> Decision:
        policy = book.for_jurisdiction(ack.jurisdiction)
        return domain.on_ack(record, ack, clock.now(), policy)

    def on_tick(record: NotificationRecord, now: datetime) -> Decision:
        policy = book.for_jurisdiction(record.jurisdiction)
        return overdue.on_tick(record, policy, now, registry)

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
            agency_topics[agency] = service.output(spec)
        return agency_topics[agency]

    async def publish(
        key: str, outcome: Outcome, sent: frozenset[str]
    ) -> NotificationRecord | None:
        """Notices reach the broker (acknowledged) before the state that says so is written
        (``DurableService`` stores it once they are); then the webhook attempts, whose
        answers change the record stored, after their notices are on the topic."""
        raw_key = key.encode()
        before_attempts = bool(outcome.attempts)
        for alert_id in outcome.held:
            log.info(events.ALERT_HELD, alert_id=alert_id)
        for notice in outcome.notices:
            topic = await agency_topic(notice.data.agency)
            await topic.send(raw_key, notice, wait=before_attempts)
            first = notice.data.attempt == 1
            _log_notice(events.NOTICE_ISSUED if first else events.NOTICE_RESENT, notice)
            late = str(notice.data.late).lower()
            metrics.notices.labels("issued" if first else "resent", late).inc()
        for copy in outcome.copies:
            await copies.send(raw_key, copy)
        for escalation in outcome.escalations:
            await service.escalate(raw_key, escalation)
        for record in outcome.audit:
            await service.ledger.send(raw_key, record)
            _after_ledger(record)
        if not outcome.attempts:
            return None
        return await deliver(raw_key, outcome)

    async def deliver(raw_key: bytes, outcome: Outcome) -> NotificationRecord:
        """The attempts at once; each answer in the ledger, an ended delivery escalated."""
        replies = await asyncio.gather(
            *(senders[a.channel].send(a.message, a.number) for a in outcome.attempts)
        )
        now = clock.now()
        answers = tuple(
            Answer(
                a.notice_id,
                a.message.event_id,
                a.number,
                now,
                r.latency_ms,
                r.status,
                r.error,
                a.channel,
            )
            for a, r in zip(outcome.attempts, replies, strict=True)
        )
        record = outcome.record
        policy = book.for_jurisdiction(record.jurisdiction)
        after = overdue.on_answers(record, answers, policy, now, registry)
        for entry in after.deliveries:
            await service.ledger.send(raw_key, entry)
            _after_delivery(entry)
        for escalation in after.escalations:
            await service.escalate(raw_key, escalation)
        return after.record

    def _after_delivery(entry: DeliveryAttempt) -> None:
        data = entry.data
        metrics.deliveries.labels(data.channel.value, data.result.value).inc()
        fields = {"notice_id": data.notice_id, "agency": data.agency, "attempt": data.attempt}
        if data.result is DeliveryResult.DELIVERED:
            log.info(events.NOTICE_DELIVERED, channel=data.channel.value, **fields)
        elif data.result is DeliveryResult.RETRYING:
            log.info(events.DELIVERY_RETRY_SCHEDULED, at=str(data.next_attempt_at), **fields)
        else:
            log.warning(events.DELIVERY_ENDED_UNDELIVERED, result=data.result.value, **fields)

    def _after_ledger(record: AuditRecord) -> None:
        data = record.data
        if data.step is AuditStep.SUPPRESSED:
            metrics.notices.labels("suppressed", str(bool(data.detail.get("late"))).lower()).inc()
            log.info(
                events.NOTICE_SUPPRESSED,
                notice_id=data.notice_id,
                agency=data.agency,
                rule=data.rule,
            )
        elif data.step is AuditStep.ACKNOWLEDGED:
            log.info(events.NOTICE_ACKNOWLEDGED, notice_id=data.notice_id, agency=data.agency)

    return service.start(publish, on_tick)


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


def opened_state(
    sealing: PersonSeal | None, message: BookingState, record: NotificationRecord | None
) -> BookingState:
    """The state with its person opened, when the record has the data key that sealed it;
    else as it is (the copy stays sealed until its key comes)."""
    person = message.data.person
    if sealing is None or record is None or not isinstance(person, SealedValue):
        return message
    opened = sealing.open_value(message.key, "person", person, record.data_keys)
    if opened is None:
        return message
    data = message.data.model_copy(update={"person": Person.model_validate(opened)})
    return message.model_copy(update={"data": data})


def opened_with_key(
    sealing: PersonSeal | None, message: BookingKey, record: NotificationRecord | None
) -> NotificationRecord | None:
    """The record with what the booking's newly come data key opens opened."""
    key = message.data.key
    if sealing is None or record is None or key is None:
        return record
    return sealing.reopened(message.key, record, key)


def relay_of(settings: Settings) -> Relay | None:
    """The SMTP relay of ``RELEASEWATCH_SMTP_*`` (checked at start by ``releasewatch``)."""
    if settings.smtp_url is None:
        return None
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return Relay.parse(settings.smtp_url, password, settings.smtp_from)
