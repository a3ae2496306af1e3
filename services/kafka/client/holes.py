"""Under exactly_once a consumer reading committed data sees holes in the offsets: commit
and abort markers, and records of aborted transactions, take offsets it never gets. The gap
guard must tell those from committed records the client dropped (faust's own bug, which the
guard exists for). ``HoleProbe`` asks the broker: reading ``read_committed`` from the first
missing offset, is the first record there before the end of the hole?

Under at_least_once the probe reads uncommitted, as the worker's consumer does (aborted
records are handed to it then): topics once written by exactly_once producers hold markers
too (an installation switched back), and a hole of markers only must not hold an input
partition, nor the table recovery (``services.streams.recovery``)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.kafka.client.security import as_client

WAIT_MS = 2000  # at most, for a hole at the end of a partition
STEP_MS = 100  # the position is looked at after each step


class HoleProbe:
    def __init__(self, client: dict[str, Any], isolation_level: str = "read_committed") -> None:
        self.client = client
        self.isolation_level = isolation_level
        self._consumer: AIOKafkaConsumer | None = None
        self._markers_only: set[tuple[str, int, int, int]] = set()  # holes already probed
        # One probe at a time: the agent and the stall watchdog share the one consumer, and
        # another's assign() between this one's seek and position() crashed the worker
        # ("Partition ... is not assigned", fault suite, exactly_once).
        self._one_at_a_time = asyncio.Lock()

    async def holds_records(self, topic: str, partition: int, start: int, end: int) -> bool:
        """True when a record (a committed one, reading committed) lies in ``[start, end)``
        (or the broker could not say: then the hole is held and read again, as outside
        transactions). Quick when a record follows the hole (the one the guard holds), or when the
        client's position passes the end of the hole; at most ``WAIT_MS``. A hole of markers
        only is remembered."""
        hole = (topic, partition, start, end)
        if hole in self._markers_only:
            return False
        found = await self._probe(topic, partition, start, end)
        if not found:
            self._markers_only.add(hole)
        return found

    async def _probe(self, topic: str, partition: int, start: int, end: int) -> bool:
        async with self._one_at_a_time:
            try:
                consumer = await self._started()
                tp = TopicPartition(topic, partition)
                consumer.assign([tp])
                consumer.seek(tp, start)
                waited = 0
                while True:
                    batches = await consumer.getmany(tp, timeout_ms=STEP_MS, max_records=1)
                    records = batches.get(tp, [])
                    if records:
                        return bool(records[0].offset < end)
                    # Nothing read: the hole is markers only once the position is past it
                    # (the client steps over a batch of markers without handing anything).
                    position = await consumer.position(tp)
                    waited += STEP_MS
                    if position >= end or waited >= WAIT_MS:
                        return bool(position < end)
            except Exception:  # the broker away or rebalancing: the careful answer
                return True

    async def close(self) -> None:
        async with self._one_at_a_time:
            if self._consumer is not None:
                await self._consumer.stop()
                self._consumer = None

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            options = {**as_client(self.client, consumer=True), "fetch_max_wait_ms": 50}
            consumer = AIOKafkaConsumer(
                **options,
                group_id=None,
                enable_auto_commit=False,
                isolation_level=self.isolation_level,
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer
