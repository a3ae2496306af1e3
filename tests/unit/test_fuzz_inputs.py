"""Fuzzing the edges: random bytes and mutated valid messages into every input decoder and
then the handling rules of the service that reads that topic. Never an unhandled exception:
either a refusal with reasons (what the service dead-letters) or an accepted message whose
rules give one of their known outcomes. Bounded example counts, so `make test` stays fast.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
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
from services.streams.codec import Decoded, Invalid, RawMessage, dead_letter, decode
from tests import factories as f
from tests.unit.scheduling.world import START, World

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))  # FUZZ_EXAMPLES=5000 for a deep run
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
            | booking_rules.Duplicate
            | booking_rules.Stale
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
    for record in (None, world().record):
        outcome = scheduling_rules.on_booking_state(record, message, 9, NOW)
        assert isinstance(outcome, scheduling_rules.Outcome | scheduling_rules.Stale)
    return outcome


def alert_samples() -> list[dict[str, Any]]:
    place = World()
    place.open()
    place.request()
    place.schedule(START + timedelta(hours=10))
    place.release(START + timedelta(hours=10))
    return [json.loads(alert.model_dump_json()) for alert in place.alerts]


POLICIES = (
    Policy(),
    Policy(notices="none"),
    Policy(notices="listed_offenses", listed_statutes=("609.52",), subject_copy=True),
)


def handle_alert(alert: Any) -> object:
    for policy in POLICIES:
        outcome = notification_rules.on_alert(None, alert, policy, NOW)
        assert isinstance(outcome, notification_rules.Outcome)
        assert outcome.audit
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
    alert = NoticeAlert.model_validate(alert_samples()[0])
    return notification_rules.on_alert(None, alert, Policy(), NOW).record


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


def take(spec: Input, value: bytes) -> object:
    """What the service does with one message: refuse it with reasons, or apply its rules."""
    raw = RawMessage(spec.topic, 0, 9, KEY, value)
    result = decode(raw, spec.adapter, spec.types)
    if isinstance(result, Invalid):
        assert result.errors and all(e.message and e.reason for e in result.errors)
        letter = dead_letter(
            raw, result.errors, service="fuzz", now=datetime.now(UTC), hint=result.hint
        )
        assert letter.value is not None and letter.source_offset == 9
        event(f"refused: {result.reason.value}")
        return letter
    assert isinstance(result, Decoded)
    outcome = spec.handle(result.event)
    event(f"handled: {type(outcome).__name__}")
    return outcome


def test_every_sample_is_accepted_as_it_is() -> None:
    for spec in INPUTS:
        assert SAMPLES[spec.topic], spec.topic
        for document in SAMPLES[spec.topic]:
            raw = RawMessage(spec.topic, 0, 9, KEY, json.dumps(document).encode())
            assert isinstance(decode(raw, spec.adapter, spec.types), Decoded), (
                spec.topic,
                document,
            )


@pytest.mark.parametrize("topic", list(BY_TOPIC))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.binary(max_size=512))
def test_random_bytes_are_refused_with_a_reason(topic: str, value: bytes) -> None:
    take(BY_TOPIC[topic], value)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=40)
    | st.sampled_from(["", "2027-13-45T99:99:99", "9999-12-31T23:59:59Z", "Mars/Olympus"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def _leaves(document: Any) -> list[Any]:
    if isinstance(document, dict):
        return [leaf for value in document.values() for leaf in _leaves(value)]
    if isinstance(document, list):
        return [leaf for value in document for leaf in _leaves(value)]
    return [document]


def paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += paths(value, (*prefix, index))
    return found


def mutate(document: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    mutated = copy.deepcopy(document)
    parent = mutated
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "delete" and isinstance(parent, dict):
        del parent[last]
    elif how == "wrap":
        parent[last] = [parent[last]]
    else:
        parent[last] = value
    return mutated


def is_instant(value: Any) -> bool:
    if not isinstance(value, str) or len(value) < 10 or value[4:5] != "-":
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


# Every string of every sample: field values swapped between fields and messages.
STRINGS = sorted(
    {
        leaf
        for samples in SAMPLES.values()
        for document in samples
        for leaf in _leaves(document)
        if isinstance(leaf, str)
    }
)


def similar(value: Any) -> st.SearchStrategy[Any]:
    """A value of the same kind: what a buggy or hostile producer sends that still parses."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(min_value=-(10**6), max_value=10**6)
    if is_instant(value):
        offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
            lambda minutes: timezone(timedelta(minutes=minutes))
        )
        aware = st.datetimes(
            min_value=datetime(1901, 1, 1), max_value=datetime(9998, 12, 31), timezones=offsets
        ).map(lambda moment: moment.isoformat())
        naive = st.datetimes(min_value=datetime(1901, 1, 1), max_value=datetime(9998, 12, 31)).map(
            lambda moment: moment.isoformat()
        )
        return aware | naive
    if isinstance(value, str):
        return st.sampled_from(STRINGS) | st.text(max_size=12)
    return JSON


@pytest.mark.parametrize("topic", list(BY_TOPIC))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_messages_are_refused_or_handled(topic: str, data: st.DataObject) -> None:
    spec = BY_TOPIC[topic]
    document = data.draw(st.sampled_from(SAMPLES[topic]))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        where = paths(document)
        if not where:
            break
        path = data.draw(st.sampled_from(where))
        # Mostly a value of the same kind (it parses, so the rules see it), else anything.
        how = data.draw(st.sampled_from(["similar"] * 6 + ["replace", "delete", "wrap"]))
        current = document
        for step in path:
            current = current[step]
        value = data.draw(similar(current) if how == "similar" else JSON)
        document = mutate(document, path, how, value)
    take(spec, json.dumps(document).encode())
