"""``intake``: what a jail's integration with the intake service needs: a token for a jail,
a check of the jails file, and the roster poller for jails that only publish a roster."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    intake = commands.add_parser("intake", help="jails sending bookings over HTTP")
    intake_commands = intake.add_subparsers(dest="intake_command", required=True)
    token = intake_commands.add_parser(
        "token",
        help="a new bearer token for a jail (or, with --agency, an agency's field office): "
        "printed once, with its hash for the file",
    )
    token.add_argument(
        "--agency",
        action="store_true",
        help="for filing notice requests: its hash goes in the agency's "
        "request_tokens_sha256 (deploy/agencies.yaml)",
    )
    token.set_defaults(func=cmd_token)
    check = intake_commands.add_parser(
        "check", help="check a jails file: one line per jail, or one per problem (exit 1)"
    )
    check.add_argument("file", help="e.g. deploy/jails.yaml")
    check.set_defaults(func=cmd_check)
    poll = intake_commands.add_parser(
        "roster", help="read a jail's roster (CSV) every few minutes and publish its changes"
    )
    where = poll.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="the roster's http(s) address")
    where.add_argument("--file", help="the roster's path")
    poll.add_argument("--jurisdiction", required=True, help="published under, e.g. us-mn-hennepin")
    poll.add_argument(
        "--mapping", required=True, help="its columns and facility (deploy/roster-mapping.yaml)"
    )
    poll.add_argument("--every", default="5m", help="how often (30s, 5m, 1h; default 5m)")
    poll.add_argument("--once", action="store_true", help="one round, then exit")
    poll.add_argument(
        "--accept-shrink",
        action="store_true",
        help="apply a roster held for shrinking (after checking with the jail): one round",
    )
    poll.add_argument(
        "--snapshot",
        help="where the last roster applied is kept (default: "
        "$RELEASEWATCH_DATA_DIR/roster/<jurisdiction>-<facility>.json)",
    )
    poll.set_defaults(func=cmd_roster)


def cmd_token(args: argparse.Namespace) -> int:
    from services.core import bearer

    prefix = bearer.AGENCY_PREFIX if args.agency else bearer.JAIL_PREFIX
    token, digest = bearer.new_token(prefix)
    who = "the agency's office" if args.agency else "the jail"
    print(f"token (give it to {who}; it is not kept anywhere): {token}")
    print(
        f"{'request_tokens_sha256: [' if args.agency else 'token_sha256: '}{digest}"
        f"{']' if args.agency else ''}"
    )
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


def cmd_roster(args: argparse.Namespace) -> int:
    import asyncio

    from schemas.topics import AGENCY_SLUG
    from services.cli.failures import (
        UsageError,
        load_settings,
        require_broker_url,
        talking_to_broker,
    )
    from services.intake import poller
    from services.ops import logging as rw_logging

    settings = load_settings()
    require_broker_url(settings)
    rw_logging.configure("intake-roster", settings.log_format, settings.log_level)
    if not AGENCY_SLUG.match(args.jurisdiction):
        raise UsageError(f"--jurisdiction {args.jurisdiction!r}: lower-case letters, digits, '-'")
    try:
        every = poller.parse_every(args.every)
        mapping = poller.load_mapping(Path(args.mapping), args.jurisdiction)
        name = f"{mapping.jurisdiction}-{mapping.facility.id}.json"
        snapshot = Path(args.snapshot) if args.snapshot else settings.data_dir / "roster" / name
        poller.load_snapshot(snapshot)  # a damaged one stops here, named
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    source = poller.Source(args.url or args.file)
    once = args.once or args.accept_shrink
    with talking_to_broker(settings):
        outcome = asyncio.run(
            poller.Poller(settings, mapping, source, snapshot).run(every, once, args.accept_shrink)
        )
    if once:
        print(
            f"{outcome.outcome}: {outcome.events} event(s), {outcome.problems} malformed row(s), "
            f"{outcome.inferred_releases} release(s) inferred"
        )
    return 0 if outcome.outcome in ("applied", "unchanged") else 1
