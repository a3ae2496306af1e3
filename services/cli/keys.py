"""``keys list`` and ``keys rotate``: the key-encryption keys person data is sealed under
(#46). The file is ``RELEASEWATCH_KEK_FILE`` unless ``--file`` names another; no secret is
ever printed."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from services.cli.failures import UsageError, load_settings
from services.cli.looks import record_change
from services.core import kek_file


def register(commands: Any) -> None:
    keys = commands.add_parser("keys", help="the key-encryption keys person data is sealed under")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    listed = keys_commands.add_parser("list", help="each KEK's id, when it was made, the current")
    listed.add_argument("--file", type=Path, help="default: RELEASEWATCH_KEK_FILE")
    listed.set_defaults(func=cmd_list)
    rotate = keys_commands.add_parser(
        "rotate",
        help="add a KEK and make it current (the file is made if missing); new bookings' data "
        "keys are wrapped under it, older ones keep theirs: restart booking and notification",
    )
    rotate.add_argument("--file", type=Path, help="default: RELEASEWATCH_KEK_FILE")
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
    path = _file(args)
    try:
        entries = kek_file.listing(path)
    except kek_file.KekFileError as exc:
        raise UsageError(str(exc)) from None
    for kek_id, created_at, current in entries:
        print(f"{kek_id}  {created_at}{'  current' if current else ''}")
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
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

    record_change(load_settings(), f"keys rotate: {kek_id} current in {path}", undo)
    print(f"{kek_id} is now current in {path}; restart booking and notification to use it")
    return 0
