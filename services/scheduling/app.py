"""Scheduling service wiring: booking.state.v1 + agency.requests.v1 (+ its own deadline ticks)
-> release.schedule.v1, notice.alerts.v1, ops.escalations.v1, deadletter.v1.

One agent reads the three co-partitioned topics, so everything about a booking is decided
in order by one writer; the timer prompts it (``scheduling.ticks.v1``). When deadlines fall
due, the timer publishes their alerts itself first (decided by the same rule from the stored
record) and the tick tells the agent, which writes the state recording them. The rules are in
``services.scheduling.domain``; what is armed, and the timer, in ``services.core.deadlines``.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import faust
from pydantic import TypeAdapter

from schemas.agency_requests import AGENCY_REQUEST, AGENCY_REQUEST_TYPES
from schemas.booking_state import BookingState
from schemas.notice_alerts import NoticeAlert
from schemas.ticks import DEADLINE_TICK
from schemas.topics import (
    AGENCY_REQUESTS,
    AUDIT,
    BOOKING_STATE,
    DEADLINE_TICKS,
    ESCALATIONS,
    NOTICE_ALERTS,
    RELEASE_SCHEDULE,
)
from services.core import policy as policies
from services.core.clock import Clock, SystemClock
from services.core.deadlines import DeadlineIndex
from services.ops.logging import get_logger
from services.scheduling import domain
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

SERVICE = "scheduling"
BOOKING_STATE_MESSAGE = TypeAdapter(BookingState)
log = get_logger(__name__)


def build(settings: Settings, web_port: int, clock: Clock | None = None) -> faust.App:
    clock = clock or SystemClock()
    book = policies.load(settings.policy_file)
    app = create_app(SERVICE, settings, web_port)
    inputs = raw_topic(app, BOOKING_STATE, AGENCY_REQUESTS, DEADLINE_TICKS)
    metrics = app.metrics
    requests_topic = Output(app, AGENCY_REQUESTS, metrics)
    ticks = Output(app, DEADLINE_TICKS, metrics)
    schedules = Output(app, RELEASE_SCHEDULE, metrics)
    alerts = Output(app, NOTICE_ALERTS, metrics)
    escalations = Output(app, ESCALATIONS, metrics)
    ledger = Output(app, AUDIT, metrics)
    deadletters = DeadLetterPublisher(app, SERVICE, clock)
    index = DeadlineIndex()
    records = RecordTable(app, "bookings", domain.SchedulingRecord, settings.partitions, index)
    load = records.get

    def alert_sent(alert: NoticeAlert) -> None:
        data = alert.data
        metrics.alerts.labels(data.kind.value, str(data.late).lower()).inc()
        log.info(
            "alert_emitted",
            alert_id=data.alert_id,
            kind=data.kind.value,
            request_id=data.request_id,
            agency=data.agency,
            lead_hours=data.lead_hours,
            late=data.late,
            cause_event_id=data.cause_event_id,
        )

    async def publish(
        key: str, outcome: domain.Outcome, sent: frozenset[str] = frozenset()
    ) -> None:
        """The schedule change first (readers see cause before effect), then alerts and
        escalations, acknowledged by the broker before the state that says they were sent
        is written: a crash in between repeats them (same ids), never loses them. Alerts in
        ``sent`` were published by the timer already."""
        raw_key = key.encode()
        if outcome.schedule is not None:
            await schedules.send(raw_key, outcome.schedule)
            if outcome.note != "duplicate":
                log.info(
                    "schedule_changed",
                    revision=outcome.schedule.data.revision,
                    status=outcome.schedule.data.status.value,
                )
        for alert in outcome.alerts:
            if alert.data.alert_id not in sent:
                await alerts.send(raw_key, alert, wait=True)
                alert_sent(alert)
        for escalation in outcome.escalations:
            await escalations.send(raw_key, escalation, wait=True)
            metrics.escalations.labels(escalation.data.reason.value).inc()
            log.warning(
                "escalation_raised",
                reason=escalation.data.reason.value,
                request_id=escalation.data.request_id,
                agency=escalation.data.agency,
            )
        for record in outcome.audit:
            await ledger.send(raw_key, record)

    def remember(key: str, outcome: domain.Outcome) -> None:
        if records.put(key, outcome.record):
            log.info("deadline_armed", due_at=str(outcome.record.next_due))

    async def on_booking_state(raw: RawMessage) -> None:
        message = await deadletters.accept(raw, BOOKING_STATE_MESSAGE, ("booking.state",))
        if message is None:
            return
        release_hour = book.for_jurisdiction(message.jurisdiction).release_hour
        outcome = domain.on_booking_state(load(message.key), message, release_hour, clock.now())
        if outcome.note == "stale":
            log.info("stale_state_dropped", revision=message.data.revision)
            return
        await publish(message.key, outcome)
        remember(message.key, outcome)

    async def on_agency_request(raw: RawMessage) -> None:
        event = await deadletters.accept(raw, AGENCY_REQUEST, AGENCY_REQUEST_TYPES)
        if event is None:
            return
        if await reroute_if_misplaced(raw, event.key, requests_topic, settings.partitions):
            return
        window = book.for_jurisdiction(event.jurisdiction).window_hours
        outcome = domain.on_request(load(event.key), event, raw.position, window, clock.now())
        if isinstance(outcome, domain.Rejected):
            await deadletters.refuse(raw, outcome.errors, event)
            return
        if outcome.note == "duplicate":
            log.debug("duplicate_dropped")
            return
        log.info(outcome.note, request_id=event.data.request_id)
        await publish(event.key, outcome)
        remember(event.key, outcome)

    async def on_tick(raw: RawMessage) -> None:
        tick = await deadletters.accept(raw, DEADLINE_TICK, ("deadline.tick",))
        if tick is None:
            return
        record = load(tick.key)
        if record is None:
            index.set(tick.key, None)
            return
        outcome = domain.on_tick(record, clock.now())
        await publish(tick.key, outcome, frozenset(tick.published))
        remember(tick.key, outcome)
        recorded = [a.data.alert_id for a in outcome.alerts if a.data.alert_id in tick.published]
        if recorded:  # the timer sent them; the state written above says so
            log.info("alerts_recorded", alert_ids=recorded)

    async def fire_early(keys: list[str]) -> dict[str, tuple[str, ...]]:
        """The timer's fast path: the alerts owed now for bookings just fallen due, decided
        from each stored record by the agent's own rule, published together and awaited
        together. What the broker acknowledged is returned for the ticks to name; anything
        else is left to the agent. Until the agent writes the state, the stored record
        still owes them: a crash fires them again (same alert_ids), never loses them."""
        owed: list[tuple[str, NoticeAlert]] = []
        for key in keys:
            try:
                record = load(key)
                outcome = domain.on_tick(record, clock.now()) if record else None
            except Exception as exc:  # the agent meets the same record and reports it
                log.warning("fire_early_skipped", error=type(exc).__name__)
                continue
            owed.extend((key, alert) for alert in (outcome.alerts if outcome else ()))
        futures = await alerts.send_all([(key.encode(), alert) for key, alert in owed])
        results = await asyncio.gather(*futures, return_exceptions=True)
        published: dict[str, list[str]] = defaultdict(list)
        for (key, alert), result in zip(owed, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("alert_not_acknowledged", error=type(result).__name__)
                continue
            published[key].append(alert.data.alert_id)
            alert_sent(alert)
        return {key: tuple(ids) for key, ids in published.items()}

    handlers = {
        BOOKING_STATE.name: on_booking_state,
        AGENCY_REQUESTS.name: on_agency_request,
        DEADLINE_TICKS.name: on_tick,
    }
    route_inputs(app, SERVICE, inputs, handlers, deadletters.send_internal_error)
    install_deadline_timer(
        app, index, records, ticks, clock, settings.deadline_scan_interval, log, fire_early
    )
    return app
