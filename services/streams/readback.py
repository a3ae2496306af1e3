"""What this service already put on one of its output topics, read back from the broker.

Under at_least_once a record saying an output went out is stored once the broker has the
output (``services.streams.staging``): a kill -9 in between leaves the output on the broker
and the record not saying so, and the input read again would send it once more (the same id,
a repeat). Before a partition's first such output in a consumer generation (after a start, a
crash or a rebalance), ``ReadBack`` reads that partition of the output topic back, from
``WINDOW`` before its last record to its end, and the ids it finds count as sent: the record
stored next says so, and nothing goes out twice.

The window is the one place a repeat remains: an output acknowledged, then nothing recorded
about it for ``WINDOW`` while later outputs of its partition went out, then a kill. Outputs
are recorded within one batch, so that takes a broker refusing the records' changelog for
that long (escalated meanwhile as refused outputs). Under exactly_once nothing is read back:
the output and its record commit together.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.kafka.admin.topics import partition_of
from services.ops import events
from services.ops.logging import get_logger

log = get_logger(__name__)

WINDOW_S = 900.0  # back from the partition's last record
READ_MS = 1000  # one fetch at most
READ_LIMIT_S = 30.0  # one partition's reading at most: the agent waits for it
LAST = 20  # records at the end of a partition looked at for its last timestamp


def data_id(field: str) -> Callable[[bytes], str | None]:
    """The id an output carries in ``data.<field>`` (an event envelope's JSON)."""

    def ident(value: bytes) -> str | None:
        try:
            found = json.loads(value)["data"][field]
        except (ValueError, KeyError, TypeError):
            return None
        return found if isinstance(found, str) else None

    return ident


class ReadBack:
    def __init__(
        self,
        client: dict[str, Any],
        topic: str,
        partitions: int,
        ident: Callable[[bytes], str | None],
        generation: Callable[[], int | None],
        window_s: float = WINDOW_S,
    ) -> None:
        self.client = client
        self.topic = topic
        self.partitions = partitions
        self.ident = ident
        self.generation = generation
        self.window_ms = int(window_s * 1000)
        self._sent: dict[int, set[str]] = {}  # partition -> ids on the broker when read
        self._read_in: int | None = None  # the consumer generation they were read in
        self._one_at_a_time = asyncio.Lock()

    async def sent(self, key: bytes, ident: str) -> bool:
        """Whether ``ident`` was on the partition of ``key`` when it was last read back (in
        this generation). A partition that cannot be read counts as holding nothing: the
        output goes out (a repeat at worst, never a loss)."""
        partition = partition_of(key, self.partitions)
        async with self._one_at_a_time:
            generation = self.generation()
            if generation != self._read_in:
                self._sent.clear()
                self._read_in = generation
            if partition not in self._sent:
                self._sent[partition] = await self._read(partition)
        return ident in self._sent[partition]

    async def _read(self, partition: int) -> set[str]:
        tp = TopicPartition(self.topic, partition)
        consumer = AIOKafkaConsumer(
            **self.client,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # never counted as sent: what an aborted transaction wrote (an installation that
            # ran exactly_once before)
            isolation_level="read_committed",
        )
        found: set[str] = set()
        try:
            await consumer.start()
            await asyncio.wait_for(self._read_into(consumer, tp, found), READ_LIMIT_S)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # what was found is on the broker: still counts
            log.warning(
                events.OUTPUTS_NOT_READ_BACK,
                topic=self.topic,
                partition=partition,
                error=type(exc).__name__,
                found=len(found),
                exc_info=True,
            )
            return found
        finally:
            await consumer.stop()
        log.info(events.OUTPUTS_READ_BACK, topic=self.topic, partition=partition, ids=len(found))
        return found

    async def _read_into(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, found: set[str]
    ) -> None:
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        if end == 0:
            return
        # The window ends at the partition's last records (a worker down a long time still
        # finds what it sent last), or now when they cannot be had: a partition once written
        # in transactions can end in markers, which no fetch returns.
        consumer.seek(tp, max(0, end - LAST))
        last = (await consumer.getmany(tp, timeout_ms=READ_MS)).get(tp, [])
        until_ms = max((r.timestamp for r in last), default=int(time.time() * 1000))
        start = (await consumer.offsets_for_times({tp: until_ms - self.window_ms}))[tp]
        consumer.seek(tp, start.offset if start is not None else max(0, end - LAST))
        while await consumer.position(tp) < end:
            records = (await consumer.getmany(tp, timeout_ms=READ_MS)).get(tp, [])
            if not records:  # the rest are markers
                return
            for record in records:
                ident = self.ident(record.value) if record.value else None
                if ident is not None:
                    found.add(ident)
