"""An idempotent producer goes on after the broker refused one of its records
(``services.kafka.patches.sequences``), on the embedded Apache Kafka with the real aiokafka."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import MessageSizeTooLargeError, OutOfOrderSequenceNumber
from aiokafka.producer.sender import SendProduceReqHandler

from services.kafka.broker.embedded import EmbeddedBroker
from services.kafka.client.tansu_quirks import quirks
from services.kafka.patches import sequences

pytestmark = pytest.mark.integration

LIMIT = 200  # the topic's max.message.bytes: a batch of one small record fits
TOO_LARGE = b"x" * 1000


@pytest.fixture
async def topic(broker: EmbeddedBroker) -> AsyncIterator[str]:
    if not quirks(broker.flavor).idempotence_and_transactions:
        pytest.skip(f"{broker.flavor} has no idempotent producer")
    name = f"sequences-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, 1, 1, topic_configs={"max.message.bytes": str(LIMIT)})]
        )
        yield name
        await admin.delete_topics([name])
    finally:
        await admin.close()


@pytest.fixture
def fixed() -> Iterator[None]:
    """aiokafka with the fix, as a worker runs it (aiokafka as released after)."""
    sequences.apply()
    yield
    SendProduceReqHandler.handle_response = sequences._library_handle_response  # type: ignore[method-assign]


@pytest.fixture
async def producer(broker: EmbeddedBroker) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=True)
    await producer.start()
    yield producer
    await producer.stop()


async def test_records_after_a_refused_one_are_taken_in_order(
    topic: str, fixed: None, producer: AIOKafkaProducer
) -> None:
    offsets = [(await producer.send_and_wait(topic, b"first", partition=0)).offset]
    for number in range(3):
        with pytest.raises(MessageSizeTooLargeError):
            await producer.send_and_wait(topic, TOO_LARGE, partition=0)
        sent = await producer.send_and_wait(topic, f"small {number}".encode(), partition=0)
        offsets.append(sent.offset)
    assert offsets == [0, 1, 2, 3]


async def test_aiokafka_alone_refuses_every_record_after_a_refused_one(
    topic: str, producer: AIOKafkaProducer
) -> None:
    """Why the fix exists (aiokafka as released): when aiokafka gives the numbers back
    itself this fails, and the fix can go. (The broker takes any number from a producer it
    has no record of, so the first record is taken first.)"""
    await producer.send_and_wait(topic, b"first", partition=0)
    with pytest.raises(MessageSizeTooLargeError):
        await producer.send_and_wait(topic, TOO_LARGE, partition=0)
    with pytest.raises(OutOfOrderSequenceNumber):
        await producer.send_and_wait(topic, b"small", partition=0)
