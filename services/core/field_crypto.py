"""Person data sealed field by field (#46, CJIS 5.10.1.2: CJI at rest under AES-256):
envelope encryption, pure. Keys and values in, sealed values and keys out; no I/O.

- **A data key per booking**: 32 random bytes, named by a random id (``dk-`` + 16 hex).
  Everything personal about one booking is sealed with its key, so destroying that one key
  (crypto-shredding, when the booking is retired) leaves every copy unreadable: in old log
  segments, changelogs, backups.
- **Wrapped by a key-encryption key (KEK)**: the data key travels and rests only wrapped
  (AES-256-GCM under the KEK; the associated data binds the booking and the data key's id).
  KEKs come from a ``KeyEncryptionKeys``: a key file in development, a KMS in production. A
  wrapped key names its KEK, so KEKs rotate without rewriting what was sealed before.
- **A field sealed with the data key**: AES-256-GCM, a fresh 96-bit nonce each time, the
  associated data binding the booking and the field's name: a sealed value copied to another
  booking or another field does not open (``Tampered``), nor does one altered by a bit.

Built on ``cryptography``'s AESGCM (OpenSSL): nothing hand-rolled.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from schemas.sealed import ALGORITHM, SealedMessage, SealedValue, WrappedDataKey

KEY_BYTES = 32
NONCE_BYTES = 12
_FIELD = b"releasewatch-field/1"
_WRAP = b"releasewatch-data-key/1"
_MESSAGE = b"releasewatch-message/1"


class KeyUnavailable(LookupError):
    """The key that sealed a value is not here: its KEK unknown, or the booking's data key
    destroyed (shredded). Not an error of the data: nobody can read it any more."""


class KeyServiceUnavailable(KeyUnavailable):
    """The HSM or KMS holding the KEKs did not answer (a device error, a session lost): not
    the data's fault, and worth asking again. Where a key is wrapped (a new booking, a dead
    letter sealed) the input is read again after a back-off; where one is unwrapped, the value
    stays sealed as for any key not had (alerts held, then escalated)."""


class Tampered(ValueError):
    """A sealed value that does not open with its key: altered, or moved to another booking
    or field."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _raw(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


def _canonical(value: Any) -> bytes:
    """What is sealed of a JSON value: its canonical form."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def _aad(domain: bytes, *parts: str) -> bytes:
    out = bytearray(domain)
    for part in parts:
        encoded = part.encode()
        out += len(encoded).to_bytes(4, "big") + encoded
    return bytes(out)


class KeyEncryptionKeys(Protocol):
    """Who wraps and unwraps data keys: a key file (``services.core.kek_file``), an HSM or KMS
    over PKCS#11 (``services.keys.pkcs11``), or both (``services.keys.Chained``)."""

    @property
    def current_id(self) -> str: ...

    def wrap(self, key: bytes, aad: bytes) -> tuple[str, bytes, bytes]:
        """(KEK id, nonce, wrapped) under the current KEK."""
        ...

    def unwrap(self, kek_id: str, nonce: bytes, wrapped: bytes, aad: bytes) -> bytes:
        """The data key; ``KeyUnavailable`` when ``kek_id`` is not known here."""
        ...


@dataclass(frozen=True)
class LocalKeks:
    """KEKs held in memory (from a key file): id -> 32 bytes, and the one new keys use."""

    keys: dict[str, bytes]
    current: str

    @property
    def current_id(self) -> str:
        return self.current

    def wrap(self, key: bytes, aad: bytes) -> tuple[str, bytes, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        return self.current, nonce, AESGCM(self.keys[self.current]).encrypt(nonce, key, aad)

    def unwrap(self, kek_id: str, nonce: bytes, wrapped: bytes, aad: bytes) -> bytes:
        kek = self.keys.get(kek_id)
        if kek is None:
            raise KeyUnavailable(f"key-encryption key {kek_id!r} is not among {sorted(self.keys)}")
        try:
            return AESGCM(kek).decrypt(nonce, wrapped, aad)
        except InvalidTag:
            raise Tampered(f"a data key wrapped under {kek_id!r} does not unwrap") from None


@dataclass(frozen=True)
class DataKey:
    kid: str
    secret: bytes

    def __repr__(self) -> str:  # never the key in a log or a traceback
        return f"DataKey({self.kid})"


def new_data_key(booking: str, keks: KeyEncryptionKeys) -> tuple[DataKey, WrappedDataKey]:
    """A fresh data key for ``booking`` (``<jurisdiction>/<booking_id>``), and its wrapped form."""
    key = DataKey("dk-" + os.urandom(8).hex(), AESGCM.generate_key(bit_length=256))
    kek_id, nonce, wrapped = keks.wrap(key.secret, _aad(_WRAP, booking, key.kid))
    return key, WrappedDataKey(kid=key.kid, kek_id=kek_id, nonce=_b64(nonce), wrapped=_b64(wrapped))


def unwrap(booking: str, wrapped: WrappedDataKey, keks: KeyEncryptionKeys) -> DataKey:
    aad = _aad(_WRAP, booking, wrapped.kid)
    secret = keks.unwrap(wrapped.kek_id, _raw(wrapped.nonce), _raw(wrapped.wrapped), aad)
    return DataKey(wrapped.kid, secret)


def is_sealed(value: object) -> bool:
    """A sealed value, as a model or as the JSON it stores."""
    if isinstance(value, SealedValue):
        return True
    return isinstance(value, dict) and value.get("sealed") == ALGORITHM


def seal(value: Any, booking: str, field: str, key: DataKey) -> SealedValue:
    """``value`` (anything JSON can hold) sealed for ``booking``'s ``field``."""
    plain = _canonical(value)
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key.secret).encrypt(nonce, plain, _aad(_FIELD, booking, field, key.kid))
    return SealedValue(kid=key.kid, nonce=_b64(nonce), ciphertext=_b64(sealed))


def open_sealed(sealed: SealedValue, booking: str, field: str, key: DataKey) -> Any:
    """The value sealed for ``booking``'s ``field``; ``KeyUnavailable`` when ``key`` is not
    the one that sealed it, ``Tampered`` when it does not open."""
    if key.kid != sealed.kid:
        raise KeyUnavailable(f"sealed with data key {sealed.kid}, not {key.kid}")
    try:
        plain = AESGCM(key.secret).decrypt(
            _raw(sealed.nonce), _raw(sealed.ciphertext), _aad(_FIELD, booking, field, key.kid)
        )
    except (InvalidTag, ValueError):
        raise Tampered(f"the sealed {field} of {booking} does not open with {key.kid}") from None
    return json.loads(plain)


def seal_message(value: bytes, position: str, keks: KeyEncryptionKeys) -> SealedMessage:
    """A publisher's message sealed whole for the copy kept at ``position`` (its topic,
    partition and offset): under a one-off data key, wrapped inline, so nothing outlives the
    message but the KEK. Used where releasewatch keeps what a jail sent (placed copies, dead
    letters) and cannot know the booking's own key yet."""
    key, wrapped = new_data_key(f"message {position}", keks)
    nonce = os.urandom(NONCE_BYTES)
    aad = _aad(_MESSAGE, position, key.kid)
    ciphertext = AESGCM(key.secret).encrypt(nonce, value, aad)
    return SealedMessage(key=wrapped, nonce=_b64(nonce), ciphertext=_b64(ciphertext))


def open_message(sealed: SealedMessage, position: str, keks: KeyEncryptionKeys) -> bytes:
    """The message sealed for ``position``, as sent; ``KeyUnavailable`` when its KEK is not
    here, ``Tampered`` when it does not open (altered, or sealed for another position)."""
    try:
        key = unwrap(f"message {position}", sealed.key, keks)
        return AESGCM(key.secret).decrypt(
            _raw(sealed.nonce), _raw(sealed.ciphertext), _aad(_MESSAGE, position, key.kid)
        )
    except (InvalidTag, ValueError):
        raise Tampered(f"the message sealed for {position} does not open") from None


def seal_person(person: dict[str, Any], booking: str, keks: KeyEncryptionKeys) -> SealedMessage:
    """A person sealed inline for ``booking`` by the intake, before the booking's own data key
    exists (the booking service opens it and seals it under that key)."""
    return seal_message(_canonical(person), f"{booking}#person", keks)


def open_person(sealed: SealedMessage, booking: str, keks: KeyEncryptionKeys) -> Any:
    """The person ``seal_person`` sealed for ``booking``."""
    return json.loads(open_message(sealed, f"{booking}#person", keks))


class Keyring:
    """What a service seals and opens with: the KEKs, and the data keys it has unwrapped
    (kept for at most ``keep`` bookings, so a booking's key is unwrapped once, not for every
    message)."""

    def __init__(self, keks: KeyEncryptionKeys, keep: int = 50_000) -> None:
        self.keks = keks
        self.keep = keep
        self._opened: dict[str, dict[str, DataKey]] = {}  # booking -> kid -> key

    def new_key(self, booking: str) -> tuple[DataKey, WrappedDataKey]:
        key, wrapped = new_data_key(booking, self.keks)
        self._remember(booking, key)
        return key, wrapped

    def data_key(self, booking: str, wrapped: WrappedDataKey) -> DataKey:
        key = self._opened.get(booking, {}).get(wrapped.kid)
        if key is None:
            key = unwrap(booking, wrapped, self.keks)
            self._remember(booking, key)
        return key

    def forget(self, booking: str) -> None:
        """The booking's keys destroyed: not kept here either."""
        self._opened.pop(booking, None)

    def _remember(self, booking: str, key: DataKey) -> None:
        keys = self._opened.get(booking)
        if keys is None:
            if len(self._opened) >= self.keep:  # the oldest goes (dicts keep insertion order)
                del self._opened[next(iter(self._opened))]
            keys = self._opened[booking] = {}
        keys[key.kid] = key
