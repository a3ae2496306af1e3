"""Topic creation and broker start-up against Apache Kafka: a topic ``ensure_topics`` created
is served by its leaders when it returns, and a started embedded broker's group coordinator
answers before the first consumer asks (each used to cost a logged warning or error)."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas.topics import TopicSpec
from services.kafka.admin.topics import _started_admin, ensure_topics, wait_for_leaders
from services.kafka.broker.embedded import EmbeddedBroker, embedded_broker
from services.kafka.broker.process import free_port, group_coordinator_error
from tests.integration.conftest import wanted_broker

pytestmark = pytest.mark.integration

PARTITIONS = 16  # without the wait, 2 to 6 of 8 partitions refused the first send


class Kept(logging.Handler):
    """Every record aiokafka logs while the test runs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def aiokafka_log() -> Iterator[Kept]:
    kept, logger = Kept(), logging.getLogger("aiokafka")
    level = logger.level
    logger.addHandler(kept)
    logger.setLevel(logging.WARNING)
    try:
        yield kept
    finally:
        logger.removeHandler(kept)
        logger.setLevel(level)


def _spec(name: str) -> TopicSpec:
    return TopicSpec(name=name, description="a test's topic", messages=())


async def test_a_created_topic_takes_its_first_sends_on_every_partition(
    broker: EmbeddedBroker, aiokafka_log: Kept
) -> None:
    name = f"created-{uuid.uuid4().hex[:8]}"
    assert await ensure_topics(broker.bootstrap, PARTITIONS, specs=[_spec(name)]) == [name]
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5)
    await producer.start()
    try:
        sent = [
            await producer.send(name, b"first", partition=partition)
            for partition in range(PARTITIONS)
        ]
        placed = await asyncio.wait_for(asyncio.gather(*sent), 30)
    finally:
        await producer.stop()
    assert sorted(record.partition for record in placed) == list(range(PARTITIONS))
    assert [m for m in aiokafka_log.messages if "NotLeader" in m] == []


async def test_waiting_for_a_topic_that_never_comes_ends_at_the_deadline(
    broker: EmbeddedBroker,
) -> None:
    admin = await _started_admin(broker.bootstrap, 30)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert not await wait_for_leaders(admin, [f"absent-{uuid.uuid4().hex[:8]}"], started + 1)
        assert loop.time() - started < 10
    finally:
        await admin.close()


def test_a_port_without_a_broker_gives_no_coordinator_answer() -> None:
    assert group_coordinator_error("127.0.0.1", free_port()) is None


@pytest.fixture
def fresh_broker(broker: EmbeddedBroker) -> Iterator[EmbeddedBroker]:
    """A new cluster of the suite's flavor (on Apache Kafka the offsets topic does not exist
    yet), after the session's broker so that the toolchain has been checked."""
    with (
        tempfile.TemporaryDirectory(prefix="releasewatch-fresh-") as folder,
        embedded_broker(wanted_broker(), Path(folder)) as fresh,
    ):
        yield fresh


async def test_a_new_clusters_first_consumer_finds_its_coordinator_at_once(
    fresh_broker: EmbeddedBroker, aiokafka_log: Kept
) -> None:
    host, port = fresh_broker.bootstrap.rsplit(":", 1)
    assert group_coordinator_error(host, int(port)) == 0
    name = f"first-{uuid.uuid4().hex[:8]}"
    await ensure_topics(fresh_broker.bootstrap, 1, specs=[_spec(name)])
    consumer = AIOKafkaConsumer(
        name,
        bootstrap_servers=fresh_broker.bootstrap,
        group_id="first-group",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        await asyncio.wait_for(_until_assigned(consumer), 30)
    finally:
        await consumer.stop()
    assert [m for m in aiokafka_log.messages if "Coordinator" in m] == []


async def _until_assigned(consumer: AIOKafkaConsumer) -> None:
    while not consumer.assignment():
        await consumer.getmany(timeout_ms=100)
