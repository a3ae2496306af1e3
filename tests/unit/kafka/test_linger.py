"""send_now against aiokafka's own accumulator: a lingering batch is not drained until its
linger ends, and is drained at once after send_now (the client internals it relies on)."""

from types import SimpleNamespace

import pytest
from aiokafka.producer.message_accumulator import MessageAccumulator
from aiokafka.structs import TopicPartition

from services.kafka.linger import send_now


class Cluster:
    """One broker (node 0) leads every partition."""

    def leader_for_partition(self, tp: TopicPartition) -> int:
        return 0


def accumulator(linger_ms: int) -> MessageAccumulator:
    return MessageAccumulator(Cluster(), 16384, 0, 30, linger_ms=linger_ms)


@pytest.mark.asyncio
async def test_a_lingering_batch_goes_at_once_after_send_now() -> None:
    client = SimpleNamespace(_message_accumulator=accumulator(linger_ms=60_000))
    tp = TopicPartition("notice.alerts.v1", 3)
    await client._message_accumulator.add_message(tp, b"k", b"v", timeout=5)
    nodes, _ = client._message_accumulator.drain_by_nodes(ignore_nodes=set())
    assert nodes == {}  # still lingering (a minute)
    waiter = client._message_accumulator.waiter()
    assert not waiter.done()

    send_now(SimpleNamespace(_producer=client, _transaction_producers={}))

    assert waiter.done()  # the sender wakes
    nodes, _ = client._message_accumulator.drain_by_nodes(ignore_nodes=set())
    assert list(nodes[0]) == [tp]
    assert nodes[0][tp].record_count == 1


@pytest.mark.asyncio
async def test_send_now_reaches_transaction_producers_and_the_next_send_lingers_again() -> None:
    default, transactional = accumulator(60_000), accumulator(60_000)
    tp = TopicPartition("notice.audit.v1", 0)
    await transactional.add_message(tp, b"k", b"1", timeout=5)
    producer = SimpleNamespace(
        _producer=SimpleNamespace(_message_accumulator=default),
        _transaction_producers={"app-group-0": SimpleNamespace(_message_accumulator=transactional)},
    )
    send_now(producer)
    nodes, _ = transactional.drain_by_nodes(ignore_nodes=set())
    assert nodes[0][tp].record_count == 1
    # The next send opens a batch of its own, which lingers again.
    await transactional.add_message(tp, b"k", b"2", timeout=5)
    nodes, _ = transactional.drain_by_nodes(ignore_nodes=set())
    assert nodes == {}


def test_a_producer_not_started_yet_is_left_alone() -> None:
    send_now(SimpleNamespace(_producer=None, _transaction_producers={}))
    send_now(SimpleNamespace())  # a stand-in without a client at all
