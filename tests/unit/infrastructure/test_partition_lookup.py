"""``partition_lookup``: a send's partition without a set built or a key hashed twice, and the
same partition aiokafka's own lookup gives."""

import random
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner

from services.kafka.admin.topics import partition_of
from services.kafka.patches import partition_lookup

TOPIC = "booking.state.v1"


def producer(partitions: int, partitioner: Any = None, leaderless: int | None = None) -> Any:
    """What ``_partition`` reads of a producer: its metadata's partitions of TOPIC (one of them
    without a leader when asked) and its partitioner."""
    known = {number: SimpleNamespace(partition=number) for number in range(partitions)}
    metadata = SimpleNamespace(
        _partitions={TOPIC: known},
        partitions_for_topic=lambda topic: set(known) if topic == TOPIC else None,
        available_partitions_for_topic=lambda topic: {n for n in known if n != leaderless},
    )
    return SimpleNamespace(_metadata=metadata, _partitioner=partitioner or DefaultPartitioner())


def keys(count: int) -> list[bytes]:
    rng = random.Random(47)
    shapes = ["ca-alameda/2027-{:06d}", "tx-harris/{:x}", "{}", "ny-kings/B{:09d}-é"]
    return [rng.choice(shapes).format(rng.randrange(10**6)).encode() for _ in range(count)]


@pytest.mark.parametrize("partitions", [1, 3, 8, 12, 50])
def test_a_key_goes_where_aiokafka_and_the_java_client_put_it(partitions: int) -> None:
    own = producer(partitions)
    for key in keys(400):
        ours = partition_lookup._partition(own, TOPIC, None, None, None, key, b"v")
        theirs = partition_lookup._original_partition(own, TOPIC, None, None, None, key, b"v")
        assert ours == theirs == partition_of(key, partitions)


def test_a_key_asked_again_is_not_hashed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[bytes] = []
    real = partition_lookup.murmur2
    monkeypatch.setattr(partition_lookup, "murmur2", lambda key: hashed.append(key) or real(key))
    monkeypatch.setattr(partition_lookup, "_hashes", {})
    own = producer(8)
    for _ in range(5):
        partition_lookup._partition(own, TOPIC, None, None, None, b"ca-alameda/1", b"v")
    assert hashed == [b"ca-alameda/1"]


def test_the_kept_hashes_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(partition_lookup, "_hashes", {})
    own = producer(8)
    for key in keys(3 * partition_lookup.KEPT):
        assert partition_lookup._partition(own, TOPIC, None, None, None, key, b"v") == (
            partition_of(key, 8)
        )
        assert len(partition_lookup._hashes) <= partition_lookup.KEPT


def test_a_named_partition_is_checked_against_the_metadata() -> None:
    own = producer(8)
    assert partition_lookup._partition(own, TOPIC, 7, None, None, b"k", b"v") == 7
    for wrong in (8, -1):
        with pytest.raises(AssertionError, match="Unrecognized partition"):
            partition_lookup._partition(own, TOPIC, wrong, None, None, b"k", b"v")
    with pytest.raises(AssertionError, match="Unrecognized partition"):
        partition_lookup._partition(own, "unknown.topic", 0, None, None, b"k", b"v")


def test_a_record_without_a_key_goes_to_a_partition_with_a_leader() -> None:
    own = producer(3, leaderless=1)
    seen = {
        partition_lookup._partition(own, TOPIC, None, None, None, None, b"v") for _ in range(200)
    }
    assert seen == {0, 2}


def test_another_partitioner_is_asked_as_aiokafka_would() -> None:
    asked: list[tuple[bytes, list[int]]] = []

    def last(key: bytes, all_partitions: list[int], available: list[int]) -> int:
        asked.append((key, all_partitions))
        return all_partitions[-1]

    own = producer(4, partitioner=last)
    assert partition_lookup._partition(own, TOPIC, None, None, None, b"k", b"v") == 3
    assert asked == [(b"k", [0, 1, 2, 3])]


def test_installed_with_the_other_patches() -> None:
    from aiokafka.client import AIOKafkaClient
    from aiokafka.producer.producer import AIOKafkaProducer

    from services.kafka import patches

    assert partition_lookup in patches.ALWAYS
    patches.apply()
    assert AIOKafkaProducer._partition is partition_lookup._partition
    assert AIOKafkaClient._wait_on_metadata is partition_lookup._wait_on_metadata


def test_a_kept_key_holds_no_more_memory_than_its_length(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key serialized by orjson holds a 4 KiB allocation: kept as it is, the table of 4,096
    hashes alone would hold 16 MiB."""
    import tracemalloc

    import orjson

    monkeypatch.setattr(partition_lookup, "_hashes", {})
    own = producer(8)
    tracemalloc.start()
    try:
        for n in range(1000):  # each key dropped once sent: what stays is the table's
            key = orjson.dumps(f"ca-alameda/2027-{n:06d}")
            partition_lookup._partition(own, TOPIC, None, None, None, key, b"v")
        del key
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 200 * 1000  # about 100 bytes a key and its entry, not 4 KiB


async def test_a_known_topics_partitions_are_one_set_per_metadata_update() -> None:
    asked: list[str] = []

    async def wait(self: Any, topic: str) -> set[int]:  # aiokafka's, for an unknown topic
        asked.append(topic)
        return {0, 1}

    client = SimpleNamespace(cluster=SimpleNamespace(_partitions={TOPIC: {0: "a", 1: "b"}}))
    first = await partition_lookup._wait_on_metadata(client, TOPIC)
    assert first == {0, 1} and await partition_lookup._wait_on_metadata(client, TOPIC) is first
    client.cluster._partitions = {TOPIC: {0: "a", 1: "b", 2: "c"}}  # an update replaces it
    assert await partition_lookup._wait_on_metadata(client, TOPIC) == {0, 1, 2}
    original = partition_lookup._original_wait_on_metadata
    partition_lookup._original_wait_on_metadata = wait  # type: ignore[assignment]
    try:
        assert await partition_lookup._wait_on_metadata(client, "notices.new.v1") == {0, 1}
    finally:
        partition_lookup._original_wait_on_metadata = original
    assert asked == ["notices.new.v1"]
