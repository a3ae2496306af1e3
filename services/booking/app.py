"""Booking service wiring: jail.booking.v1 -> booking.state.v1 (+ deadletter.v1).

Decode, call the domain, send. The rules are in ``services.booking.domain``.
"""

from __future__ import annotations

import faust

from schemas.jail_booking import JAIL_EVENT
from schemas.topics import BOOKING_STATE, JAIL_BOOKING
from services.booking import domain
from services.core.clock import Clock, SystemClock
from services.core.outcomes import Rejected
from services.ops import events
from services.ops.logging import get_logger
from services.settings import Settings
from services.streams.app import create_app
from services.streams.codec import RawMessage
from services.streams.consume import consume, hole_probe
from services.streams.deadletter import DeadLetterPublisher
from services.streams.output import Output, raw_topic, reroute_if_misplaced

SERVICE = "booking"
log = get_logger(__name__)


def build(settings: Settings, web_port: int, clock: Clock | None = None) -> faust.App:
    clock = clock or SystemClock()
    app = create_app(SERVICE, settings, web_port)
    jail_events = raw_topic(app, JAIL_BOOKING)
    metrics = app.metrics
    reroutes = Output(app, JAIL_BOOKING, metrics)
    states = Output(app, BOOKING_STATE, metrics)
    deadletters = DeadLetterPublisher(app, SERVICE, clock)
    bookings = app.Table(
        "bookings",
        default=None,
        key_type=str,
        partitions=settings.partitions,
    )

    async def on_jail_event(raw: RawMessage) -> None:
        event = await deadletters.accept(raw, JAIL_EVENT, JAIL_BOOKING.event_types)
        if event is None:
            return
        key = event.key
        if await reroute_if_misplaced(raw, key, reroutes, settings.partitions):
            return
        stored = bookings.get(key)
        record = domain.BookingRecord.model_validate(stored) if stored else None
        decision = domain.apply(record, event, raw.position)
        match decision:
            case domain.Accepted(record=new_record, message=message):
                await states.send(key.encode(), message)
                bookings[key] = new_record.model_dump(mode="json")
                log.info(
                    events.BOOKING_STATE_EMITTED,
                    revision=message.data.revision,
                    status=message.data.status.value,
                )
            case domain.Duplicate(redelivery=True, current=current):
                await states.send(key.encode(), current)
                log.info(events.BOOKING_STATE_RESENT, revision=current.data.revision)
            case domain.Duplicate():
                log.debug(events.DUPLICATE_DROPPED)
            case domain.Stale(sequence=sequence, last_sequence=last):
                log.info(events.STALE_EVENT_DROPPED, sequence=sequence, last_sequence=last)
            case Rejected(errors=errors):
                await deadletters.refuse(raw, errors, event)

    app.agent(jail_events, name="booking.jail_events")(
        consume(
            app, SERVICE, settings.tuning, deadletters.send_internal_error, hole_probe(settings)
        )(on_jail_event)
    )
    return app
