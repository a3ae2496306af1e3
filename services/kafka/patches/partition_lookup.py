"""A send's partition, looked up without building sets or hashing a key twice
(``partition_lookup``).

Defect (cost, not correctness): for every record aiokafka's producer builds the topic's set
of partitions from its metadata, once to learn the topic is known
(``AIOKafkaClient._wait_on_metadata``) and again to pick the partition, twice for a keyed
record (all of them, and those with a leader), even when the caller names the partition (to
assert it exists), and hashes the key with its pure-Python murmur2. A release sends several
records under one booking's key (its state, alert, notice, copy, ledger record and the
tables' changelog records): in the ordered burst the set building and hashing were 4.4 % of
the booking worker's main thread and 2.4 % of scheduling's (py-spy, ``bench.burst 10000
--mode ordered`` on 0ef81de, #47).

Here a named partition is checked against the metadata's own mapping, a known topic's set is
built once per metadata update, and a key's murmur2 is kept for the next records under it (a
small table, emptied when full). The partition a key gets is the same: murmur2 of the key
modulo the topic's partition count (Kafka's partitions are numbered from 0, and aiokafka's
list of them is in that order). A record without a key, or a producer with another
partitioner, takes aiokafka's own way. Applies to: aiokafka 0.12-0.14
(``AIOKafkaProducer._partition``, ``AIOKafkaClient._wait_on_metadata``), any broker.
"""

from __future__ import annotations

from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.partitioner import DefaultPartitioner, murmur2
from aiokafka.producer.producer import AIOKafkaProducer

NAME = "partition_lookup"
KEPT = 4096  # keys whose hash is kept: a burst's releases touch each key a few times in a row

_original_partition = AIOKafkaProducer._partition
_original_wait_on_metadata = AIOKafkaClient._wait_on_metadata
_hashes: dict[bytes, int] = {}


def hashed(key: bytes) -> int:
    """murmur2 of ``key`` as the partitioner takes it (its sign bit cleared)."""
    value = _hashes.get(key)
    if value is None:
        if len(_hashes) >= KEPT:
            _hashes.clear()
        value = murmur2(key) & 0x7FFFFFFF
        # Kept as a copy of its own size: a key faust serialized is orjson's output, whose
        # bytes object holds a 4 KiB allocation whatever its length (orjson 3.13).
        _hashes[bytes(memoryview(key))] = value
    return value


def _partition(
    self: Any,
    topic: str,
    partition: int | None,
    key: Any,
    value: Any,
    serialized_key: bytes | None,
    serialized_value: bytes | None,
) -> int:
    known = self._metadata._partitions.get(topic)
    if partition is not None:
        if partition < 0 or not known or partition not in known:
            raise AssertionError("Unrecognized partition")
        return partition
    if serialized_key is None or not known or not isinstance(self._partitioner, DefaultPartitioner):
        return _original_partition(
            self, topic, partition, key, value, serialized_key, serialized_value
        )
    return hashed(serialized_key) % len(known)


async def _wait_on_metadata(self: Any, topic: str) -> frozenset[int]:
    """The topic's partitions: from the metadata at hand when it knows the topic (one set per
    metadata update, which replaces the topic's mapping), else aiokafka's wait for them."""
    known = self.cluster._partitions.get(topic)
    if not known:
        return frozenset(await _original_wait_on_metadata(self, topic))
    sets: dict[str, tuple[Any, frozenset[int]]] = self.__dict__.setdefault("_partition_sets", {})
    made = sets.get(topic)
    if made is None or made[0] is not known:
        made = sets[topic] = (known, frozenset(known))
    return made[1]


def apply() -> None:
    AIOKafkaProducer._partition = _partition
    AIOKafkaClient._wait_on_metadata = _wait_on_metadata
