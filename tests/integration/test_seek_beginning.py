"""The defect ``seek_beginning`` answers, reproduced on the real broker with aiokafka alone.

faust, after a rebalance, skips the messages it prefetched and calls ``seek_to_committed()``
to read them again. aiokafka 0.14 seeks only partitions whose committed offset is above 0: a
partition with nothing committed stays at its fetch position, so what was prefetched there is
never read again (offsets 4-7 of a fresh partition lost when a second worker joined). The
patch seeks such a partition to its beginning.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.kafka.broker.embedded import EmbeddedBroker
from services.kafka.patches import seek_beginning
from tests.support.poll import until
from tests.support.topics import KafkaHelper

pytestmark = pytest.mark.integration


class ConsumerThread:
    """What the patch reads of faust's consumer thread: the aiokafka consumer, and a way to
    call it (faust runs it in its own thread; here in the test's loop)."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer

    def _ensure_consumer(self) -> AIOKafkaConsumer:
        return self.consumer

    async def call_thread(self, method: Any, *args: Any) -> Any:
        return await method(*args)


async def test_nothing_committed_means_prefetched_messages_are_never_read_again(
    broker: EmbeddedBroker, kafka: KafkaHelper
) -> None:
    topic = f"seek-beginning-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    for number in range(8):
        await kafka.publish(topic, f"m{number}".encode(), key=None)
    tp = TopicPartition(topic, 0)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        group_id=f"group-{topic}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        read: list[int] = []

        async def all_fetched() -> bool:
            batches = await consumer.getmany(timeout_ms=500)
            read.extend(m.offset for messages in batches.values() for m in messages)
            return len(read) >= 8

        await until(all_fetched, 60, "the eight messages fetched")
        committed = await consumer.seek_to_committed()
        assert committed[tp] is None  # nothing committed yet
        assert await consumer.position(tp) == 8  # the defect: 0-7 would never be read again

        await seek_beginning._seek_to_committed_or_beginning(ConsumerThread(consumer))
        assert await consumer.position(tp) == 0  # the patch: read again from the start
    finally:
        await consumer.stop()
