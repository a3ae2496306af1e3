"""SPEC 2: one booking's messages meet on one partition number in every topic, so every topic
a service reads with its tables has the installation's partition count. A public input with
another count still works (each message is moved to its booking's partition of the service's
placement topic): said once at start. Any other topic a service reads or keeps a table in
with another count would silently split bookings: the service refuses to start, naming the
topic and both counts (``disagreements`` decides, pure; ``check_partitions`` asks the
cluster)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient

from schemas.owned_topics import FaustTopic
from schemas.topics import TopicSpec
from services.access import SERVICE_TOPICS
from services.ops import events
from services.ops.logging import get_logger

log = get_logger(__name__)

# Topics a service reads with its tables besides the public inputs (those are placed).
COPARTITIONED = frozenset(
    spec.name
    for topics in SERVICE_TOPICS.values()
    if topics.stream
    for spec in topics.reads
    if not spec.is_input
)


class PartitionCountError(RuntimeError):
    """A topic releasewatch co-partitions exists with another partition count."""


@dataclass(frozen=True)
class Disagreement:
    topic: str
    partitions: int
    expected: int
    placed: bool  # a public input: every message is moved, nothing is split

    def refusal(self) -> str:
        return (
            f"topic {self.topic} has {self.partitions} partitions, this installation "
            f"{self.expected} (RELEASEWATCH_PARTITIONS): bookings would be split between "
            f"partitions; set RELEASEWATCH_PARTITIONS={self.partitions} everywhere or recreate "
            "the topic"
        )


def disagreements(
    specs: Iterable[TopicSpec | FaustTopic], counts: Mapping[str, int], partitions: int
) -> list[Disagreement]:
    """The topics among ``specs`` whose count (``counts``: existing topics; 0 where the login
    may not describe it) matters and is not ``partitions``."""
    found = []
    for spec in specs:
        count = counts.get(spec.name, 0)
        if count in (0, partitions) or (isinstance(spec, FaustTopic) and spec.single_partition):
            continue
        if isinstance(spec, TopicSpec) and spec.is_input:
            found.append(Disagreement(spec.name, count, partitions, placed=True))
        elif isinstance(spec, FaustTopic) or spec.name in COPARTITIONED:
            found.append(Disagreement(spec.name, count, partitions, placed=False))
    return found


async def check_partitions(
    admin: AIOKafkaAdminClient,
    specs: Iterable[TopicSpec | FaustTopic],
    partitions: int,
    existing: set[str],
) -> None:
    specs = [spec for spec in specs if spec.name in existing]
    if not specs:
        return
    cluster = await admin._client.fetch_all_metadata()
    counts = {spec.name: len(cluster.partitions_for_topic(spec.name) or ()) for spec in specs}
    for found in disagreements(specs, counts, partitions):
        if not found.placed:
            raise PartitionCountError(found.refusal())
        log.warning(
            events.INPUT_PARTITIONS_DIFFER,
            topic=found.topic,
            partitions=found.partitions,
            expected=found.expected,
        )
