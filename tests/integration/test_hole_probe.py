"""``HoleProbe`` against the broker: a hole of transaction markers holds no record, an aborted
record counts only for a reader of uncommitted records, and a committed record always does;
a hole at the end of a partition is answered from the client's position."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.kafka.broker.embedded import EmbeddedBroker
from services.kafka.client.holes import HoleProbe
from services.kafka.client.tansu_quirks import quirks
from tests.support.poll import until

pytestmark = pytest.mark.integration


LAYOUT = {0: b"committed", 2: b"aborted", 4: b"plain", 5: b"plain", 6: b"committed"}


async def markers_written(bootstrap: str, topic: str) -> None:
    """The transaction coordinator answers a commit or an abort once it has decided, and
    writes the partition's marker after that: until then a plain record can take the
    marker's offset (seen on CI). The marker is there when the last stable offset (a
    committed reader's end) has reached the high watermark (an uncommitted reader's)."""
    tp = TopicPartition(topic, 0)
    readers = [
        AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation)
        for isolation in ("read_committed", "read_uncommitted")
    ]
    for reader in readers:
        await reader.start()

    async def settled() -> bool:
        stable, high = [(await reader.end_offsets([tp]))[tp] for reader in readers]
        return bool(stable == high)

    try:
        await until(settled, 30, f"the transaction markers on {topic}")
    finally:
        for reader in readers:
            await reader.stop()


async def layout(bootstrap: str, topic: str) -> dict[int, bytes]:
    """Every record an uncommitted reader is handed, by offset: the offsets missing are the
    markers."""
    tp = TopicPartition(topic, 0)
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_uncommitted")
    await reader.start()
    try:
        reader.assign([tp])
        await reader.seek_to_beginning(tp)
        end = (await reader.end_offsets([tp]))[tp]
        found: dict[int, bytes] = {}

        async def read_to_end() -> bool:
            for record in (await reader.getmany(tp, timeout_ms=200)).get(tp, []):
                found[record.offset] = record.value
            return bool(await reader.position(tp) >= end)

        await until(read_to_end, 30, f"{topic} read to its end", every=0)
        return found
    finally:
        await reader.stop()


async def written(bootstrap: str) -> str:
    """A topic of one partition laid out as ``LAYOUT``: 0 committed, 1 its marker, 2 aborted,
    3 its marker, 4 and 5 plain records, 6 committed, 7 its marker (the end)."""
    topic = f"holes-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    transactional = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=topic)
    plain = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await transactional.start()
    await plain.start()
    try:
        async with transactional.transaction():
            await transactional.send_and_wait(topic, b"committed", partition=0)
        await transactional.begin_transaction()
        await transactional.send_and_wait(topic, b"aborted", partition=0)
        await transactional.abort_transaction()
        await markers_written(bootstrap, topic)
        for value in (b"plain", b"plain"):
            await plain.send_and_wait(topic, value, partition=0)
        async with transactional.transaction():
            await transactional.send_and_wait(topic, b"committed", partition=0)
        await markers_written(bootstrap, topic)
    finally:
        await transactional.stop()
        await plain.stop()
    assert await layout(bootstrap, topic) == LAYOUT
    return topic


async def test_the_probe_tells_markers_from_records(broker: EmbeddedBroker) -> None:
    if not quirks(broker.flavor).idempotence_and_transactions:
        pytest.skip(f"{broker.flavor} has no transactions")
    topic = await written(broker.bootstrap)
    committed = HoleProbe({"bootstrap_servers": broker.bootstrap})
    uncommitted = HoleProbe(
        {"bootstrap_servers": broker.bootstrap}, isolation_level="read_uncommitted"
    )
    try:
        for probe in (committed, uncommitted):
            assert not await probe.holds_records(topic, 0, 1, 2)  # a marker
            assert not await probe.holds_records(topic, 0, 7, 8)  # the last marker: the end
            assert await probe.holds_records(topic, 0, 3, 5)  # a marker, then a record
            assert await probe.holds_records(topic, 0, 5, 8)  # records before the end
        # The aborted record: handed only to a reader of uncommitted records.
        assert not await committed.holds_records(topic, 0, 1, 4)
        assert await uncommitted.holds_records(topic, 0, 1, 4)
    finally:
        await committed.close()
        await uncommitted.close()
