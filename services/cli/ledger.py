"""``report``, ``trace``, ``watch`` and ``agency listen``: reading what happened."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from services.cli.failures import (
    UsageError,
    load_settings,
    parse_since,
    require_broker_url,
    talking_to_broker,
)
from services.cli.looks import record_look
from services.cli.seals import add_verify_arguments, cmd_verify
from services.kafka.client.clients import running
from services.kafka.client.security import consumer_options, producer_options


def register(commands: Any) -> None:
    report = commands.add_parser("report", help="compliance figures per jurisdiction")
    report.add_argument("--jurisdiction")
    report.add_argument("--since", help="a date or date-time (UTC if no offset)")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    add_verify_arguments(report)
    report.set_defaults(func=cmd_report)

    agency = commands.add_parser("agency", help="what an agency's integration does")
    agency_commands = agency.add_subparsers(dest="agency_command", required=True)
    listen = agency_commands.add_parser("listen", help="print notices and acknowledge them")
    listen.add_argument("--agency", required=True, help="the agency slug, e.g. dhs-ice")
    listen.add_argument("--by", default="integration", help="who acknowledges")
    listen.add_argument("--no-ack", action="store_true", help="print only")
    listen.add_argument("--limit", type=int, default=None, help="stop after N notices")
    listen.set_defaults(func=cmd_agency_listen)
    check = agency_commands.add_parser(
        "check", help="validate an agency registry file (one line per problem)"
    )
    check.add_argument("file", help="e.g. deploy/agencies.yaml")
    check.add_argument(
        "--secrets", action="store_true", help="also read every webhook's secrets, as a worker"
    )
    check.set_defaults(func=cmd_agency_check)

    trace = commands.add_parser("trace", help="one booking's chain, jail event to notice")
    trace.add_argument("key", help="<jurisdiction>/<booking_id>")
    trace.set_defaults(func=cmd_trace)

    watch = commands.add_parser(
        "watch", help="print one line per alert, notice, escalation and dead letter"
    )
    watch.set_defaults(func=cmd_watch)


def cmd_agency_check(args: argparse.Namespace) -> int:
    """Exit 0 and one line per agency when the registry is usable; else one line per
    problem on stderr and exit 1."""
    from pathlib import Path

    from services.core import agencies

    settings = load_settings()
    registry, problems = agencies.check(
        Path(args.file), allow_http=settings.webhook_allow_http, secrets=args.secrets
    )
    if registry is None or problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    for agency in registry.agencies:
        channels = "kafka" + (f" + webhook ({agency.webhook.host})" if agency.webhook else "")
        print(f"{agency.slug}: {agency.name}: {channels}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from schemas.topics import AUDIT
    from services.kafka.admin.metadata import partitions_of
    from services.kafka.client import read
    from services.notification.report import compile_report, render

    if args.verify:
        return cmd_verify(args)
    settings = load_settings()
    since = parse_since(args.since)
    require_broker_url(settings)

    async def read_ledger() -> list[dict[str, Any]]:
        """Every ledger record up to the end the topic had when we started."""
        consumer = AIOKafkaConsumer(
            **consumer_options(settings), group_id=None, enable_auto_commit=False
        )
        async with running(consumer):
            partitions = [
                TopicPartition(AUDIT.name, p) for p in await partitions_of(consumer, AUDIT.name)
            ]
            records: list[dict[str, Any]] = []
            shown = [0]

            def progress(read_so_far: int, total: int) -> None:
                if total > 10_000:
                    shown[0] = total
                    print(
                        f"\rread {read_so_far:,} of {total:,} ledger records",
                        end="",
                        file=sys.stderr,
                        flush=True,
                    )

            async for message in read.to_end(consumer, partitions, progress):
                if (value := read.json_value(message)) is not None:
                    records.append(value)
            if shown[0]:
                print(file=sys.stderr)
            return records

    with talking_to_broker(settings):
        record_look(settings, " ".join(["report", *_given(args, "jurisdiction", "since")]))
        ledger = asyncio.run(read_ledger())
    print(render(compile_report(ledger, args.jurisdiction, since), args.format))
    return 0


def cmd_agency_listen(args: argparse.Namespace) -> int:
    from schemas.topics import agency_notices
    from services.cli.agency import listen

    settings = load_settings()
    try:
        agency_notices(args.agency)
    except ValueError as exc:
        raise UsageError(f"--agency {args.agency!r}: {exc}") from None
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit {args.limit}: give 1 or more")
    require_broker_url(settings)
    with talking_to_broker(settings):
        try:
            return asyncio.run(
                listen(
                    consumer_options(settings),
                    args.agency,
                    args.by,
                    acknowledge=not args.no_ack,
                    limit=args.limit,
                    delivery=producer_options(settings),
                )
            )
        except KeyboardInterrupt:
            return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from services.cli.trace import render, trace

    settings = load_settings()
    jurisdiction, _, booking = args.key.partition("/")
    if not jurisdiction or not booking or "/" in booking:
        raise UsageError(
            f"{args.key!r}: give <jurisdiction>/<booking_id>, e.g. us-tx-harris/2026-1"
        )
    require_broker_url(settings)
    with talking_to_broker(settings):
        record_look(settings, f"trace {args.key}")
        steps = asyncio.run(trace(consumer_options(settings), args.key))
    print(render(steps))
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from services.cli.console import run_watch

    settings = load_settings()
    require_broker_url(settings)
    with talking_to_broker(settings):
        record_look(settings, "watch")
        return run_watch(consumer_options(settings))


def _given(args: argparse.Namespace, *names: str) -> list[str]:
    """The options a reader was given, as typed (what the access log says was asked)."""
    return [f"--{name}={getattr(args, name)}" for name in names if getattr(args, name)]
