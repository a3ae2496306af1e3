"""Key-encryption keys held in an HSM or a KMS that speaks PKCS#11 (#46: "a KMS interface for
production"; CJIS 5.10.1.2: FIPS 140 validated modules hold the keys).

The KEKs are AES-256 secret keys on a PKCS#11 token, created there sensitive and not
extractable: no KEK ever leaves the device. A data key is wrapped by AES-GCM *inside* the token
(``C_Encrypt``, ``CKM_AES_GCM``, a 96-bit random nonce, the same associated data as the key
file's), so a wrapped key has the key file's form (KEK id, nonce, ciphertext and tag) and the
KEK id is the key's label. Which token, which key is current, the module and the PIN come in one
PKCS#11 URI (RFC 7512)::

    pkcs11:token=releasewatch;object=kek-2027-01?module-path=/usr/lib/softhsm/libsofthsm2.so
        &pin-source=file:/run/secrets/hsm-pin

Hardware HSMs (Thales Luna, Entrust nShield, YubiHSM 2), cloud HSMs (AWS CloudHSM, Google
Cloud KMS's PKCS#11 library) and SoftHSM 2 (the tests) are reached the same way.

A device error or a lost session is ``KeyServiceUnavailable``: the session is opened again at
the next call."""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.mechanisms import GCMParams

from services.core.field_crypto import (
    NONCE_BYTES,
    KeyServiceUnavailable,
    KeyUnavailable,
    Tampered,
)

SETTING = "RELEASEWATCH_KEK_PKCS11"
TAG_BITS = 128
LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# What the token answers for a ciphertext or tag that does not check (SoftHSM 2: a general
# error): the data's fault, not the device's.
_NOT_OPENING = (p11.EncryptedDataInvalid, p11.EncryptedDataLenRange, p11.GeneralError)


class Pkcs11Error(ValueError):
    """A URI, token, PIN or key that cannot be used; the message names the setting."""


@dataclass(frozen=True)
class Pkcs11Uri:
    module: Path
    token: str
    current: str  # the label of the key new data keys are wrapped under
    pin: str = field(repr=False)


def parse_uri(uri: str) -> Pkcs11Uri:
    """RFC 7512's ``pkcs11:`` URI: ``token`` and ``object`` (the current KEK's label) in its
    path, ``module-path`` and ``pin-source`` (a file) or ``pin-value`` in its query."""
    if not uri.startswith("pkcs11:"):
        raise Pkcs11Error(f"{SETTING} is no PKCS#11 URI (pkcs11:token=...;object=...?...)")
    path, _, query = uri.removeprefix("pkcs11:").partition("?")
    where = _attributes(path, ";")
    how = _attributes(query, "&")
    missing = [
        name
        for name, got in (("token", where), ("object", where), ("module-path", how))
        if not got.get(name)
    ]
    if not (how.get("pin-source") or how.get("pin-value")):
        missing.append("pin-source or pin-value")
    if missing:
        raise Pkcs11Error(f"{SETTING} lacks {', '.join(missing)} (RFC 7512)")
    if not LABEL.match(where["object"]):
        raise Pkcs11Error(f"{SETTING}: object={where['object']!r} is no key label")
    pin = how.get("pin-value") or _pin_from(how["pin-source"])
    return Pkcs11Uri(Path(how["module-path"]), where["token"], where["object"], pin)


def _attributes(part: str, separator: str) -> dict[str, str]:
    pairs = (item.partition("=") for item in part.split(separator) if item)
    return {name: urllib.parse.unquote(value) for name, _, value in pairs}


def _pin_from(source: str) -> str:
    path = Path(source.removeprefix("file://").removeprefix("file:"))
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise Pkcs11Error(f"{SETTING}: pin-source {path} cannot be read ({exc})") from None


class Pkcs11Keks:
    """``KeyEncryptionKeys`` on a PKCS#11 token: one logged-in session, opened again after a
    device error; key handles looked up by label once."""

    def __init__(self, uri: Pkcs11Uri, require_current: bool = True) -> None:
        """``require_current``: the key the URI names is on the token (False only for
        ``releasewatch keys rotate``, which makes it on a new token)."""
        self.uri = uri
        try:
            self._token = _library(uri.module).get_token(token_label=uri.token)
        except p11.NoSuchToken:
            raise Pkcs11Error(f"{SETTING}: no token labelled {uri.token!r}") from None
        except p11.PKCS11Error as exc:
            raise Pkcs11Error(f"{SETTING}: the token cannot be reached ({_name(exc)})") from None
        self._session: Any = None
        self._keys: dict[str, Any] = {}
        try:
            self._key(uri.current)
        except KeyUnavailable as exc:
            if require_current or isinstance(exc, KeyServiceUnavailable):
                raise Pkcs11Error(f"{SETTING}: object={uri.current!r}: {exc}") from None

    @property
    def current_id(self) -> str:
        return self.uri.current

    def wrap(self, key: bytes, aad: bytes) -> tuple[str, bytes, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        try:
            sealed = self._key(self.uri.current).encrypt(key, **_gcm(nonce, aad))
        except p11.PKCS11Error as exc:
            raise self._lost(exc) from None
        return self.uri.current, nonce, bytes(sealed)

    def unwrap(self, kek_id: str, nonce: bytes, wrapped: bytes, aad: bytes) -> bytes:
        kek = self._key(kek_id)
        try:
            return bytes(kek.decrypt(wrapped, **_gcm(nonce, aad)))
        except _NOT_OPENING:
            raise Tampered(f"a data key wrapped under {kek_id!r} does not unwrap") from None
        except p11.PKCS11Error as exc:
            raise self._lost(exc) from None

    def labels(self) -> list[str]:
        """Every AES key on the token, by label."""
        try:
            found = self._open().get_objects(
                {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES}
            )
            return sorted(str(key.label) for key in found)
        except p11.PKCS11Error as exc:
            raise self._lost(exc) from None

    def generate(self, label: str) -> None:
        """A new AES-256 KEK on the token: kept there, sensitive, never extractable."""
        if not LABEL.match(label) or label in self.labels():
            raise Pkcs11Error(f"{label!r} is no new key label on token {self.uri.token!r}")
        template = {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False}
        try:
            self._open().generate_key(KeyType.AES, 256, label=label, store=True, template=template)
        except p11.PKCS11Error as exc:
            raise Pkcs11Error(f"the token refused a new key ({_name(exc)})") from None

    def destroy(self, label: str) -> None:
        """The key ``label`` destroyed on the token: what it wrapped never unwraps again
        (undoing a rotation that could not be recorded)."""
        try:
            self._key(label).destroy()
        except p11.PKCS11Error as exc:
            raise self._lost(exc) from None
        self._keys.pop(label, None)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session, self._keys = None, {}

    def _open(self) -> Any:
        if self._session is None:
            try:
                self._session = self._token.open(user_pin=self.uri.pin, rw=True)
            except p11.UserAlreadyLoggedIn:  # login is per process: another session holds it
                self._session = self._token.open(rw=True)
            except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange, p11.PinLocked) as exc:
                raise Pkcs11Error(f"{SETTING}: the token refused the PIN ({_name(exc)})") from None
            except p11.PKCS11Error as exc:
                raise KeyServiceUnavailable(f"the token did not open ({_name(exc)})") from None
        return self._session

    def _key(self, label: str) -> Any:
        key = self._keys.get(label)
        if key is None:
            try:
                key = self._open().get_key(
                    label=label, key_type=KeyType.AES, object_class=ObjectClass.SECRET_KEY
                )
            except p11.NoSuchKey:
                raise KeyUnavailable(
                    f"key-encryption key {label!r} is not on token {self.uri.token!r}"
                ) from None
            except p11.PKCS11Error as exc:
                raise self._lost(exc) from None
            self._keys[label] = key
        return key

    def _lost(self, exc: Exception) -> KeyServiceUnavailable:
        """A device error: the session is dropped (opened again at the next call)."""
        self._session, self._keys = None, {}
        return KeyServiceUnavailable(f"the token {self.uri.token!r} failed: {_name(exc)}")


def _gcm(nonce: bytes, aad: bytes) -> dict[str, Any]:
    return {"mechanism": Mechanism.AES_GCM, "mechanism_param": GCMParams(nonce, aad, TAG_BITS)}


def _name(exc: Exception) -> str:
    return type(exc).__name__


_LIBRARIES: dict[Path, Any] = {}


def _library(module: Path) -> Any:
    """One loaded module per path (a PKCS#11 library is initialised once per process)."""
    if module not in _LIBRARIES:
        if not module.is_file():
            raise Pkcs11Error(f"{SETTING}: module-path {module} is no file")
        try:
            _LIBRARIES[module] = pkcs11.lib(str(module))
        except (OSError, p11.PKCS11Error, RuntimeError) as exc:
            raise Pkcs11Error(f"{SETTING}: {module} does not load ({exc})") from None
    return _LIBRARIES[module]
