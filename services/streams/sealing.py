"""Person data sealed where a service keeps and sends it (#46, SPEC 9 "CJIS"): a record's
personal values are sealed as it is written to its table (the changelog, RocksDB) and opened
as it is read, so the rules work on clear values in memory and nothing personal rests in
clear. A record carries its booking's wrapped data keys (``data_keys``: the last one seals);
a value sealed under a key the record does not have stays sealed (the rules wait for it).

Paths name where personal values sit in the record's JSON: ``state.person``, and ``*`` for
every entry of a map or a list (``notices.*.last.data.subject``). A value is sealed for its
field, the path's last name, so a person sealed on booking.state.v1 (``person``) opens in the
notification service's copy (``booking.person``) too."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from schemas.sealed import SealedValue, WrappedDataKey
from services.core.field_crypto import (
    Keyring,
    KeyUnavailable,
    Tampered,
    is_sealed,
    open_sealed,
    seal,
)
from services.keys import SETTINGS, keks_of
from services.ops import events
from services.ops.logging import get_logger
from services.settings import Settings

KEYS_FIELD = "data_keys"
M = TypeVar("M", bound=BaseModel)
log = get_logger(__name__)


def keyring_of(settings: Settings, service: str) -> Keyring | None:
    """The KEKs of ``RELEASEWATCH_KEK_FILE`` and/or ``RELEASEWATCH_KEK_PKCS11`` (checked before
    start), or None: persons stay in clear, said once at start."""
    keks = keks_of(settings)
    if keks is None:
        log.warning(events.PERSON_DATA_IN_CLEAR, service=service, setting=SETTINGS)
        return None
    return Keyring(keks)


def keys_of(value: Mapping[str, Any]) -> dict[str, WrappedDataKey]:
    """The wrapped data keys a stored record carries, by id."""
    found = (WrappedDataKey.model_validate(raw) for raw in value.get(KEYS_FIELD) or ())
    return {key.kid: key for key in found}


class PersonSeal:
    def __init__(self, ring: Keyring, paths: Iterable[str], opens: bool = True) -> None:
        """``opens``: the table opens its records' personal values as they are read (False:
        the service's rules never need them clear, and they stay sealed in memory too)."""
        self.ring = ring
        self.paths = tuple(tuple(path.split(".")) for path in paths)
        self.opens = opens

    def sealed(self, booking: str, value: dict[str, Any]) -> dict[str, Any]:
        """``value`` with each clear personal value sealed under its record's newest key (a
        record without a key is left as it is: a booking from before keys were set, or whose
        key was destroyed with its personal data)."""
        if not self._holds_clear(value):  # all sealed already: no key is even looked at
            return value
        wrapped = list(keys_of(value).values())
        if not wrapped:
            return value
        try:
            key = self.ring.data_key(booking, wrapped[-1])
        except (KeyUnavailable, Tampered) as exc:
            # Its KEK is not in this service's file: what came sealed stays so, and a record
            # is stored, never its input refused (a notice must not be lost to a key)
            log.warning(events.PERSON_NOT_SEALED, kid=wrapped[-1].kid, reason=str(exc))
            return value

        def close(field: str, plain: Any) -> Any:
            return seal(plain, booking, field, key).model_dump() if _is_clear(plain) else plain

        return self._each(value, close)

    def opened(
        self, booking: str, value: dict[str, Any], keys: Mapping[str, WrappedDataKey] | None = None
    ) -> dict[str, Any]:
        """``value`` with each sealed personal value a key of the record's (or ``keys``)
        opens, opened; the others stay sealed."""
        found = keys if keys is not None else keys_of(value)
        return self._each(value, lambda field, v: self._unsealed(booking, field, v, found))

    def _unsealed(
        self, booking: str, field: str, value: Any, keys: Mapping[str, WrappedDataKey]
    ) -> Any:
        if not is_sealed(value):
            return value
        sealed = SealedValue.model_validate(value)
        wrapped = keys.get(sealed.kid)
        if wrapped is None:
            return value
        try:
            return open_sealed(sealed, booking, field, self.ring.data_key(booking, wrapped))
        except (KeyUnavailable, Tampered) as exc:
            log.warning(events.PERSON_UNOPENED, kid=sealed.kid, field=field, reason=str(exc))
            return value

    def reopened(self, booking: str, record: M, key: WrappedDataKey) -> M:
        """``record`` with what a newly come data key opens opened (the rules then keep the
        key in the record)."""
        value = record.model_dump(mode="json")
        keys = {**keys_of(value), key.kid: key}
        return type(record).model_validate(self.opened(booking, value, keys))

    def open_value(
        self, booking: str, field: str, sealed: SealedValue, keys: Iterable[WrappedDataKey]
    ) -> Any | None:
        """The value sealed for ``booking``'s ``field``, or None when no key of ``keys``
        opens it."""
        opened = self._unsealed(booking, field, sealed.model_dump(), {k.kid: k for k in keys})
        return None if is_sealed(opened) else opened

    def _holds_clear(self, value: dict[str, Any]) -> bool:
        found = False

        def look(field: str, found_here: Any) -> Any:
            nonlocal found
            found = found or _is_clear(found_here)
            return found_here

        self._each(value, look)
        return found

    def _each(self, value: dict[str, Any], change: Callable[[str, Any], Any]) -> dict[str, Any]:
        for path in self.paths:
            value = _at(value, path, path[-1], change)
        return value


def _is_clear(value: Any) -> bool:
    return value is not None and not is_sealed(value)


def _at(node: Any, path: tuple[str, ...], field: str, change: Callable[[str, Any], Any]) -> Any:
    """``node`` with ``change`` applied at ``path``, copied along the way (a stored value is
    never changed in place: the memory store hands out what it holds)."""
    if not path:
        return change(field, node)
    head, rest = path[0], path[1:]
    if head == "*":
        if isinstance(node, dict):
            return {k: _at(v, rest, field, change) for k, v in node.items()}
        if isinstance(node, list):
            return [_at(v, rest, field, change) for v in node]
        return node
    if not isinstance(node, dict) or head not in node:
        return node
    changed = _at(node[head], rest, field, change)
    if changed is node[head]:
        return node
    return {**node, head: changed}
