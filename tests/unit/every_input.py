"""Every input topic a service reads: a valid sample of each, and how the service's rules
handle an admitted message (for the fuzz tests)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import TypeAdapter

from schemas.agency_requests import AGENCY_REQUEST, AGENCY_REQUEST_TYPES
from schemas.booking_state import BookingState
from schemas.jail_booking import JAIL_EVENT, JAIL_EVENT_TYPES
from schemas.notice_acks import NOTICE_ACK
from schemas.notice_alerts import NoticeAlert
from schemas.ticks import DeadlineTick
from services.booking import domain as booking_rules
from services.core.policy import Policy
from services.notification import domain as notification_rules
from services.scheduling import domain as scheduling_rules
from tests import factories as f
from tests.unit.scheduling.world import START, World

NOW = START + timedelta(hours=1)
KEY = b"us-mn-hennepin/2027-000123"


@dataclass(frozen=True)
class Input:
    """One input topic: how it is decoded, valid samples, and the rules that take it."""

    topic: str
    adapter: TypeAdapter[Any]
    types: tuple[str, ...]
    samples: Callable[[], list[dict[str, Any]]]
    handle: Callable[[Any], object]


def jail_samples() -> list[dict[str, Any]]:
    return [
        f.opened(),
        f.scheduled("2027-03-05T09:00:00-06:00"),
        f.scheduled("2027-03-05T09:00:00"),
        f.unscheduled(),
        f.sentence("2027-03-01", 30, 2),
        f.charges("609.52", "169A.20"),
        f.released("2027-03-03T10:00:00-06:00"),
        f.transferred("2027-03-03T10:00:00-06:00"),
    ]


def an_open_booking() -> booking_rules.BookingRecord:
    decision = booking_rules.apply(None, f.typed(f.opened()), "jail.booking.v1:0:0")
    assert isinstance(decision, booking_rules.Accepted)
    return decision.record


def handle_jail(event: Any) -> object:
    for record in (None, an_open_booking()):
        decision = booking_rules.apply(record, event, "jail.booking.v1:0:9")
        assert isinstance(
            decision,
            booking_rules.Accepted
            | booking_rules.Resend
            | booking_rules.Duplicate
            | booking_rules.StaleSequence
            | booking_rules.Rejected,
        )
    return decision


def world() -> World:
    place = World()
    place.open()
    place.request()
    place.schedule(START + timedelta(hours=60))
    return place


def request_samples() -> list[dict[str, Any]]:
    return [
        f.envelope(
            "notice_request.received",
            {"request_id": "r9", "agency": "dhs-ice", "form": "I-247A", "notice_hours": 72},
        ),
        f.envelope("notice_request.withdrawn", {"request_id": "ice-1", "reason": "lifted"}),
    ]


def handle_request(event: Any) -> object:
    for record in (None, world().record):
        outcome = scheduling_rules.on_request(record, event, "agency.requests.v1:0:9", 48, NOW)
        assert isinstance(
            outcome,
            scheduling_rules.Outcome | scheduling_rules.Duplicate | scheduling_rules.Rejected,
        )
    return outcome


def state_samples() -> list[dict[str, Any]]:
    decision = booking_rules.apply(
        an_open_booking(), f.typed(f.scheduled("2027-03-05T09:00:00-06:00")), "j:0:1"
    )
    assert isinstance(decision, booking_rules.Accepted)
    return [json.loads(decision.message.model_dump_json())]


def handle_state(message: Any) -> object:
    """Both services read booking states: scheduling for the schedule, notification for who
    its notices are about."""
    for record in (None, world().record):
        outcome = scheduling_rules.on_booking_state(record, message, 9, NOW)
        assert isinstance(outcome, scheduling_rules.Outcome | scheduling_rules.Stale)
    for known in (None, a_notice_record()):
        copied = notification_rules.on_booking_state(known, message, Policy(), NOW)
        assert isinstance(
            copied,
            notification_rules.Outcome | notification_rules.Duplicate | notification_rules.Stale,
        )
    return outcome


def released() -> World:
    place = World()
    place.open()
    place.request()
    place.schedule(START + timedelta(hours=10))
    place.release(START + timedelta(hours=10))
    return place


def alert_samples() -> list[dict[str, Any]]:
    return [json.loads(alert.model_dump_json()) for alert in released().alerts]


POLICIES = (
    Policy(),
    Policy(notices="none"),
    Policy(notices="listed_offenses", listed_statutes=("609.52",), subject_copy=True),
)


def handle_alert(alert: Any) -> object:
    known = released().notification_record()
    for policy in POLICIES:
        outcome = notification_rules.on_alert(known, alert, policy, NOW)
        assert isinstance(outcome, notification_rules.Outcome)
        assert outcome.audit or outcome.held  # recorded, or waiting for its booking state
        waiting = notification_rules.on_alert(None, alert, policy, NOW)
        assert isinstance(waiting, notification_rules.Outcome)
    return outcome


def ack_samples() -> list[dict[str, Any]]:
    return [
        f.envelope(
            "notice.acknowledged",
            {
                "notice_id": "nt-0001",
                "agency": "dhs-ice",
                "acknowledged_at": "2027-03-02T01:00:00Z",
                "by": "ERO",
            },
        )
    ]


def a_notice_record() -> notification_rules.NotificationRecord:
    place = released()
    return notification_rules.on_alert(
        place.notification_record(), place.alerts[0], Policy(), NOW
    ).record


def handle_ack(ack: Any) -> object:
    for record in (None, a_notice_record()):
        outcome = notification_rules.on_ack(record, ack, NOW)
        assert isinstance(outcome, notification_rules.Outcome | notification_rules.Rejected)
    return outcome


def tick_samples() -> list[dict[str, Any]]:
    return [
        {
            "type": "deadline.tick",
            "key": KEY.decode(),
            "due_at": "2027-03-02T00:00:00Z",
            "sent_at": "2027-03-02T00:00:01Z",
        }
    ]


def handle_tick(tick: Any) -> object:
    record = world().record
    assert record is not None
    outcome = scheduling_rules.on_tick(record, tick.due_at)
    assert isinstance(outcome, scheduling_rules.Outcome)
    return outcome


INPUTS = [
    Input("jail.booking.v1", JAIL_EVENT, JAIL_EVENT_TYPES, jail_samples, handle_jail),
    Input(
        "agency.requests.v1",
        AGENCY_REQUEST,
        AGENCY_REQUEST_TYPES,
        request_samples,
        handle_request,
    ),
    Input(
        "booking.state.v1",
        TypeAdapter(BookingState),
        ("booking.state",),
        state_samples,
        handle_state,
    ),
    Input(
        "notice.alerts.v1",
        TypeAdapter(NoticeAlert),
        ("notice.alert",),
        alert_samples,
        handle_alert,
    ),
    Input("notice.acks.v1", NOTICE_ACK, ("notice.acknowledged",), ack_samples, handle_ack),
    Input(
        "scheduling.ticks.v1",
        TypeAdapter(DeadlineTick),
        ("deadline.tick",),
        tick_samples,
        handle_tick,
    ),
]
BY_TOPIC = {spec.topic: spec for spec in INPUTS}
SAMPLES = {spec.topic: spec.samples() for spec in INPUTS}
