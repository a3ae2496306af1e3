import base64
import json
import os
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.deadletter import RejectReason
from schemas.jail_booking import JAIL_EVENT, JAIL_EVENT_TYPES, BookingOpened
from schemas.sealed import SealedMessage
from schemas.topics import MAX_MESSAGE_BYTES
from services.core.field_crypto import LocalKeks, open_message
from services.streams.codec import Decoded, Invalid, RawMessage, dead_letter, decode
from tests import factories

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def raw(value: bytes | None, key: bytes | None = b"us-mn-hennepin/2027-000123") -> RawMessage:
    return RawMessage(topic="jail.booking.v1", partition=3, offset=17, key=key, value=value)


def rejected(value: bytes | None) -> Invalid:
    result = decode(raw(value), JAIL_EVENT, JAIL_EVENT_TYPES)
    assert isinstance(result, Invalid), result
    return result


def test_a_valid_event_decodes_to_its_type() -> None:
    result = decode(raw(factories.wire(factories.opened())), JAIL_EVENT, JAIL_EVENT_TYPES)
    assert isinstance(result, Decoded)
    assert isinstance(result.event, BookingOpened)
    assert result.event.data.facility.timezone == "America/Chicago"


def test_unknown_extra_fields_are_kept_and_ignored() -> None:
    document = factories.opened()
    document["data"]["cell_block"] = "C"
    document["data"]["facility"]["wing"] = "north"
    result = decode(raw(factories.wire(document)), JAIL_EVENT, JAIL_EVENT_TYPES)
    assert isinstance(result, Decoded)
    assert result.event.data.model_extra == {"cell_block": "C"}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", RejectReason.INVALID_JSON),
        (b"", RejectReason.INVALID_JSON),
        (None, RejectReason.INVALID_JSON),
        (b"\xff\xfe\x00garbage", RejectReason.NOT_UTF8),
        (b"[1, 2]", RejectReason.SCHEMA),
        (b"42", RejectReason.SCHEMA),
    ],
)
def test_unreadable_messages_are_refused_with_a_reason(value: bytes | None, reason: str) -> None:
    assert rejected(value).reason == reason


def test_messages_over_one_mebibyte_are_refused() -> None:
    document = factories.opened()
    document["data"]["padding"] = "x" * MAX_MESSAGE_BYTES
    result = rejected(factories.wire(document))
    assert result.reason == RejectReason.TOO_LARGE
    assert "limit" in result.errors[0].message


def test_an_unknown_type_names_the_known_ones() -> None:
    result = rejected(factories.wire(factories.envelope("booking.teleported", {})))
    assert result.reason == RejectReason.UNKNOWN_TYPE
    assert result.errors[0].path == "type"
    assert "booking.opened" in result.errors[0].message
    assert result.hint["type"] == "booking.teleported"


def test_missing_fields_are_listed_with_their_paths() -> None:
    document = factories.opened()
    del document["data"]["facility"]["timezone"]
    del document["data"]["person"]["date_of_birth"]
    result = rejected(factories.wire(document))
    paths = {error.path for error in result.errors}
    assert paths == {"data.facility.timezone", "data.person.date_of_birth"}
    assert all(error.reason == RejectReason.SCHEMA for error in result.errors)


@pytest.mark.parametrize("zone", ["America/Gotham", "Mars/Olympus_Mons", "CST6CDT", "", "EST"])
def test_an_unknown_timezone_is_its_own_reason(zone: str) -> None:
    document = factories.opened()
    document["data"]["facility"]["timezone"] = zone
    result = rejected(factories.wire(document))
    assert result.errors[0].path == "data.facility.timezone"
    assert result.reason == RejectReason.UNKNOWN_TIMEZONE


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("jurisdiction", "US MN", "jurisdiction"),
        ("booking_id", "", "booking_id"),
        ("event_id", "x" * 201, "event_id"),
        ("occurred_at", "2027-03-01T09:30:00", "occurred_at"),  # no offset
        ("occurred_at", "yesterday", "occurred_at"),
        ("sequence", -1, "sequence"),
    ],
)
def test_envelope_rules(field: str, value: object, path: str) -> None:
    document = factories.opened()
    document[field] = value
    result = rejected(factories.wire(document))
    assert [error.path for error in result.errors] == [path]


def test_a_charge_level_outside_the_list_is_refused() -> None:
    document = factories.charges("609.52")
    document["data"]["charges"][0]["level"] = "petty"
    result = rejected(factories.wire(document))
    assert result.errors[0].path == "data.charges.0.level"


def test_a_dead_letter_keeps_the_message_verbatim() -> None:
    message = raw(b"\xff\xfe\x00garbage", key=b"\xff\x01")
    result = rejected(message.value)
    letter = dead_letter(message, result.errors, service="booking", now=NOW)
    assert letter.value is not None
    assert letter.value.encoding == "base64"
    assert base64.b64decode(letter.value.content) == message.value
    assert letter.key is not None
    assert base64.b64decode(letter.key.content) == b"\xff\x01"
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
        "jail.booking.v1",
        3,
        17,
    )
    assert letter.deadletter_id == "jail.booking.v1:3:17"
    assert letter.service == "booking"
    assert letter.reason == RejectReason.NOT_UTF8


def test_a_dead_letter_keeps_text_as_text() -> None:
    document = factories.envelope("booking.teleported", {})
    message = raw(factories.wire(document))
    result = rejected(message.value)
    letter = dead_letter(message, result.errors, service="booking", now=NOW, hint=result.hint)
    assert letter.value is not None
    assert letter.value.encoding == "utf-8"
    assert json.loads(letter.value.content) == document
    assert letter.event_id == document["event_id"]


@pytest.mark.parametrize(
    "bad",
    [
        {"date_of_birth": "1990-02-31"},  # no such day
        {"first_name": 7},
        {"person_id": ""},
        {"extra_name_field": "Quellzofia"},  # kept and ignored; the booking_id makes it bad
    ],
)
def test_with_keks_a_dead_letter_seals_what_was_sent_and_names_nothing_personal(
    bad: dict[str, object],
) -> None:
    """#46: a refused booking.opened names the person; its dead letter keeps it sealed, and
    the reasons (field paths, messages) and the key say nothing personal."""
    person = {
        "person_id": "pid-qq81",
        "first_name": "Zofia",
        "last_name": "Quellzofia",
        "date_of_birth": "1987-11-23",
        **bad,
    }
    document = factories.opened(data={"person": person})
    if "extra_name_field" in bad:
        document["booking_id"] = ""
    message = raw(factories.wire(document))
    result = rejected(message.value)
    ring = LocalKeks({"kek-1": os.urandom(32)}, "kek-1")
    letter = dead_letter(
        message, result.errors, service="booking", now=NOW, hint=result.hint, keks=ring
    )
    wire = letter.model_dump_json()
    for clear in ("Zofia", "Quellzofia", "pid-qq81", "1987-11-23", "1990-02-31"):
        assert clear not in wire, clear
    assert isinstance(letter.value, SealedMessage)
    assert open_message(letter.value, letter.deadletter_id, ring) == message.value
    assert letter.key is not None and letter.key.content == "us-mn-hennepin/2027-000123"
    assert letter.event_id == document["event_id"] and letter.errors


def test_with_keks_an_empty_value_has_nothing_to_seal() -> None:
    ring = LocalKeks({"kek-1": os.urandom(32)}, "kek-1")
    message = raw(None)
    letter = dead_letter(message, rejected(None).errors, service="booking", now=NOW, keks=ring)
    assert letter.value is None


@settings(max_examples=300)
@given(st.binary(max_size=2048))
def test_random_bytes_never_raise(value: bytes) -> None:
    result = decode(raw(value), JAIL_EVENT, JAIL_EVENT_TYPES)
    assert isinstance(result, Decoded | Invalid)
    if isinstance(result, Invalid):
        assert result.errors


@settings(max_examples=300)
@given(
    st.sampled_from(["event_id", "type", "occurred_at", "jurisdiction", "booking_id", "data"]),
    st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=30),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    ),
)
def test_mutated_events_are_accepted_or_refused_with_paths(field: str, value: object) -> None:
    document = factories.opened()
    document[field] = value
    result = decode(raw(factories.wire(document)), JAIL_EVENT, JAIL_EVENT_TYPES)
    if isinstance(result, Invalid):
        assert all(error.message for error in result.errors)
    else:
        assert isinstance(result.event, BookingOpened)
