"""``deadletters open ID``: a dead letter's value as its publisher sent it (#46). With KEKs the
services seal what they refused (it may name the person); whoever holds the KEK file opens
one, and the look is recorded on ``ops.access.v1`` first, as every look at CJI."""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas.deadletter import DeadLetter, RawPayload
from schemas.topics import DEADLETTER
from services.cli.failures import (
    UsageError,
    load_settings,
    require_broker_url,
    talking_to_broker,
)
from services.cli.looks import record_look
from services.core import kek_file
from services.core.field_crypto import KeyUnavailable, Tampered, open_message
from services.kafka.admin.metadata import partitions_of
from services.kafka.client import read
from services.kafka.client.clients import running
from services.kafka.client.security import consumer_options
from services.keys import SETTINGS, KeksError, keks_of


def register(commands: Any) -> None:
    letters = commands.add_parser("deadletters", help="what the services refused")
    letters_commands = letters.add_subparsers(dest="deadletters_command", required=True)
    opened = letters_commands.add_parser(
        "open",
        help="print a dead letter's value as it was sent, opened with the KEK file when sealed "
        "(recorded on ops.access.v1)",
    )
    opened.add_argument("id", help="its deadletter_id: <topic>:<partition>:<offset>")
    opened.add_argument("--file", type=Path, help="the KEK file; default: RELEASEWATCH_KEK_FILE")
    opened.set_defaults(func=cmd_open)


async def find(options: dict[str, Any], deadletter_id: str) -> DeadLetter | None:
    """The last dead letter with ``deadletter_id`` (a repeat after a crash is the same)."""
    consumer = AIOKafkaConsumer(**options, group_id=None, enable_auto_commit=False)
    found = None
    async with running(consumer):
        numbers = await partitions_of(consumer, DEADLETTER.name)
        partitions = [TopicPartition(DEADLETTER.name, n) for n in numbers]
        async for record in read.to_end(consumer, partitions):
            value = read.json_value(record)
            if isinstance(value, dict) and value.get("deadletter_id") == deadletter_id:
                found = DeadLetter.model_validate(value)
    return found


def shown(letter: DeadLetter, keks: Any) -> bytes:
    """The value's bytes as the publisher sent them."""
    value = letter.value
    if value is None:
        return b""
    if isinstance(value, RawPayload):
        if value.encoding == "base64":
            return base64.b64decode(value.content)
        return value.content.encode()
    if keks is None:
        raise UsageError(f"{letter.deadletter_id} is sealed: --file or {SETTINGS}")
    try:
        return open_message(value, letter.deadletter_id, keks)
    except (KeyUnavailable, Tampered) as exc:
        raise UsageError(f"{letter.deadletter_id} does not open: {exc}") from None


def cmd_open(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        keks = kek_file.load(args.file) if args.file else keks_of(settings)
    except KeksError as exc:
        raise UsageError(str(exc)) from None
    require_broker_url(settings)
    with talking_to_broker(settings):
        record_look(settings, f"deadletters open {args.id}")
        options = consumer_options(settings)
        try:
            letter = asyncio.run(find(options, args.id))
        except ValidationError as exc:
            raise UsageError(f"{args.id}: not a dead letter ({exc.error_count()} errors)") from None
    if letter is None:
        raise UsageError(f"no dead letter {args.id} on {DEADLETTER.name}")
    sys.stdout.buffer.write(shown(letter, keks) + b"\n")
    return 0
