"""The simulator's flagged booking: what benchmarks and the fault suite build their model on."""

from datetime import UTC, datetime, timedelta

from schemas.agency_requests import AGENCY_REQUEST, AGENCY_REQUEST_TYPES
from schemas.jail_booking import JAIL_EVENT, JAIL_EVENT_TYPES
from services.simulator.generator import JailSimulator, SimulatorConfig
from services.simulator.places import FACILITIES
from services.streams.codec import Decoded, RawMessage, decode

NOW = datetime(2027, 3, 2, 12, 0, tzinfo=UTC)


def test_a_flagged_booking_is_opened_scheduled_then_requested() -> None:
    simulator = JailSimulator(SimulatorConfig(seed=1), lambda: NOW)
    release = NOW + timedelta(hours=50, seconds=0.25)
    story = simulator.flagged(release, FACILITIES[2])
    assert [o.kind for o in story] == [
        "booking.opened",
        "release.scheduled",
        "notice_request.received",
    ]
    assert len({o.key for o in story}) == 1
    assert story[0].key is not None and story[0].key.decode().startswith("us-il-cook/")
    decoded = []
    for number, outgoing in enumerate(story):
        adapter, types = (
            (AGENCY_REQUEST, AGENCY_REQUEST_TYPES)
            if outgoing.topic == "agency.requests.v1"
            else (JAIL_EVENT, JAIL_EVENT_TYPES)
        )
        raw = RawMessage(outgoing.topic, 0, number, outgoing.key, outgoing.value)
        result = decode(raw, adapter, types)
        assert isinstance(result, Decoded), result
        decoded.append(result.event)
    assert decoded[1].data.release_at == release
    assert decoded[2].data.agency == "dhs-ice"
    other = simulator.flagged(release)
    assert other[0].key != story[0].key  # each call is its own booking
