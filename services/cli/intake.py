"""``intake``: what a jail's integration with the intake service needs: a token for a jail,
a check of the jails file (the roster poller joins them)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    intake = commands.add_parser("intake", help="jails sending bookings over HTTP")
    intake_commands = intake.add_subparsers(dest="intake_command", required=True)
    token = intake_commands.add_parser(
        "token", help="a new bearer token for a jail: printed once, with its hash for the file"
    )
    token.set_defaults(func=cmd_token)
    check = intake_commands.add_parser(
        "check", help="check a jails file: one line per jail, or one per problem (exit 1)"
    )
    check.add_argument("file", help="e.g. deploy/jails.yaml")
    check.set_defaults(func=cmd_check)


def cmd_token(args: argparse.Namespace) -> int:
    from services.intake.jails import new_token

    token, digest = new_token()
    print(f"token (give it to the jail; it is not kept anywhere): {token}")
    print(f"token_sha256: {digest}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from services.intake import jails

    try:
        registry = jails.load(Path(args.file))
    except jails.JailFileError as exc:
        print(exc, file=sys.stderr)
        return 1
    for jail in registry.jails:
        names = ", ".join(f"{j.id} ({j.ori or 'no ORI'})" for j in jail.jurisdictions)
        print(f"{jail.slug}: {jail.name}: {jail.facility.timezone}: {names}")
    return 0
