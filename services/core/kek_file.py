"""The key-encryption keys in a file (#46): what development and a site without a KMS wrap
the bookings' data keys with. A JSON file readable by its owner only::

    {"current": "kek-20261206-1a2b", "keys": {"kek-20261206-1a2b":
        {"secret": "<32 bytes, base64>", "created_at": "2026-12-06T05:00:00Z"}}}

``rotate`` adds a KEK and makes it the one new data keys are wrapped under; the old ones stay
to unwrap what they wrapped (nothing is re-sealed). A KMS replaces the file behind the same
``KeyEncryptionKeys`` protocol (``services.core.field_crypto``)."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.core.field_crypto import KEY_BYTES, LocalKeks

SETTING = "RELEASEWATCH_KEK_FILE"


class KekFileError(ValueError):
    """A KEK file that cannot be used; the message names the file and what is wrong."""


def load(path: Path) -> LocalKeks:
    return _checked(path, _read(path))


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KekFileError(f"{SETTING}: {path} cannot be read as a KEK file ({exc})") from None


def _checked(path: Path, raw: Any) -> LocalKeks:
    keys: dict[str, bytes] = {}
    entries = raw.get("keys") if isinstance(raw, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise KekFileError(f"{SETTING}: {path} holds no keys")
    for kek_id, entry in entries.items():
        try:
            secret = base64.b64decode(str(entry["secret"]), validate=True)
        except (KeyError, TypeError, ValueError):
            raise KekFileError(f"{SETTING}: {path}: key {kek_id!r} has no base64 secret") from None
        if len(secret) != KEY_BYTES:
            raise KekFileError(
                f"{SETTING}: {path}: key {kek_id!r} is {len(secret)} bytes, not {KEY_BYTES} "
                "(AES-256)"
            )
        keys[kek_id] = secret
    current = raw.get("current")
    if current not in keys:
        raise KekFileError(f"{SETTING}: {path}: current key {current!r} is not among its keys")
    return LocalKeks(keys, current)


def listing(path: Path) -> list[tuple[str, str, bool]]:
    """(id, created_at, current) of each KEK: never a secret."""
    raw = _read(path)
    _checked(path, raw)
    return [
        (kek_id, str(entry.get("created_at", "")), kek_id == raw["current"])
        for kek_id, entry in raw["keys"].items()
    ]


def new_id(now: datetime | None = None) -> str:
    """A KEK's id (a file's key, a token's label): the day it was made, and a random tag."""
    return f"kek-{now or datetime.now(UTC):%Y%m%d}-{os.urandom(2).hex()}"


def rotate(path: Path, now: datetime | None = None) -> str:
    """A new KEK in ``path`` (made when missing), now the current one; its id."""
    now = now or datetime.now(UTC)
    raw: dict[str, object] = {"keys": {}}
    if path.exists():
        raw = _read(path)
        _checked(path, raw)
    kek_id = new_id(now)
    keys = dict(raw["keys"])  # type: ignore[call-overload]
    keys[kek_id] = {
        "secret": base64.b64encode(os.urandom(KEY_BYTES)).decode(),
        "created_at": now.isoformat().replace("+00:00", "Z"),
    }
    _write(path, {"current": kek_id, "keys": keys})
    return kek_id


def _write(path: Path, content: dict[str, object]) -> None:
    """Written beside and renamed over: a crash leaves the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_name(path.name + ".new")
    descriptor = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(content, out, indent=2)
        out.write("\n")
    os.replace(fresh, path)
