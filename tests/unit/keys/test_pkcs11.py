"""KEKs on a PKCS#11 token (#46), against a real module (SoftHSM 2): data keys wrapped inside
the token open only there, for their booking; the KEK is made sensitive and never leaves; a
rotation keeps the old key unwrapping; a file's KEKs still unwrap after a move to the device;
every URI, token, PIN or key that cannot be used stops naming the setting; a lost session is
``KeyServiceUnavailable`` and the next call opens a new one."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import pytest
from pkcs11 import Attribute
from pkcs11 import exceptions as p11

from schemas.sealed import WrappedDataKey
from services.core import kek_file
from services.core.field_crypto import (
    KeyServiceUnavailable,
    KeyUnavailable,
    Tampered,
    new_data_key,
    open_message,
    open_person,
    seal_message,
    seal_person,
    unwrap,
)
from services.keys import Chained, keks_of
from services.keys.pkcs11 import SETTING, Pkcs11Error, Pkcs11Keks, parse_uri
from services.settings import Settings
from tests.support.softhsm import MODULE, PIN, Token

BOOKING = "us-mn-hennepin/2027-000123"
PERSON = {"first_name": "Ana", "last_name": "Doe", "date_of_birth": "1990-01-02"}


def fresh(token: Token, count: int = 1) -> list[str]:
    """``count`` new keys on the token, with labels no other test uses."""
    labels = [f"kek-{uuid.uuid4().hex[:10]}" for _ in range(count)]
    maker = Pkcs11Keks(parse_uri(token.uri(labels[0])), require_current=False)
    for label in labels:
        maker.generate(label)
    maker.close()
    return labels


def keks(token: Token, current: str) -> Pkcs11Keks:
    return Pkcs11Keks(parse_uri(token.uri(current)))


def test_a_data_key_wrapped_on_the_token_opens_there_for_its_booking_only(
    hsm_token: Token,
) -> None:
    [kek] = fresh(hsm_token)
    device = keks(hsm_token, kek)
    key, wrapped = new_data_key(BOOKING, device)
    assert wrapped.kek_id == kek
    assert unwrap(BOOKING, wrapped, device).secret == key.secret
    with pytest.raises(Tampered):
        unwrap("us-mn-hennepin/2027-000124", wrapped, device)
    other = dataclasses.replace(key, kid="dk-other")
    with pytest.raises(Tampered):
        unwrap(BOOKING, wrapped.model_copy(update={"kid": other.kid}), device)
    # what the intake and placement seal inline, and what a dead letter keeps
    person = seal_person(PERSON, BOOKING, device)
    assert open_person(person, BOOKING, device) == PERSON
    message = seal_message(b'{"jail": "sent"}', "jail.booking.v1:3:9", device)
    assert open_message(message, "jail.booking.v1:3:9", device) == b'{"jail": "sent"}'
    with pytest.raises(Tampered):
        open_message(message, "jail.booking.v1:3:10", device)


def test_the_kek_is_made_sensitive_and_never_leaves_the_token(hsm_token: Token) -> None:
    [label] = fresh(hsm_token)
    kek = keks(hsm_token, label)._key(label)
    assert kek[Attribute.SENSITIVE] is True
    assert kek[Attribute.EXTRACTABLE] is False
    assert kek[Attribute.TOKEN] is True  # kept on the token, not for the session
    with pytest.raises(p11.AttributeSensitive):
        kek[Attribute.VALUE]


def test_after_a_rotation_new_keys_go_under_the_new_kek_and_old_ones_still_open(
    hsm_token: Token,
) -> None:
    first, second = fresh(hsm_token, 2)
    _, old = new_data_key(BOOKING, keks(hsm_token, first))
    rotated = keks(hsm_token, second)
    key, new = new_data_key(BOOKING, rotated)
    assert (old.kek_id, new.kek_id) == (first, second)
    assert unwrap(BOOKING, old, rotated).kid == old.kid
    assert unwrap(BOOKING, new, rotated).secret == key.secret
    assert {first, second} <= set(rotated.labels())


def test_a_key_not_on_the_token_is_unavailable_not_tampered(hsm_token: Token) -> None:
    device = keks(hsm_token, fresh(hsm_token)[0])
    _, wrapped = new_data_key(BOOKING, device)
    gone = wrapped.model_copy(update={"kek_id": "kek-9"})
    with pytest.raises(KeyUnavailable, match="kek-9") as raised:
        unwrap(BOOKING, gone, device)
    assert not isinstance(raised.value, KeyServiceUnavailable)


def test_a_file_kek_still_unwraps_after_the_move_to_the_device(
    hsm_token: Token, tmp_path: Path
) -> None:
    [on_device] = fresh(hsm_token)
    path = tmp_path / "kek.json"
    file_kek = kek_file.rotate(path)
    _, before = new_data_key(BOOKING, kek_file.load(path))
    both = keks_of(
        Settings(kek_file=path, kek_pkcs11=hsm_token.uri(on_device))  # type: ignore[arg-type]
    )
    assert isinstance(both, Chained)
    key, after = new_data_key(BOOKING, both)
    assert (before.kek_id, after.kek_id) == (file_kek, on_device)
    assert unwrap(BOOKING, before, both).kid == before.kid
    assert unwrap(BOOKING, after, both).secret == key.secret
    device_only = keks_of(Settings(kek_pkcs11=hsm_token.uri(on_device)))  # type: ignore[arg-type]
    assert isinstance(device_only, Pkcs11Keks)
    with pytest.raises(KeyUnavailable):
        unwrap(BOOKING, before, device_only)


def test_a_lost_session_is_a_key_service_unavailable_and_the_next_call_opens_again(
    hsm_token: Token,
) -> None:
    [kek] = fresh(hsm_token)
    device = keks(hsm_token, kek)
    _, wrapped = new_data_key(BOOKING, device)
    device._session.close()  # the device went away under the service
    with pytest.raises(KeyServiceUnavailable):
        new_data_key(BOOKING, device)
    assert unwrap(BOOKING, wrapped, device).kid == wrapped.kid  # a new session
    assert new_data_key(BOOKING, device)[1].kek_id == kek


def test_the_pin_may_come_inline(hsm_token: Token) -> None:
    [kek] = fresh(hsm_token)
    device = Pkcs11Keks(parse_uri(hsm_token.uri(kek, pin_value=True)))
    assert device.current_id == kek
    assert PIN not in repr(parse_uri(hsm_token.uri(kek, pin_value=True)))


@pytest.mark.parametrize(
    ("uri", "named"),
    [
        ("token=x;object=y", "no PKCS#11 URI"),
        ("pkcs11:object=k?module-path=/m&pin-value=1", "token"),
        ("pkcs11:token=t?module-path=/m&pin-value=1", "object"),
        ("pkcs11:token=t;object=k?pin-value=1", "module-path"),
        ("pkcs11:token=t;object=k?module-path=/m", "pin-source or pin-value"),
        ("pkcs11:token=t;object=bad%20label?module-path=/m&pin-value=1", "no key label"),
        ("pkcs11:token=t;object=k?module-path=/m&pin-source=file:/nowhere/pin", "cannot be read"),
    ],
)
def test_a_uri_that_cannot_be_used_is_refused_naming_what_it_lacks(uri: str, named: str) -> None:
    with pytest.raises(Pkcs11Error, match=named) as raised:
        parse_uri(uri)
    assert SETTING in str(raised.value)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda uri: uri.replace("token=", "token=missing-"), "no token labelled"),
        (lambda uri: uri.replace("object=", "object=gone-"), "gone-"),
        (lambda uri: uri.replace(str(MODULE), "/usr/lib/nothing.so"), "is no file"),
    ],
)
def test_a_token_key_or_module_that_is_not_there_stops_the_start(
    hsm_token: Token, change: object, named: str
) -> None:
    [kek] = fresh(hsm_token)
    with pytest.raises(Pkcs11Error, match=named) as raised:
        Pkcs11Keks(parse_uri(change(hsm_token.uri(kek))))  # type: ignore[operator]
    assert SETTING in str(raised.value)


def test_a_bad_setting_is_refused_by_the_settings_checks(hsm_token: Token) -> None:
    from services.cli.checks import check_keys
    from services.cli.failures import UsageError

    [kek] = fresh(hsm_token)
    check_keys(Settings(kek_pkcs11=hsm_token.uri(kek)))  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="kek-absent"):
        check_keys(Settings(kek_pkcs11=hsm_token.uri("kek-absent")))  # type: ignore[arg-type]
    production = {"environment": "production", "allow_plaintext_broker": True}
    check_keys(Settings(kek_pkcs11=hsm_token.uri(kek), **production))  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="RELEASEWATCH_KEK_PKCS11"):
        check_keys(Settings(**production))  # type: ignore[arg-type]


def test_a_wrapped_key_has_the_key_files_form(hsm_token: Token) -> None:
    """The same record shape as the file's: the contract of booking.keys.v1 is unchanged."""
    [kek] = fresh(hsm_token)
    device = keks(hsm_token, kek)
    _, wrapped = new_data_key(BOOKING, device)
    assert WrappedDataKey.model_validate(wrapped.model_dump()) == wrapped
    kek_id, nonce, sealed = device.wrap(b"k" * 32, b"aad")
    assert (kek_id, len(nonce), len(sealed)) == (kek, 12, 32 + 16)
