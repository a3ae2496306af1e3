"""``releasewatch``: run the stack, one service, the broker; publish and tail topics; read the
ledger; a deployment's jobs. One module per command group; ``failures`` is how each fails."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from services.cli import (
    deadletters,
    intake,
    keys,
    ledger,
    messages,
    operations,
    seals,
    stack,
    users,
)
from services.cli.failures import CommandFailed, UsageError
from services.cli.stack import SERVICES
from services.kafka import patches

__all__ = ["SERVICES", "build_parser", "main"]

# Commands that run until stopped and configure their own logging.
LONG_RUNNING = frozenset({"up", "service", "broker"})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="releasewatch", description=__doc__)
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of a failure (also RELEASEWATCH_LOG_LEVEL=debug)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for group in (stack, messages, ledger, operations, intake, seals, users, keys, deadletters):
        group.register(commands)
    return parser


def quiet_clients() -> None:
    """aiokafka logs each refused connection before raising; a tool's one line says it.
    Also after a tool configures its logging (which sets aiokafka to WARNING). asyncio too:
    a TLS handshake refused can leave aiokafka's connection callback failing on close, which
    asyncio prints with a traceback after the line was said (seen in a CI run of
    test_security.py). ``--debug`` shows both."""
    for name in ("aiokafka", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
        logging.getLogger(name).disabled = True


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get("RELEASEWATCH_LOG_LEVEL", "").lower() == "debug"
    try:
        if args.command not in LONG_RUNNING and not debug:
            quiet_clients()
        # Every library workaround, once, before any client exists (services.kafka.patches);
        # e.g. every producer here is idempotent on Apache Kafka unless set otherwise, and
        # aiokafka's needs its sequence fix to go on after a refused record.
        try:
            patches.apply(patches.switched_off())
        except ValueError as exc:
            raise UsageError(f"invalid configuration: {exc}") from None
        return int(args.func(args))
    except CommandFailed as exc:
        if debug:
            traceback.print_exc()
        print(f"releasewatch {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if debug:
            raise
        print(
            f"releasewatch {args.command}: unexpected {type(exc).__name__}: {exc} "
            "(run again with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
