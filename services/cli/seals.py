"""``ledger key``, ``ledger seals`` and ``report --verify``: the ledger's seals (#46)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from services.cli.failures import UsageError, load_settings, require_broker_url, talking_to_broker
from services.cli.looks import record_change, record_look
from services.kafka.client.security import consumer_options


def register(commands: Any) -> None:
    ledger = commands.add_parser("ledger", help="the compliance ledger's seals")
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True)
    key = ledger_commands.add_parser(
        "key", help="make the sealer's Ed25519 signing key; prints its public key"
    )
    key.add_argument("--out", required=True, type=Path, help="the private key file (0600)")
    key.set_defaults(func=cmd_key)
    seals = ledger_commands.add_parser(
        "seals", help="append the seals not yet in an auditor's copy (JSON lines)"
    )
    seals.add_argument("--out", required=True, type=Path)
    seals.set_defaults(func=cmd_seals)


def add_verify_arguments(report: argparse.ArgumentParser) -> None:
    report.add_argument(
        "--verify",
        action="store_true",
        help="check the ledger against its seals; exit 1 naming the first record altered, "
        "removed, inserted or reordered",
    )
    report.add_argument(
        "--seals", type=Path, help="with --verify: an auditor's copy (default: the seals topic)"
    )
    report.add_argument(
        "--public-key",
        type=Path,
        action="append",
        default=[],
        help="with --verify: a public key trusted (PEM; repeat for keys rotated out). "
        "Default: the public half of RELEASEWATCH_LEDGER_SIGNING_KEY",
    )


def cmd_key(args: argparse.Namespace) -> int:
    from services.core.ledger_seal import key_id
    from services.ledger import keys

    if args.out.exists():
        raise UsageError(f"--out {args.out}: exists; a signing key is never overwritten")
    made = keys.write_new(args.out)
    public = args.out.with_name(args.out.stem + ".pub.pem")
    public.write_bytes(keys.public_pem(made))

    def undo() -> None:
        args.out.unlink()
        public.unlink()

    record_change(load_settings(), f"ledger key: {key_id(made.public_key())} in {args.out}", undo)
    print(f"key id {key_id(made.public_key())}: private {args.out}, public {public}")
    print(f"give the sealer RELEASEWATCH_LEDGER_SIGNING_KEY={args.out}; the auditor {public}")
    return 0


def cmd_seals(args: argparse.Namespace) -> int:
    from services.ledger.sealer import SEALED
    from services.ledger.verify import append_copy, read_seals

    settings = load_settings()
    require_broker_url(settings)
    options = consumer_options(settings)
    with talking_to_broker(settings):
        found = [
            sealed
            for seals_topic in SEALED.values()
            for by_partition in [asyncio.run(read_seals(options, seals_topic))]
            for partition in sorted(by_partition)
            for sealed in by_partition[partition]
        ]
    try:
        added = append_copy(args.out, found)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(f"{added} new seal(s) appended to {args.out}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from services.core.ledger_seal import verify
    from services.ledger import keys
    from services.ledger.sealer import SEALED
    from services.ledger.verify import read_copy, read_ledger, read_seals, render

    settings = load_settings()
    require_broker_url(settings)
    paths = args.public_key
    if not paths:
        try:
            default = keys.signing_key_path(settings)
        except keys.KeyProblem:
            default = None
        if default is None or not default.exists():
            raise UsageError("--verify needs --public-key FILE (the sealer's public key)")
        paths = [default]
    try:
        trusted = keys.load_public_keys(paths)
        copies = {t: read_copy(args.seals, t) for t in SEALED} if args.seals else None
    except (keys.KeyProblem, OSError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    options = consumer_options(settings)
    intact = True
    source = str(args.seals) if args.seals else "the seals topic"
    with talking_to_broker(settings):
        record_look(settings, "report --verify")
    for topic, seals_topic in SEALED.items():
        with talking_to_broker(settings):
            records = asyncio.run(read_ledger(options, topic))
            seals = copies[topic] if copies else asyncio.run(read_seals(options, seals_topic))
        verdict = verify(records, seals, trusted)
        print(render(verdict, seals, source, topic))
        intact = intact and verdict.intact
    if not intact:
        print("a log does not match its seals", file=sys.stderr)
        return 1
    return 0
