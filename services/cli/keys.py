"""``keys list`` and ``keys rotate``: the key-encryption keys person data is sealed under
(#46). ``--file`` names a key file; without it, the PKCS#11 token of
``RELEASEWATCH_KEK_PKCS11`` when set, else ``RELEASEWATCH_KEK_FILE``. No secret is ever
printed: a token's keys never leave it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from services.cli.failures import UsageError, load_settings
from services.cli.looks import record_change
from services.core import kek_file
from services.core.field_crypto import KeyServiceUnavailable
from services.keys import KeksError, device_of
from services.keys.pkcs11 import Pkcs11Keks
from services.settings import Settings

DEVELOPMENT_KEKS = Path("keys") / "kek.json"


def register(commands: Any) -> None:
    keys = commands.add_parser("keys", help="the key-encryption keys person data is sealed under")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    listed = keys_commands.add_parser("list", help="each KEK's id, when it was made, the current")
    listed.add_argument(
        "--file", type=Path, help="default: the token of RELEASEWATCH_KEK_PKCS11, else KEK_FILE"
    )
    listed.set_defaults(func=cmd_list)
    rotate = keys_commands.add_parser(
        "rotate",
        help="add a KEK and make it current (the file is made if missing); new bookings' data "
        "keys are wrapped under it, older ones keep theirs: restart booking and notification",
    )
    rotate.add_argument(
        "--file", type=Path, help="default: the token of RELEASEWATCH_KEK_PKCS11, else KEK_FILE"
    )
    rotate.add_argument(
        "--if-missing", action="store_true", help="only make the file when there is none"
    )
    rotate.set_defaults(func=cmd_rotate)


def _file(args: argparse.Namespace) -> Path:
    path: Path | None = args.file or load_settings().kek_file
    if path is None:
        raise UsageError(f"--file or {kek_file.SETTING}: which KEK file?")
    return path


def cmd_list(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.file is None and settings.kek_pkcs11 is not None:
        token = _token(settings)
        try:
            labels = token.labels()
        except KeyServiceUnavailable as exc:
            raise UsageError(str(exc)) from None
        for label in labels:
            mark = "  current" if label == token.current_id else ""
            print(f"{label}  on token {token.uri.token}{mark}")
        return 0
    path = _file(args)
    try:
        entries = kek_file.listing(path)
    except kek_file.KekFileError as exc:
        raise UsageError(str(exc)) from None
    for kek_id, created_at, current in entries:
        print(f"{kek_id}  {created_at}{'  current' if current else ''}")
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.file is None and settings.kek_pkcs11 is not None:
        return _rotate_on_token(settings)
    path = _file(args)
    if args.if_missing and path.exists():
        print(f"{path} is there; nothing changed")
        return 0
    before = path.read_bytes() if path.exists() else None
    try:
        kek_id = kek_file.rotate(path)
    except kek_file.KekFileError as exc:
        raise UsageError(str(exc)) from None

    def undo() -> None:
        if before is None:
            path.unlink()
        else:
            path.write_bytes(before)

    record_change(settings, f"keys rotate: {kek_id} current in {path}", undo)
    print(f"{kek_id} is now current in {path}; restart booking and notification to use it")
    return 0


def _token(settings: Settings, require_current: bool = True) -> Pkcs11Keks:
    try:
        return device_of(settings, require_current)
    except KeksError as exc:
        raise UsageError(str(exc)) from None


def _rotate_on_token(settings: Settings) -> int:
    """A new KEK made on the token. It becomes current where the URI names it (``object=``):
    the URI is the deployment's, so the operator changes it, then restarts the services."""
    token = _token(settings, require_current=False)
    try:
        first = token.current_id not in token.labels()  # a new token: the URI's key is made
        label = token.current_id if first else kek_file.new_id()
        token.generate(label)
    except (*KeksError, KeyServiceUnavailable) as exc:
        raise UsageError(str(exc)) from None
    where = f"{label} made on token {token.uri.token}"
    record_change(settings, f"keys rotate: {where}", lambda: token.destroy(label))
    if first:
        print(f"{where}; it is current (RELEASEWATCH_KEK_PKCS11 names it)")
    else:
        print(
            f"{where}; to make it current set object={label} in RELEASEWATCH_KEK_PKCS11, then "
            "restart booking, notification and intake"
        )
    return 0


def development_keks(settings: Settings) -> Path | None:
    """Person data is sealed under ``make run`` too: without RELEASEWATCH_KEK_FILE or an HSM's
    (never in production, ``check_keys``), a development KEK file under the data dir, made once."""
    if settings.kek_file is not None or settings.kek_pkcs11 is not None:
        return settings.kek_file
    path = settings.data_dir / DEVELOPMENT_KEKS
    if not path.exists():
        kek_id = kek_file.rotate(path)
        record_change(settings, f"keys rotate: {kek_id} current in {path}", path.unlink)
    print(f"person data sealed under the development KEKs in {path}", flush=True)
    return path
