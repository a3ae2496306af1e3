"""Booking service wiring: jail.booking.v1 (+ its own ticks) -> booking.state.v1, booking.keys.v1,
deadletter.v1.

Decide with the domain, send. The rules are in ``services.booking.domain``; the skeleton
(admit, place, store after the broker acknowledges, retirement ticks) is ``DurableService``.
"""

from __future__ import annotations

from datetime import datetime

import faust

from schemas.deadletter import RejectReason
from schemas.jail_booking import JAIL_EVENT, JailEvent
from schemas.topics import BOOKING_KEYS, BOOKING_STATE, BOOKING_TICKS, JAIL_BOOKING
from services.booking import domain
from services.booking.keys import BookingKeys
from services.core.clock import Clock
from services.core.field_crypto import KeyUnavailable, Tampered
from services.core.outcomes import Rejected
from services.ops import events
from services.ops.logging import get_logger
from services.settings import Settings
from services.streams.codec import error
from services.streams.durable import Decision, DurableService

SERVICE = "booking"
log = get_logger(__name__)


def build(settings: Settings, web_port: int, clock: Clock | None = None) -> faust.App:
    service = DurableService(
        SERVICE,
        settings,
        web_port,
        clock,
        table="bookings",
        record=domain.BookingRecord,
        ticks=BOOKING_TICKS,
        escalates=False,
        personal=("state.person",),
        opens_personal=False,  # the rules copy the person, never read it: it stays sealed
    )
    book = service.policies
    states = service.output(BOOKING_STATE)
    keys = BookingKeys(service.keyring, service.output(BOOKING_KEYS), service.clock)

    @service.on(JAIL_BOOKING, JAIL_EVENT)
    def on_jail_event(
        event: JailEvent, record: domain.BookingRecord | None, position: str
    ) -> Decision:
        try:
            event = keys.opened(event.key, event)  # a person the intake sealed (#46)
        except (KeyUnavailable, Tampered) as exc:  # kept sealed, for when its KEK is back
            why = f"the person sealed by the intake does not open: {exc}"
            return Rejected((error("data.person", RejectReason.INTERNAL_ERROR, why),))
        retire_after = book.for_jurisdiction(event.jurisdiction).retire_after
        return domain.apply(record, event, position, retire_after)

    def on_tick(record: domain.BookingRecord, now: datetime) -> Decision:
        forget_after = book.for_jurisdiction(record.jurisdiction).forget_after
        return domain.on_tick(record, now, forget_after)

    async def publish(
        key: str, outcome: object, sent: frozenset[str]
    ) -> domain.BookingRecord | None:
        match outcome:
            case domain.Accepted(record=record, message=message):
                record = await keys.keyed(key, record)
                message = keys.sealed(key, message, record)  # a new person: sealed once,
                record = record.model_copy(update={"state": message.data})  # for both
                await states.send(key.encode(), message)
                log.debug(  # one per jail event: the per-second summary is at info
                    events.BOOKING_STATE_EMITTED,
                    revision=message.data.revision,
                    status=message.data.status.value,
                )
                return record
            case domain.Resend(record=record, message=message):
                await states.send(key.encode(), keys.sealed(key, message, record))
                log.info(events.BOOKING_STATE_RESENT, revision=message.data.revision)
            case domain.Retired():
                await keys.destroy(key)
        return None

    return service.start(publish, on_tick)
