"""``ReadBack`` against the broker: the ids on a key's partition within the window before its
last record count as sent; older ones, other partitions' and a new generation's reading are
told apart; a topic that cannot be read counts as holding nothing (a repeat at worst)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.kafka.admin.topics import partition_of
from services.kafka.broker.embedded import EmbeddedBroker
from services.kafka.client.tansu_quirks import quirks
from services.streams.readback import ReadBack, data_id

pytestmark = pytest.mark.integration

PARTITIONS = 4


def alert(alert_id: str) -> bytes:
    return json.dumps({"type": "notice.alert", "data": {"alert_id": alert_id}}).encode()


async def created(broker: EmbeddedBroker, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()


def key_on(partition: int) -> bytes:
    return next(
        k for n in range(1000) if partition_of(k := f"k{n}".encode(), PARTITIONS) == partition
    )


async def test_the_ids_within_the_window_of_a_keys_partition_count_as_sent(
    broker: EmbeddedBroker,
) -> None:
    topic = f"readback-{uuid.uuid4().hex[:8]}"
    await created(broker, topic)
    now_ms = int(time.time() * 1000)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    try:
        here, elsewhere = key_on(1), key_on(2)
        await producer.send_and_wait(topic, alert("old"), here, timestamp_ms=now_ms - 3_600_000)
        await producer.send_and_wait(topic, b"not json", here, timestamp_ms=now_ms - 1_000)
        await producer.send_and_wait(topic, alert("a1"), here, timestamp_ms=now_ms - 500)
        await producer.send_and_wait(topic, alert("a2"), here, timestamp_ms=now_ms)
        await producer.send_and_wait(topic, alert("b1"), elsewhere, timestamp_ms=now_ms)
        generation = [1]
        reading = ReadBack(
            {"bootstrap_servers": broker.bootstrap},
            topic,
            PARTITIONS,
            data_id("alert_id"),
            lambda: generation[0],
            window_s=60,
        )
        assert await reading.sent(here, "a1") and await reading.sent(here, "a2")
        assert not await reading.sent(here, "old"), "before the window"
        assert not await reading.sent(here, "b1"), "another partition's"
        assert await reading.sent(elsewhere, "b1")
        await producer.send_and_wait(topic, alert("a3"), here)
        assert not await reading.sent(here, "a3"), "read once a generation"
        generation[0] = 2
        assert await reading.sent(here, "a3"), "read again in a new generation"
        empty = key_on(3)
        assert not await reading.sent(empty, "a1")
    finally:
        await producer.stop()


async def test_a_topic_that_cannot_be_read_holds_nothing(broker: EmbeddedBroker) -> None:
    reading = ReadBack(
        {"bootstrap_servers": broker.bootstrap, "request_timeout_ms": 3000},
        "readback-no-such-topic",
        PARTITIONS,
        data_id("alert_id"),
        lambda: 1,
    )
    assert not await reading.sent(key_on(0), "a1")


async def test_a_partition_ending_in_transaction_markers_is_read_without_waiting_for_ever(
    broker: EmbeddedBroker,
) -> None:
    """An installation that ran exactly_once before: its alert partitions end in commit and
    abort markers, which no fetch returns. What a committed transaction wrote counts as sent,
    what an aborted one wrote does not (readers never see it)."""
    if not quirks(broker.flavor).idempotence_and_transactions:
        pytest.skip(f"{broker.flavor} has no transactions")
    topic = f"readback-tx-{uuid.uuid4().hex[:8]}"
    await created(broker, topic)
    here = key_on(0)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=topic)
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send_and_wait(topic, alert("committed"), here)
        await producer.begin_transaction()
        await producer.send_and_wait(topic, alert("aborted"), here)
        await producer.abort_transaction()
    finally:
        await producer.stop()
    reading = ReadBack(
        {"bootstrap_servers": broker.bootstrap}, topic, PARTITIONS, data_id("alert_id"), lambda: 1
    )
    assert await asyncio.wait_for(reading.sent(here, "committed"), 60)
    assert not await reading.sent(here, "aborted")
