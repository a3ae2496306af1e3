"""Follow topics by name pattern across every partition, without a consumer group: for
views of the whole system (the demo console, the board) rather than for processing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

from services.kafka.client import read
from services.kafka.client.security import Kafka, as_client


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
        async for record in read.each(consumer):
            if record is None or (record.value and read.json_value(record) is None):
                continue
            on_message(record.topic, read.text_key(record), read.json_value(record))
    finally:
        await consumer.stop()
