"""What a service's own work costs per message, in process, with no broker, no client and
no faust: the floor under issue 18's per-service goal (20,000 events/s on one core is 50 us a
message, everything included).

For each input message, as the worker does it: decode and validate at the edge, read the
booking's stored record (faust keeps JSON bytes: ``json.loads``, then the model validated
from the dict), decide with the domain, encode what it publishes, and dump the new record
back to JSON bytes. Booking takes the simulator's jail events; scheduling takes the booking
states booking produced and the agency requests, in order. Against a bare relay of the same
bytes in the same run (``json.loads`` + ``json.dumps``: the least any service could do).
Prints microseconds per message, the rate one core could reach if nothing else cost
anything, and the ratio to the bare relay; asserts nothing.

    .venv/bin/python -m bench.floor [EVENTS]
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from pydantic import BaseModel

from schemas.agency_requests import AGENCY_REQUEST
from schemas.jail_booking import JAIL_EVENT
from schemas.topics import AGENCY_REQUESTS, BOOKING_STATE, JAIL_BOOKING
from services.booking import domain as booking
from services.core import policy as policies
from services.scheduling import domain as scheduling
from services.scheduling.app import BOOKING_STATE_MESSAGE
from services.scheduling.records import Outcome, SchedulingRecord
from services.settings import Settings
from services.simulator.generator import JailSimulator, SimulatorConfig
from services.streams.codec import Decoded, RawMessage, decode, encode

GOAL_PER_SECOND = 20_000  # issue 18: each service alone, on a backlog


class Store:
    """A table as faust's RocksDB store holds it: JSON bytes per key."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> Any:
        stored = self.data.get(key)
        return self.model.model_validate(json.loads(stored)) if stored else None

    def put(self, key: str, record: BaseModel) -> None:
        self.data[key] = json.dumps(record.model_dump(mode="json")).encode()


def timed(messages: list[RawMessage], step: Callable[[RawMessage], object]) -> float:
    """Microseconds per message, one pass (the stores change as they go)."""
    started = time.perf_counter()
    for raw in messages:
        step(raw)
    return (time.perf_counter() - started) / len(messages) * 1e6


def relay(raw: RawMessage) -> bytes:
    """Parse and write back (the simulator's few bad messages are passed as they are)."""
    try:
        return json.dumps(json.loads(raw.value or b"")).encode()
    except ValueError:
        return raw.value or b""


def booking_stage(
    store: Store | None = None,
) -> tuple[Callable[[RawMessage], object], list[Any]]:
    """The booking worker's work per jail event, returning what the edge refused (``Invalid``)
    or the domain decided; the states it publishes are collected as (offset, key, encoded
    state), the records kept in ``store``."""
    store = store or Store(booking.BookingRecord)
    book = policies.load(Settings().policy_file)
    types = JAIL_BOOKING.event_types
    published: list[Any] = []

    def step(raw: RawMessage) -> object:
        result = decode(raw, JAIL_EVENT, types)
        if not isinstance(result, Decoded):
            return result
        event = result.event
        retire_after = book.for_jurisdiction(event.jurisdiction).retire_after
        decision = booking.apply(store.get(event.key), event, raw.position, retire_after)
        if isinstance(decision, booking.Accepted):
            published.append((raw.offset, event.key.encode(), encode(decision.message)))
            store.put(event.key, decision.record)
        return decision

    return step, published


def scheduling_stage() -> Callable[[RawMessage], object]:
    """The scheduling worker's work per booking state or agency request."""
    store = Store(SchedulingRecord)
    book = policies.load(Settings().policy_file)
    now = datetime.now(UTC)
    states, requests = BOOKING_STATE.event_types, AGENCY_REQUESTS.event_types

    def step(raw: RawMessage) -> None:
        if raw.topic == BOOKING_STATE.name:
            result: Any = decode(raw, BOOKING_STATE_MESSAGE, states)
        else:
            result = decode(raw, AGENCY_REQUEST, requests)
        if not isinstance(result, Decoded):
            return
        event = result.event
        policy = book.for_jurisdiction(event.jurisdiction)
        record = store.get(event.key)
        if raw.topic == BOOKING_STATE.name:
            outcome = scheduling.on_booking_state(record, event, policy.release_hour, now, policy)
        else:
            outcome = scheduling.on_request(
                record, event, raw.position, policy.window_hours, now, policy
            )
        if isinstance(outcome, Outcome):
            for message in (outcome.schedule, *outcome.alerts, *outcome.audit):
                if message is not None:
                    encode(message)
            store.put(event.key, outcome.record)

    return step


def main(count: int = 50_000) -> dict[str, Any]:
    simulator = JailSimulator(SimulatorConfig(seed=5), lambda: datetime.now(UTC))
    produced = list(islice(simulator.events(), count))
    jail = [
        RawMessage(o.topic, 0, n, o.key, o.value)
        for n, o in enumerate(produced)
        if o.topic == JAIL_BOOKING.name
    ]
    requests = [
        (n, RawMessage(o.topic, 0, n, o.key, o.value))
        for n, o in enumerate(produced)
        if o.topic == AGENCY_REQUESTS.name
    ]
    bare = min(timed(jail, relay) for _ in range(3))
    book_step, states = booking_stage()
    booking_us = timed(jail, book_step)
    # Scheduling reads the states booking made and the requests, in the simulator's order.
    made = [(n, RawMessage(BOOKING_STATE.name, 0, n, k, v)) for n, k, v in states]
    inputs = [raw for _, raw in sorted(made + requests, key=lambda pair: pair[0])]
    scheduling_us = timed(inputs, scheduling_stage())
    results = {
        "jail_events": len(jail),
        "scheduling_inputs": len(inputs),
        "bare_relay_us": bare,
        "booking_us": booking_us,
        "scheduling_us": scheduling_us,
    }
    goal_us = 1e6 / GOAL_PER_SECOND
    print(
        f"floor: the services' own work per message in process (no broker, client or faust), "
        f"{len(jail):,} jail events, {len(inputs):,} scheduling inputs"
    )
    print(f"  bare relay (json.loads + json.dumps)   {bare:7.1f} us/message (the baseline)")
    for name, us in (("booking", booking_us), ("scheduling", scheduling_us)):
        print(
            f"  {name:<10} decode+read+decide+write {us:7.1f} us/message (x{us / bare:.1f} of "
            f"bare): at most {1e6 / us:,.0f}/s on one core if nothing else cost anything; the "
            f"goal's {GOAL_PER_SECOND:,}/s leaves {goal_us:.0f} us for everything"
        )
    return results


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
