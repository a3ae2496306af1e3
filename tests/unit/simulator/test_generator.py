from collections import Counter
from datetime import UTC, datetime
from itertools import islice

from schemas.agency_requests import AGENCY_REQUEST, AGENCY_REQUEST_TYPES
from schemas.jail_booking import JAIL_EVENT, JAIL_EVENT_TYPES
from schemas.topics import JAIL_BOOKING
from services.booking import domain as booking_rules
from services.simulator.generator import JailSimulator, Outgoing, SimulatorConfig
from services.streams.codec import Decoded, Invalid, RawMessage, decode

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def generate(count: int, **config: object) -> list[Outgoing]:
    simulator = JailSimulator(SimulatorConfig(seed=7, **config), lambda: NOW)  # type: ignore[arg-type]
    return list(islice(simulator.events(), count))


def test_the_same_seed_gives_the_same_traffic() -> None:
    assert generate(300) == generate(300)


def test_good_events_are_valid_and_bad_ones_are_refused_with_their_reason() -> None:
    records: dict[bytes | None, booking_rules.BookingRecord] = {}
    outcomes: Counter[str] = Counter()
    for offset, outgoing in enumerate(generate(4000)):
        raw = RawMessage(outgoing.topic, 0, offset, outgoing.key, outgoing.value)
        if outgoing.topic == JAIL_BOOKING.name:
            result = decode(raw, JAIL_EVENT, JAIL_EVENT_TYPES)
        else:
            result = decode(raw, AGENCY_REQUEST, AGENCY_REQUEST_TYPES)
        if outgoing.kind.startswith("bad:"):
            reason = outgoing.kind.removeprefix("bad:")
            if isinstance(result, Invalid):
                outcomes[f"refused:{result.reason.value}"] += 1
                assert reason in (result.reason.value, "nonexistent_local_time")
                continue
            decision = booking_rules.apply(records.get(outgoing.key), result.event, raw.position)
            assert isinstance(decision, booking_rules.Rejected), outgoing.kind
            outcomes[f"refused:{decision.errors[0].reason.value}"] += 1
            continue
        assert isinstance(result, Decoded), (outgoing.kind, result)
        if outgoing.topic == JAIL_BOOKING.name:
            decision = booking_rules.apply(records.get(outgoing.key), result.event, raw.position)
            assert isinstance(decision, booking_rules.Accepted), (outgoing.kind, decision)
            records[outgoing.key] = decision.record
        outcomes[outgoing.kind] += 1
    assert outcomes["booking.opened"] > 1000
    assert outcomes["refused:nonexistent_local_time"] >= 1
    assert outcomes["refused:unknown_timezone"] >= 1
    assert outcomes["refused:unknown_type"] >= 1


def test_about_four_percent_of_bookings_are_flagged() -> None:
    kinds = Counter(o.kind for o in generate(20000))
    share = kinds["notice_request.received"] / kinds["booking.opened"]
    assert 0.02 < share < 0.07, share


def test_the_demo_flags_more_and_places_releases_just_past_the_window() -> None:
    kinds = Counter(o.kind for o in generate(2000, demo=True))
    assert kinds["notice_request.received"] / kinds["booking.opened"] > 0.25


def test_the_timezones_of_several_facilities_appear() -> None:
    zones = {
        o.value.split(b'"timezone": "')[1].split(b'"')[0]
        for o in generate(2000)
        if o.kind == "booking.opened"
    }
    assert {
        b"America/Chicago",
        b"America/Los_Angeles",
        b"America/Phoenix",
        b"America/New_York",
    } <= zones
