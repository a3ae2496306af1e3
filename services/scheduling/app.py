"""Scheduling service wiring: booking.state.v1 + agency.requests.v1 (+ its own deadline ticks)
-> release.schedule.v1, notice.alerts.v1, ops.escalations.v1, deadletter.v1.

One agent reads the three co-partitioned topics (``DurableService``), so everything about a
booking is decided in order by one writer; the timer prompts it (``scheduling.ticks.v1``).
When deadlines fall due, the timer publishes their alerts itself first (decided by the same
rule from the stored record) and the tick tells the agent, which writes the state recording
them. The rules are in ``services.scheduling.domain``; what is armed, and the timer, in
``services.core.deadlines``.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime

import faust
from pydantic import TypeAdapter

from schemas.agency_requests import AGENCY_REQUEST, AgencyRequest
from schemas.audit import AuditStep
from schemas.booking_state import BookingState
from schemas.notice_alerts import NoticeAlert
from schemas.topics import (
    AGENCY_REQUESTS,
    BOOKING_STATE,
    DEADLINE_TICKS,
    NOTICE_ALERTS,
    RELEASE_SCHEDULE,
)
from services.core.clock import Clock
from services.kafka.client.security import client_options
from services.ops import events
from services.ops.logging import get_logger
from services.scheduling import domain
from services.scheduling.records import Outcome, SchedulingRecord
from services.settings import Settings
from services.streams.durable import Decision, DurableService
from services.streams.readback import ReadBack, data_id

SERVICE = "scheduling"
BOOKING_STATE_MESSAGE = TypeAdapter(BookingState)
log = get_logger(__name__)


def build(settings: Settings, web_port: int, clock: Clock | None = None) -> faust.App:
    service = DurableService(
        SERVICE,
        settings,
        web_port,
        clock,
        table="bookings",
        record=SchedulingRecord,
        ticks=DEADLINE_TICKS,
    )
    clock, book = service.clock, service.policies
    metrics = service.metrics
    schedules = service.output(RELEASE_SCHEDULE)
    alerts = service.output(NOTICE_ALERTS)
    readback = None
    if not service.app.tuning.exactly_once:  # alerts and their records commit together
        readback = ReadBack(
            client_options(settings),
            NOTICE_ALERTS.name,
            settings.partitions,
            data_id("alert_id"),
            lambda: service.app.consumer_generation_id,
        )

    @service.on(BOOKING_STATE, BOOKING_STATE_MESSAGE)
    def on_booking_state(
        message: BookingState, record: SchedulingRecord | None, position: str
    ) -> Decision:
        policy = book.for_jurisdiction(message.jurisdiction)
        return domain.on_booking_state(record, message, policy.release_hour, clock.now(), policy)

    @service.on(AGENCY_REQUESTS, AGENCY_REQUEST)
    def on_agency_request(
        event: AgencyRequest, record: SchedulingRecord | None, position: str
    ) -> Decision:
        policy = book.for_jurisdiction(event.jurisdiction)
        return domain.on_request(record, event, position, policy.window_hours, clock.now(), policy)

    def on_tick(record: SchedulingRecord, now: datetime) -> Decision:
        return domain.on_tick(record, now, book.for_jurisdiction(record.jurisdiction))

    def alert_sent(alert: NoticeAlert) -> None:
        data = alert.data
        metrics.alerts.labels(data.kind.value, str(data.late).lower()).inc()
        log.info(
            events.ALERT_EMITTED,
            alert_id=data.alert_id,
            kind=data.kind.value,
            request_id=data.request_id,
            agency=data.agency,
            lead_hours=data.lead_hours,
            late=data.late,
            cause_event_id=data.cause_event_id,
        )

    async def publish(key: str, outcome: Outcome, sent: frozenset[str]) -> None:
        """The ledger's request record and the schedule change first (readers see cause
        before effect), then alerts and escalations, sent without waiting: the state saying
        they went out is stored once the broker has them all (``DurableService``). Alerts in
        ``sent`` were published by the timer already: the state written next records them."""
        raw_key = key.encode()
        for record in outcome.audit:
            _log_request(record.data.step, record.data.request_id, record.data.detail)
        if outcome.schedule is not None:
            await schedules.send(raw_key, outcome.schedule)
            if outcome.schedule_changed:
                log.debug(  # one per booking state: the per-second summary is at info
                    events.SCHEDULE_CHANGED,
                    revision=outcome.schedule.data.revision,
                    status=outcome.schedule.data.status.value,
                )
        for alert in outcome.alerts:
            if alert.data.alert_id not in sent and not await on_broker(raw_key, alert):
                await alerts.send(raw_key, alert)
                alert_sent(alert)
        for escalation in outcome.escalations:
            await service.escalate(raw_key, escalation)
        for record in outcome.audit:
            await service.ledger.send(raw_key, record)
        recorded = [a.data.alert_id for a in outcome.alerts if a.data.alert_id in sent]
        if recorded:
            log.info(events.ALERTS_RECORDED, alert_ids=recorded)

    async def on_broker(key: bytes, alert: NoticeAlert) -> bool:
        """Sent before a kill or a rebalance, but not yet recorded (at_least_once): the state
        stored next records it; it does not go out twice."""
        if readback is None or not await readback.sent(key, alert.data.alert_id):
            return False
        log.info(events.ALERT_ALREADY_SENT, alert_id=alert.data.alert_id)
        return True

    async def fire_early(keys: list[str]) -> dict[str, tuple[str, ...]]:
        """The timer's fast path: the alerts owed now for bookings just fallen due, decided
        from each stored record by the agent's own rule, published together and awaited
        together. What the broker acknowledged is returned for the ticks to name; anything
        else is left to the agent. Until the agent writes the state, the stored record
        still owes them: a crash fires them again (same alert_ids), never loses them."""
        owed: list[tuple[str, NoticeAlert]] = []
        for key in keys:
            try:
                record = service.records.get(key)
                outcome = on_tick(record, clock.now()) if record else None
            except Exception as exc:  # the agent meets the same record and reports it
                log.warning(events.FIRE_EARLY_SKIPPED, error=type(exc).__name__)
                continue
            if isinstance(outcome, Outcome):  # a retirement owes nothing: the agent's
                owed.extend((key, alert) for alert in outcome.alerts)
        published: dict[str, list[str]] = defaultdict(list)
        sending: list[tuple[str, NoticeAlert]] = []
        for key, alert in owed:
            if await on_broker(key.encode(), alert):  # the tick names it: recorded
                published[key].append(alert.data.alert_id)
            else:
                sending.append((key, alert))
        futures = await alerts.send_all(
            [(key.encode(), alert) for key, alert in sending],
            trace_of=service.records.trace_of,
            step="scheduling deadline",
        )
        results = await asyncio.gather(*futures, return_exceptions=True)
        for (key, alert), result in zip(sending, results, strict=True):
            if isinstance(result, BaseException):
                log.warning(events.ALERT_NOT_ACKNOWLEDGED, error=type(result).__name__)
                continue
            published[key].append(alert.data.alert_id)
            alert_sent(alert)
        return {key: tuple(ids) for key, ids in published.items()}

    return service.start(publish, on_tick, fire_early)


def _log_request(step: AuditStep, request_id: str | None, detail: dict[str, object]) -> None:
    if step is AuditStep.REQUEST_WITHDRAWN:
        log.info(events.REQUEST_WITHDRAWN, request_id=request_id)
    elif detail.get("received_after_release"):
        log.info(events.REQUEST_RECEIVED_AFTER_RELEASE, request_id=request_id)
    else:
        log.info(events.REQUEST_RECEIVED, request_id=request_id)
