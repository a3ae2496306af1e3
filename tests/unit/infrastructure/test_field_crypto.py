"""Person data sealed field by field (#46): AES-256-GCM under a data key per booking, the data
key wrapped under a KEK; a value opens only for its booking and field, with its key; a
shredded key or an unknown KEK leaves it unreadable; KEKs rotate without re-sealing."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.sealed import SealedValue, WrappedDataKey
from services.core import field_crypto as fc

BOOKING = "us-mn-hennepin/2027-000123"
PERSON = {
    "person_id": "p-778",
    "first_name": "Ana",
    "last_name": "Doe",
    "date_of_birth": "1990-02-03",
}


def keks(*ids: str, current: str | None = None) -> fc.LocalKeks:
    names = ids or ("kek-1",)
    return fc.LocalKeks({i: os.urandom(32) for i in names}, current or names[-1])


def test_a_sealed_person_opens_for_its_booking_and_field_and_shows_nothing_in_clear() -> None:
    ring = keks()
    key, wrapped = fc.new_data_key(BOOKING, ring)
    sealed = fc.seal(PERSON, BOOKING, "person", key).model_dump()
    wire = json.dumps(sealed)
    for clear in ("Ana", "Doe", "1990-02-03", "p-778"):
        assert clear not in wire
    assert fc.is_sealed(sealed) and not fc.is_sealed(PERSON)
    again = fc.unwrap(BOOKING, WrappedDataKey.model_validate_json(wrapped.model_dump_json()), ring)
    assert fc.open_sealed(SealedValue.model_validate(sealed), BOOKING, "person", again) == PERSON


def test_each_seal_is_fresh_so_equal_values_do_not_show_as_equal() -> None:
    key, _ = fc.new_data_key(BOOKING, keks())
    first, second = (fc.seal(PERSON, BOOKING, "person", key) for _ in range(2))
    assert first.nonce != second.nonce and first.ciphertext != second.ciphertext


@pytest.mark.parametrize(
    ("booking", "field"),
    [("us-mn-hennepin/2027-000124", "person"), (BOOKING, "attorney"), ("x/y", "z")],
)
def test_a_value_moved_to_another_booking_or_field_does_not_open(booking: str, field: str) -> None:
    key, _ = fc.new_data_key(BOOKING, keks())
    sealed = fc.seal(PERSON, BOOKING, "person", key)
    with pytest.raises(fc.Tampered):
        fc.open_sealed(sealed, booking, field, key)


@given(st.integers(min_value=0), st.integers(min_value=0, max_value=7))
def test_any_bit_flipped_in_the_ciphertext_is_refused(position: int, bit: int) -> None:
    key, _ = fc.new_data_key(BOOKING, RING)
    sealed = fc.seal(PERSON, BOOKING, "person", key)
    raw = bytearray(fc._raw(sealed.ciphertext))
    raw[position % len(raw)] ^= 1 << bit
    flipped = sealed.model_copy(update={"ciphertext": fc._b64(bytes(raw))})
    with pytest.raises(fc.Tampered):
        fc.open_sealed(flipped, BOOKING, "person", key)


RING = keks()


def test_another_bookings_key_is_not_the_key() -> None:
    ring = keks()
    key, _ = fc.new_data_key(BOOKING, ring)
    other, _ = fc.new_data_key(BOOKING, ring)
    with pytest.raises(fc.KeyUnavailable):
        fc.open_sealed(fc.seal(PERSON, BOOKING, "person", key), BOOKING, "person", other)


def test_a_wrapped_key_unwraps_only_for_its_booking() -> None:
    ring = keks()
    _, wrapped = fc.new_data_key(BOOKING, ring)
    with pytest.raises(fc.Tampered):
        fc.unwrap("us-mn-hennepin/2027-000999", wrapped, ring)


def test_keks_rotate_without_resealing_and_an_unknown_kek_is_unavailable() -> None:
    old = keks("kek-2026")
    key, wrapped = fc.new_data_key(BOOKING, old)
    sealed = fc.seal(PERSON, BOOKING, "person", key)
    rotated = fc.LocalKeks({**old.keys, "kek-2027": os.urandom(32)}, "kek-2027")
    assert fc.new_data_key(BOOKING, rotated)[1].kek_id == "kek-2027"  # new keys: the new KEK
    opened = fc.open_sealed(sealed, BOOKING, "person", fc.unwrap(BOOKING, wrapped, rotated))
    assert opened == PERSON  # old ones: still their KEK
    with pytest.raises(fc.KeyUnavailable, match="kek-2026"):
        fc.unwrap(BOOKING, wrapped, keks("kek-2027"))


def test_a_data_key_never_shows_its_secret() -> None:
    key, wrapped = fc.new_data_key(BOOKING, keks())
    assert key.secret.hex() not in repr(key) and key.kid in repr(key)
    assert key.secret.hex() not in wrapped.model_dump_json()


def test_what_is_not_a_sealed_value_is_refused_as_such() -> None:
    with pytest.raises(ValidationError):
        SealedValue.model_validate(PERSON)
    with pytest.raises(ValidationError):
        SealedValue.model_validate({"sealed": "A128CBC", "kid": "k", "nonce": "", "ciphertext": ""})


def test_a_keyring_unwraps_a_key_once_and_forgets_a_destroyed_one() -> None:
    calls: list[str] = []

    class Counting(fc.LocalKeks):
        def unwrap(self, kek_id: str, nonce: bytes, wrapped: bytes, aad: bytes) -> bytes:
            calls.append(kek_id)
            return super().unwrap(kek_id, nonce, wrapped, aad)

    base = keks()
    ring = fc.Keyring(Counting(base.keys, base.current), keep=2)
    _, wrapped = fc.new_data_key(BOOKING, ring.keks)
    first = ring.data_key(BOOKING, wrapped)
    assert ring.data_key(BOOKING, wrapped) is first and len(calls) == 1
    ring.forget(BOOKING)
    ring.data_key(BOOKING, wrapped)
    assert len(calls) == 2  # unwrapped again: nothing kept of a forgotten booking
    for other in ("a/1", "a/2"):  # two more bookings: the oldest goes
        ring.new_key(other)
    ring.data_key(BOOKING, wrapped)
    assert len(calls) == 3
