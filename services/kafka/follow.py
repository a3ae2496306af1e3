"""Follow topics by name pattern across every partition, without a consumer group: for
views of the whole system (the demo console, the board) rather than for processing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

from services.kafka.security import Kafka, as_client


async def follow(
    kafka: Kafka,
    pattern: str,
    on_message: Callable[[str, str | None, Any], None],
    from_beginning: bool,
    on_connected: Callable[[], None] | None = None,
) -> None:
    """Call ``on_message(topic, key, decoded JSON value)`` for every message, forever.
    Messages that are not JSON are passed over (dead letters say why elsewhere)."""
    consumer = AIOKafkaConsumer(
        **as_client(kafka, consumer=True),
        group_id=None,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        metadata_max_age_ms=5000,  # notice agency topics created later
    )
    await consumer.start()
    try:
        consumer.subscribe(pattern=pattern)
        if on_connected:
            on_connected()
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    try:
                        value = json.loads(record.value) if record.value else None
                    except ValueError:
                        continue
                    key = record.key.decode(errors="replace") if record.key else None
                    on_message(record.topic, key, value)
    finally:
        await consumer.stop()
