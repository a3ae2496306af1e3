"""Reading topics outside a faust worker (the CLI's readers, the agency example, the board's
follower): the two ways they read, written once.

- ``each``: every record the consumer fetches, one at a time, for as long as the caller
  takes them (follow a topic, tail it, listen as an agency);
- ``to_end``: given partitions from their beginning up to the end offsets they had when the
  read began (a report, a trace), then stop: a busy topic cannot keep the reader forever.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

# Long enough to batch, short enough that a reader notices a stop or a deadline quickly.
WAIT_MS = 500


async def each(
    consumer: AIOKafkaConsumer, *partitions: TopicPartition, wait_ms: int = WAIT_MS
) -> AsyncIterator[ConsumerRecord[bytes, bytes] | None]:
    """Every record fetched, in order per partition; ``None`` after a fetch that brought
    nothing, so a caller can check a deadline between records."""
    while True:
        batches = await consumer.getmany(*partitions, timeout_ms=wait_ms)
        if not batches:
            yield None
        for records in batches.values():
            for record in records:
                yield record


async def to_end(
    consumer: AIOKafkaConsumer,
    partitions: Sequence[TopicPartition],
    progress: Callable[[int, int], None] | None = None,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record of ``partitions`` from the beginning to the end offsets they had when
    called. ``progress(read, total)`` is called after each fetch."""
    if not partitions:
        return
    consumer.assign(list(partitions))
    await consumer.seek_to_beginning(*partitions)
    ends = await consumer.end_offsets(list(partitions))
    total, read = sum(ends.values()), 0
    remaining = {tp for tp in partitions if ends[tp] > 0}
    while remaining:
        batches = await consumer.getmany(*remaining, timeout_ms=WAIT_MS)
        for tp, records in batches.items():
            for record in records:
                if record.offset < ends[tp]:
                    read += 1
                    yield record
        for tp in list(remaining):
            if await consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)
        if progress is not None:
            progress(read, total)


def json_value(record: ConsumerRecord[bytes, bytes]) -> Any:
    """The record's JSON value, or None when it has none or it is not JSON (a reader shows
    what it can; dead letters say elsewhere why a message was refused)."""
    try:
        return json.loads(record.value) if record.value else None
    except ValueError:
        return None


def text_key(record: ConsumerRecord[bytes, bytes]) -> str | None:
    return record.key.decode(errors="replace") if record.key else None
