"""A publisher's message sealed whole where releasewatch keeps a copy of it (#46: placed copies
and dead letters): a one-off data key wrapped inline under a KEK; it opens, byte for byte,
only for the position it was sealed for, with a KEK that is here."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.sealed import SealedMessage
from services.core import field_crypto as fc

POSITION = "jail.booking.v1:3:1234"
MESSAGE = (
    b'{"type":"booking.opened","data":{"person":{"first_name":"Ana","last_name":"Doe",'
    b'"date_of_birth":"1990-02-03","person_id":"p-778"}}}'
)


def keks(*ids: str) -> fc.LocalKeks:
    names = ids or ("kek-1",)
    return fc.LocalKeks({i: os.urandom(32) for i in names}, names[-1])


def test_a_sealed_message_shows_nothing_in_clear_and_opens_to_the_same_bytes() -> None:
    ring = keks()
    sealed = fc.seal_message(MESSAGE, POSITION, ring)
    wire = sealed.model_dump_json()
    for clear in ("Ana", "Doe", "1990-02-03", "p-778", "booking.opened"):
        assert clear not in wire
    again = SealedMessage.model_validate_json(wire)
    assert fc.open_message(again, POSITION, ring) == MESSAGE


@given(st.binary(max_size=2048))
def test_any_bytes_round_trip_not_only_json(value: bytes) -> None:
    ring = keks()
    assert fc.open_message(fc.seal_message(value, POSITION, ring), POSITION, ring) == value


def test_each_message_has_its_own_key_and_nonce() -> None:
    ring = keks()
    first, second = (fc.seal_message(MESSAGE, POSITION, ring) for _ in range(2))
    assert first.key.kid != second.key.kid
    assert first.nonce != second.nonce and first.ciphertext != second.ciphertext


@pytest.mark.parametrize(
    "position", ["jail.booking.v1:3:1235", "jail.booking.v1:4:1234", "deadletter.v1:3:1234"]
)
def test_a_message_sealed_for_one_position_does_not_open_for_another(position: str) -> None:
    ring = keks()
    sealed = fc.seal_message(MESSAGE, POSITION, ring)
    with pytest.raises(fc.Tampered):
        fc.open_message(sealed, position, ring)


@pytest.mark.parametrize("field", ["ciphertext", "nonce"])
def test_an_altered_message_does_not_open(field: str) -> None:
    ring = keks()
    sealed = fc.seal_message(MESSAGE, POSITION, ring)
    raw = bytearray(fc._raw(getattr(sealed, field)))
    raw[0] ^= 1
    altered = sealed.model_copy(update={field: fc._b64(bytes(raw))})
    with pytest.raises(fc.Tampered):
        fc.open_message(altered, POSITION, ring)


def test_a_wrapped_key_taken_from_another_message_does_not_open_this_one() -> None:
    ring = keks()
    sealed = fc.seal_message(MESSAGE, POSITION, ring)
    other = fc.seal_message(MESSAGE, POSITION, ring)
    with pytest.raises(fc.Tampered):
        fc.open_message(sealed.model_copy(update={"key": other.key}), POSITION, ring)


def test_a_booking_key_never_opens_as_a_message_key() -> None:
    """A booking's wrapped data key put in a sealed message does not unwrap there: the wrap
    binds what it was made for."""
    ring = keks()
    _, booking_key = fc.new_data_key("us-mn-hennepin/2027-000123", ring)
    sealed = fc.seal_message(MESSAGE, POSITION, ring)
    with pytest.raises(fc.Tampered):
        fc.open_message(sealed.model_copy(update={"key": booking_key}), POSITION, ring)


def test_after_rotation_old_messages_open_and_without_their_kek_they_cannot() -> None:
    old = keks("kek-1")
    sealed = fc.seal_message(MESSAGE, POSITION, old)
    rotated = fc.LocalKeks({**old.keys, "kek-2": os.urandom(32)}, "kek-2")
    assert fc.open_message(sealed, POSITION, rotated) == MESSAGE
    assert fc.seal_message(MESSAGE, POSITION, rotated).key.kek_id == "kek-2"
    with pytest.raises(fc.KeyUnavailable):
        fc.open_message(sealed, POSITION, keks("kek-3"))
