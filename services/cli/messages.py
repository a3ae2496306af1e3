"""``publish``, ``tail`` and ``simulate``: messages onto and off the topics."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

from services.cli.failures import (
    UsageError,
    load_settings,
    read_text,
    require_broker_url,
    talking_to_broker,
)
from services.cli.looks import record_look
from services.kafka.client.clients import running
from services.kafka.client.security import client_options, consumer_options, producer_options

MAX_MESSAGE_BYTES = 8 * 1024 * 1024


def register(commands: Any) -> None:
    publish = commands.add_parser("publish", help="publish one JSON event or JSON lines")
    publish.add_argument("file", help="a file, or - for standard input")
    publish.add_argument(
        "--topic", help="default: from each event's type; given, anything is published as is"
    )
    publish.set_defaults(func=cmd_publish)

    tail = commands.add_parser("tail", help="print a topic's messages as JSON lines")
    tail.add_argument("topic")
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument("--limit", type=int, default=None, help="stop after N messages")
    tail.add_argument("--timeout", type=float, default=None, help="stop after S seconds")
    tail.set_defaults(func=cmd_tail)

    simulate = commands.add_parser("simulate", help="publish realistic jail traffic")
    simulate.add_argument("--rate", type=float, default=5.0, help="events per second")
    simulate.add_argument("--count", type=int, default=None, help="stop after N events")
    simulate.add_argument("--seed", type=int, default=None)
    simulate.add_argument(
        "--demo",
        action="store_true",
        help="place flagged releases just past the window: alerts in a minute",
    )
    simulate.add_argument(
        "--flag-rate",
        type=float,
        default=None,
        help="share of bookings with a notice request (default 0.04)",
    )
    simulate.set_defaults(func=cmd_simulate)


def split_documents(text: str) -> list[str]:
    """One JSON document, or JSON lines (blank lines skipped)."""
    stripped = text.strip()
    if not stripped:
        return []
    try:
        json.loads(stripped)
    except json.JSONDecodeError:
        return [line for line in text.splitlines() if line.strip()]
    return [stripped]


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes


def route(document: str, topic: str | None) -> Outgoing:
    """Where one document goes: the topic from its type, the key from its envelope. With
    ``topic`` given, the document goes there exactly as it is (even invalid JSON), keyed
    from its envelope when it has one."""
    from schemas.envelope import booking_key
    from schemas.topics import input_topic_for

    value = document.encode()
    try:
        parsed = json.loads(document)
    except json.JSONDecodeError as exc:
        if topic:
            return Outgoing(topic, None, value)  # as given: the service will dead-letter it
        raise ValueError(f"not JSON ({exc.msg}); give --topic to publish it anyway") from exc
    keyed = (
        isinstance(parsed, dict)
        and isinstance(parsed.get("jurisdiction"), str)
        and isinstance(parsed.get("booking_id"), str)
    )
    key = booking_key(parsed["jurisdiction"], parsed["booking_id"]).encode() if keyed else None
    if topic:
        return Outgoing(topic, key, value)
    if not isinstance(parsed, dict):
        shape = "an array" if isinstance(parsed, list) else f"a JSON {type(parsed).__name__}"
        raise ValueError(f"{shape}, not an event object; give one object per line")
    if not keyed:
        missing = [f for f in ("jurisdiction", "booking_id") if not isinstance(parsed.get(f), str)]
        raise ValueError(
            f"no {' or '.join(missing)}: the event cannot be keyed to its booking "
            "(give --topic to publish it as is)"
        )
    kind = parsed.get("type")
    if not isinstance(kind, str):
        raise ValueError('no type: give the event\'s "type", or --topic')
    spec = input_topic_for(kind)
    if spec is not None:
        return Outgoing(spec.name, key, value)
    raise ValueError(f"cannot tell the topic of type {kind!r}; give --topic")


def plan(text: str, source: str, topic: str | None) -> list[Outgoing]:
    """Every document checked before anything is sent: one bad one, nothing published."""
    documents = split_documents(text)
    if not documents:
        raise UsageError(f"{source}: no event to publish (empty input)")
    planned = []
    for number, document in enumerate(documents, 1):
        try:
            planned.append(route(document, topic))
        except ValueError as exc:
            where = source if len(documents) == 1 else f"{source}, document {number}"
            raise UsageError(f"{where}: {exc}; nothing was published") from None
    return planned


def cmd_publish(args: argparse.Namespace) -> int:
    from aiokafka import AIOKafkaProducer

    settings = load_settings()
    source = "standard input" if args.file == "-" else args.file
    outgoing = plan(read_text(args.file), source, args.topic)
    require_broker_url(settings)

    async def send() -> None:
        producer = AIOKafkaProducer(
            **client_options(settings),
            **producer_options(settings),
            max_request_size=MAX_MESSAGE_BYTES,
        )
        async with running(producer):
            for message in outgoing:
                meta = await producer.send_and_wait(
                    message.topic, key=message.key, value=message.value
                )
                key = message.key.decode() if message.key else None
                print(f"{message.topic}[{meta.partition}]@{meta.offset} key={key}", flush=True)

    with talking_to_broker(settings):
        asyncio.run(send())
    return 0


def render_record(record: Any) -> str:
    value: Any
    try:
        value = json.loads(record.value) if record.value is not None else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        value = record.value.decode("utf-8", errors="replace")
    return json.dumps(
        {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "key": record.key.decode("utf-8", errors="replace") if record.key else None,
            "value": value,
        },
        ensure_ascii=False,
    )


def cmd_tail(args: argparse.Namespace) -> int:
    from aiokafka import AIOKafkaConsumer

    from services.kafka.admin.metadata import partitions_of
    from services.kafka.client import read

    settings = load_settings()
    require_broker_url(settings)
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit {args.limit}: give 1 or more")

    async def run() -> None:
        consumer = AIOKafkaConsumer(
            **consumer_options(settings),
            auto_offset_reset="earliest" if args.from_beginning else "latest",
            enable_auto_commit=False,
            group_id=None,
        )
        async with running(consumer):
            if not await partitions_of(consumer, args.topic):
                raise UsageError(
                    f"topic {args.topic!r} does not exist on {settings.broker_url} "
                    "(`releasewatch topics list` names releasewatch's topics)"
                )
            consumer.subscribe([args.topic])
            seen = 0
            deadline = time.monotonic() + args.timeout if args.timeout else None
            async for record in read.each(consumer):
                if deadline and time.monotonic() > deadline:
                    break
                if record is not None:
                    print(render_record(record), flush=True)
                    seen += 1
                if args.limit is not None and seen >= args.limit:
                    break

    with talking_to_broker(settings), contextlib.suppress(KeyboardInterrupt):
        record_look(settings, f"tail {args.topic}")
        asyncio.run(run())
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from services.ops import logging as rw_logging
    from services.simulator.run import run_simulator

    settings = load_settings()
    require_broker_url(settings)
    if args.rate <= 0:
        raise UsageError(f"--rate {args.rate}: give events per second above 0")
    if args.flag_rate is not None and not 0 <= args.flag_rate <= 1:
        raise UsageError(f"--flag-rate {args.flag_rate}: give a share between 0 and 1")
    rw_logging.configure("simulator", settings.log_format, settings.log_level)
    with talking_to_broker(settings):
        return run_simulator(
            settings,
            rate=args.rate,
            count=args.count,
            seed=args.seed,
            demo=args.demo,
            flag_rate=args.flag_rate,
        )
