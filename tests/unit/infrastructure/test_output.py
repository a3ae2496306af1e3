"""Output.send_all: many keyed messages, each partition's in order, partitions side by side."""

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from schemas.topics import NOTICE_ALERTS
from services.kafka.admin.topics import partition_for
from services.ops.metrics import Metrics
from services.streams.output import SOURCE, UNACKNOWLEDGED, Output


class Producer:
    """Holds one message per partition until the test lets it go, like a producer with
    one-record batches; records the order messages reached each partition."""

    def __init__(self, partitions: int, fail_key: bytes | None = None) -> None:
        self.partitions = partitions
        self.fail_key = fail_key
        self.order: dict[int, list[bytes]] = {p: [] for p in range(partitions)}

    async def send(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        given: int | None = None,
        *_: Any,
        **options: Any,
    ) -> asyncio.Future[Any]:
        self.transactions = [*getattr(self, "transactions", []), options.get("transactional_id")]
        self.given = [*getattr(self, "given", []), given]  # the partition the caller named
        if key == self.fail_key:
            raise RuntimeError("broker refused")
        partition = partition_for(key.decode(), self.partitions) if given is None else given
        self.order[partition].append(key)
        await asyncio.sleep(0)  # the batch slot frees on the next turn of the loop
        delivered: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        delivered.set_result((partition, len(self.order[partition]) - 1))
        return delivered


def output(producer: Producer, in_transaction: bool | None = False) -> Output:
    """``in_transaction`` None: the app has none yet (reading it at construction fails)."""
    app = SimpleNamespace(
        topic=lambda *_, **__: None,
        producer=producer,
        conf=SimpleNamespace(topic_partitions=producer.partitions, id="releasewatch-test"),
        in_transaction=in_transaction,
        assignor=SimpleNamespace(group_for_topic={"booking.state.v1": 0, "x.v1": 1}.__getitem__),
    )
    if in_transaction is None:
        del app.in_transaction
    return Output(app, NOTICE_ALERTS, Metrics("test"))  # type: ignore[arg-type]


KEYS = [f"us-mn-hennepin/b-{n}".encode() for n in range(40)]


async def test_every_partition_gets_its_messages_in_the_order_given() -> None:
    producer = Producer(4)
    futures = await output(producer).send_all([(key, b"v") for key in KEYS])
    assert len(futures) == len(KEYS)
    for partition, keys in producer.order.items():
        assert keys == [k for k in KEYS if partition_for(k.decode(), 4) == partition]
    # The futures come back in the order the messages were given.
    for key, future in zip(KEYS, futures, strict=True):
        partition, position = await future
        assert producer.order[partition][position] == key


async def test_send_all_names_each_keys_partition_so_the_client_does_not_hash_it_again() -> None:
    producer = Producer(4)
    await output(producer).send_all([(key, b"v") for key in KEYS])
    assert sorted(producer.given) == sorted(partition_for(k.decode(), 4) for k in KEYS)
    for partition, keys in producer.order.items():
        assert all(partition_for(k.decode(), 4) == partition for k in keys)
    await output(producer).send(KEYS[0], b"v")  # a single send leaves it to the client
    assert producer.given[-1] is None


async def test_a_refused_send_fails_its_own_future_only() -> None:
    producer = Producer(4, fail_key=KEYS[3])
    futures = await output(producer).send_all([(key, b"v") for key in KEYS])
    with pytest.raises(RuntimeError, match="refused"):
        await futures[3]
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert sum(isinstance(r, BaseException) for r in results) == 1
    assert sum(len(keys) for keys in producer.order.values()) == len(KEYS) - 1


async def test_under_exactly_once_a_message_joins_its_input_partitions_transaction() -> None:
    producer = Producer(4)
    sending = output(producer, in_transaction=True)
    token = SOURCE.set(("x.v1", 3))  # inside a handler of x.v1 partition 3
    try:
        await sending.send(KEYS[0], b"v")
    finally:
        SOURCE.reset(token)
    # The timer's ticks: outside any transaction, read at once (the agent decides from state
    # in the tick's transaction); in one, a quiet partition's tick would wait for ever.
    await sending.send(KEYS[0], b"v")
    assert producer.transactions == ["releasewatch-test-1-3", None]
    plain = Producer(4)
    await output(plain).send(KEYS[0], b"v")
    assert plain.transactions == [None]


async def test_outputs_built_before_the_worker_starts_join_transactions_once_it_runs() -> None:
    """faust's in_transaction holds only once a worker runs (``faust.Worker`` sets
    ``in_worker``), and it is cached: read once before, it stays False for good, for faust's
    own commits and changelogs too. The services build their outputs before the worker
    starts; Output read it then, and exactly_once ran without a transaction."""
    import faust

    early = faust.App("releasewatch-test", processing_guarantee="exactly_once")
    assert early.in_transaction is False  # read before the worker runs ...
    early.in_worker = True  # ... what faust.Worker does when it starts
    assert early.in_transaction is False  # ... and faust keeps what it first read
    app = faust.App("releasewatch-test", processing_guarantee="exactly_once")
    app.in_worker = True
    assert app.in_transaction is True

    producer = Producer(4)
    sending = output(producer, in_transaction=None)  # built without reading it
    sending.app.in_transaction = True  # the worker runs
    token = SOURCE.set(("booking.state.v1", 2))
    try:
        await sending.send(KEYS[0], b"v")
    finally:
        SOURCE.reset(token)
    assert producer.transactions == ["releasewatch-test-0-2"]


async def test_a_send_without_waiting_joins_the_message_in_hands_unacknowledged() -> None:
    """Its input is committed only once the broker has it (``consume.settle``); sent again,
    it is the same record, to the same partition, in the same transaction."""
    producer = Producer(4)
    sending = output(producer, in_transaction=True)
    pending: list[Any] = []
    source, collecting = SOURCE.set(("x.v1", 3)), UNACKNOWLEDGED.set(pending)
    try:
        await sending.send(KEYS[0], b"v", partition=2)
        await sending.send(KEYS[1], b"w", wait=True)  # waited for here: not collected
    finally:
        SOURCE.reset(source)
        UNACKNOWLEDGED.reset(collecting)
    await sending.send(KEYS[2], b"x")  # no message in hand (the timer): not collected
    [delivery] = pending
    assert (delivery.topic, delivery.key, delivery.payload) == (NOTICE_ALERTS.name, KEYS[0], b"v")
    first = await delivery.future
    await delivery.again()
    again = await delivery.future
    assert first[0] == again[0] == 2 and again[1] > first[1]
    assert producer.order[2][first[1]] == producer.order[2][again[1]] == KEYS[0]
    assert producer.given[-1] == 2
    assert producer.transactions == ["releasewatch-test-1-3"] * 2 + [None, "releasewatch-test-1-3"]
