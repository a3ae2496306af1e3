"""Output.send_all: many keyed messages, each partition's in order, partitions side by side."""

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from schemas.topics import NOTICE_ALERTS
from services.kafka.topics import partition_for
from services.ops.metrics import Metrics
from services.streams.output import SOURCE, Output


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


def output(producer: Producer, in_transaction: bool = False) -> Output:
    app = SimpleNamespace(
        topic=lambda *_, **__: None,
        producer=producer,
        conf=SimpleNamespace(topic_partitions=producer.partitions, id="releasewatch-test"),
        in_transaction=in_transaction,
        input_topic="booking.state.v1",
        assignor=SimpleNamespace(group_for_topic={"booking.state.v1": 0, "x.v1": 1}.__getitem__),
    )
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
    await sending.send(KEYS[0], b"v")  # the timer: the key's own partition, the inputs' group
    home = partition_for(KEYS[0].decode(), 4)
    assert producer.transactions == ["releasewatch-test-1-3", f"releasewatch-test-0-{home}"]
    plain = Producer(4)
    await output(plain).send(KEYS[0], b"v")
    assert plain.transactions == [None]
