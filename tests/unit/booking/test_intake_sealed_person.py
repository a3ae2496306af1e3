"""A person the intake seals inline on jail.booking.v1 (#46): the booking service opens it and
seals it under the booking's own data key; what does not open is refused without a value of
it; a jail's clear person is unchanged, its errors named on the clear form only."""

from __future__ import annotations

import os
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from schemas.jail_booking import JAIL_EVENT, JAIL_EVENT_TYPES, BookingOpened, Person
from schemas.sealed import SealedMessage
from services.booking import domain
from services.booking.keys import BookingKeys
from services.core import field_crypto as fc
from services.core.outcomes import Rejected
from services.intake.publisher import Publisher
from services.streams.codec import Decoded, Invalid, RawMessage, decode
from tests import factories

KEY = f"{factories.JURISDICTION}/2027-000123"
PERSON = {
    "person_id": "pid-77",
    "first_name": "Zofia",
    "last_name": "Quell",
    "date_of_birth": "1987-11-23",
}


def keks(kek_id: str = "kek-1") -> fc.LocalKeks:
    return fc.LocalKeks({kek_id: os.urandom(32)}, kek_id)


def publisher(ring: fc.LocalKeks | None) -> Publisher:
    made = Publisher.__new__(Publisher)  # what _send uses: its KEKs
    made.keks = ring
    return made


def decoded(document: dict[str, Any]) -> BookingOpened:
    raw = RawMessage("jail.booking.v1", 0, 1, KEY.encode(), factories.wire(document))
    result = decode(raw, JAIL_EVENT, JAIL_EVENT_TYPES)
    assert isinstance(result, Decoded), result
    assert isinstance(result.event, BookingOpened)
    return result.event


def sent_by_the_intake(ring: fc.LocalKeks) -> dict[str, Any]:
    document = factories.opened(booking_id="2027-000123", data={"person": dict(PERSON)})
    return publisher(ring).sealed(KEY, document)


def test_the_intake_seals_the_person_and_nothing_else() -> None:
    sealed = sent_by_the_intake(keks())
    wire = factories.wire(sealed)
    for clear in PERSON.values():
        assert clear.encode() not in wire
    assert sealed["data"]["facility"] == factories.opened()["data"]["facility"]
    assert isinstance(decoded(sealed).data.person, SealedMessage)


@pytest.mark.parametrize(
    "document",
    [
        factories.scheduled("2027-04-01T09:00:00"),
        factories.envelope("inmate.released", {"released_at": "2027-04-01T09:00:00"}),
    ],
)
def test_other_events_and_an_intake_without_keks_send_as_they_are(
    document: dict[str, Any],
) -> None:
    assert publisher(keks()).sealed(KEY, document) is document
    opened = factories.opened()
    assert publisher(None).sealed(KEY, opened) is opened


def test_the_booking_service_opens_it_and_its_state_is_sealed_under_the_bookings_key() -> None:
    ring = keks()
    keys = BookingKeys(fc.Keyring(ring), topic=SimpleNamespace(), clock=SimpleNamespace())  # type: ignore[arg-type]
    event = keys.opened(KEY, decoded(sent_by_the_intake(ring)))
    assert event.data.person == Person.model_validate(PERSON)
    outcome = domain.apply(None, event, "jail.booking.v1:0:1", timedelta(days=1))
    assert isinstance(outcome, domain.Accepted)
    assert outcome.message.data.person == Person.model_validate(PERSON)  # then sealed by keys


def test_a_clear_person_is_left_as_the_jail_sent_it() -> None:
    keys = BookingKeys(fc.Keyring(keks()), topic=SimpleNamespace(), clock=SimpleNamespace())  # type: ignore[arg-type]
    event = decoded(factories.opened(booking_id="2027-000123"))
    assert keys.opened(KEY, event) is event


@pytest.mark.parametrize(
    ("ring", "booking", "raised"),
    [
        (None, KEY, fc.KeyUnavailable),  # this booking service has no KEK file
        (keks("kek-2"), KEY, fc.KeyUnavailable),  # the intake's KEK is not in its file
        (keks("kek-1"), KEY, fc.Tampered),  # another KEK of the same name
        ("same", f"{factories.JURISDICTION}/2027-000124", fc.Tampered),  # another booking's
    ],
)
def test_a_person_that_does_not_open_is_refused_naming_no_value(
    ring: Any, booking: str, raised: type
) -> None:
    intake = keks()
    ring = intake if ring == "same" else ring
    keys = BookingKeys(fc.Keyring(ring) if ring else None, SimpleNamespace(), SimpleNamespace())  # type: ignore[arg-type]
    with pytest.raises(raised) as caught:
        keys.opened(booking, decoded(sent_by_the_intake(intake)))
    for clear in PERSON.values():
        assert clear not in str(caught.value)


def test_a_sealed_person_that_is_not_a_person_does_not_open_as_one() -> None:
    ring = keks()
    document = sent_by_the_intake(ring)
    document["data"]["person"] = fc.seal_person({"first_name": "Zofia"}, KEY, ring).model_dump()
    keys = BookingKeys(fc.Keyring(ring), SimpleNamespace(), SimpleNamespace())  # type: ignore[arg-type]
    with pytest.raises(fc.Tampered) as caught:
        keys.opened(KEY, decoded(document))
    assert "Zofia" not in str(caught.value)


def test_the_rules_refuse_a_person_still_sealed() -> None:
    event = decoded(sent_by_the_intake(keks()))
    outcome = domain.apply(None, event, "jail.booking.v1:0:1", timedelta(days=1))
    assert isinstance(outcome, Rejected)
    assert [e.path for e in outcome.errors] == ["data.person"]


def test_a_jails_bad_person_is_named_on_the_clear_form_only() -> None:
    document = factories.opened(data={"person": {**PERSON, "date_of_birth": "1987-02-30"}})
    raw = RawMessage("jail.booking.v1", 0, 1, KEY.encode(), factories.wire(document))
    result = decode(raw, JAIL_EVENT, JAIL_EVENT_TYPES)
    assert isinstance(result, Invalid)
    assert [e.path for e in result.errors] == ["data.person.date_of_birth"]


def test_a_person_sealed_for_one_booking_opens_for_it_only() -> None:
    ring = keks()
    sealed = fc.seal_person(PERSON, KEY, ring)
    assert fc.open_person(sealed, KEY, ring) == PERSON
    with pytest.raises(fc.Tampered):
        fc.open_person(sealed, f"{KEY}x", ring)
    with pytest.raises(fc.Tampered):  # nor as a message at a position
        fc.open_message(sealed, "jail.booking.v1:0:1", ring)
