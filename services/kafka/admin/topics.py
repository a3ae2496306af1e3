"""Create the registry's topics, idempotently (never by hand): at service start-up, and as
a one-shot job (`releasewatch topics create`) where the services may not create topics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    InvalidReplicationFactorError,
    KafkaError,
    LeaderNotAvailableError,
    NotLeaderForPartitionError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
    for_code,
)
from aiokafka.partitioner import murmur2
from aiokafka.protocol.offset import OffsetRequest
from aiokafka.structs import TopicPartition

from schemas.owned_topics import FaustTopic, faust_topics
from schemas.topics import APP_ID_PREFIX, KNOWN_AGENCIES, REGISTRY, TopicSpec, agency_notices
from services.access import SERVICE_TOPICS
from services.kafka.admin.partitions import check_partitions
from services.kafka.admin.retention import JAIL_TOPICS, bounded, hold_retention
from services.kafka.client.security import Kafka, as_client
from services.ops import events
from services.ops.logging import get_logger

log = get_logger(__name__)


# Replicas of a topic when none is configured: Kafka's usual 3 where the cluster has that many.
DEFAULT_REPLICAS = 3


@dataclass(frozen=True)
class TopicPlan:
    """One topic as it should exist on the cluster (replication None: from the cluster)."""

    name: str
    partitions: int
    replication_factor: int | None
    config: dict[str, str]


def replicas_for(brokers: int, configured: int | None) -> int:
    """The replication factor to create topics with on a cluster of ``brokers``."""
    return configured or min(DEFAULT_REPLICAS, max(1, brokers))


def plan(
    specs: Iterable[TopicSpec | FaustTopic],
    partitions: int,
    replication_factor: int | None = None,
    min_insync_replicas: int | None = None,
) -> list[TopicPlan]:
    plans = []
    for spec in specs:
        config = {"cleanup.policy": spec.cleanup.value}
        retention = spec.retention_ms
        if retention is not None:
            config["retention.ms"] = str(retention)
        lag = getattr(spec, "compaction_lag_ms", None)
        if lag is not None:
            config["min.compaction.lag.ms"] = str(lag)
        if min_insync_replicas:
            config["min.insync.replicas"] = str(min_insync_replicas)
        single = isinstance(spec, FaustTopic) and spec.single_partition
        plans.append(TopicPlan(spec.name, 1 if single else partitions, replication_factor, config))
    return plans


async def _started_admin(kafka: Kafka, timeout: float) -> AIOKafkaAdminClient:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        admin = AIOKafkaAdminClient(**as_client(kafka), request_timeout_ms=10_000)
        try:
            await admin.start()
            return admin
        except KafkaError:
            await admin.close()
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


class TopicCreateError(RuntimeError):
    """The cluster refused a topic (wrong replication, configuration or permission)."""


async def _create(
    admin: AIOKafkaAdminClient, topic: TopicPlan, replicas: int, deadline: float
) -> bool:
    """Create one topic; False if it already existed. The admin client reports refusals in
    the response rather than raising: each is read here. Too few brokers for the replication
    factor (a cluster still starting) is waited out until ``deadline``."""
    new = NewTopic(
        name=topic.name,
        num_partitions=topic.partitions,
        replication_factor=replicas,
        topic_configs=topic.config,
    )
    while True:
        try:
            response = await admin.create_topics([new])
        except TopicAlreadyExistsError:
            return False
        error = next((e for e in response.topic_errors if e[0] == topic.name), None)
        code = error[1] if error else 0
        if code == 0:
            return True
        if for_code(code) is TopicAlreadyExistsError:
            return False  # another service created it first
        message = error[2] if error is not None and len(error) > 2 else None
        refusal = f"{for_code(code).__name__}: {message or 'refused'}"
        if for_code(code) is TopicAuthorizationFailedError:
            refusal += (
                " (the topic is missing and this login may not create it: create the topics "
                "first, `releasewatch topics create` with an administrator's login)"
            )
        starting = for_code(code) is InvalidReplicationFactorError
        if starting and asyncio.get_running_loop().time() < deadline:
            log.info(events.TOPIC_WAITING_FOR_BROKERS, topic=topic.name, detail=refusal)
            await asyncio.sleep(2.0)
            continue
        raise TopicCreateError(f"topic {topic.name}: {refusal}")


async def ensure_topics(
    kafka: Kafka,
    partitions: int,
    replication_factor: int | None = None,
    specs: Iterable[TopicSpec | FaustTopic] = REGISTRY,
    timeout: float = 30.0,
    min_insync_replicas: int | None = None,
    jail_retention_days: int | None = None,
    hold: bool = False,
) -> list[str]:
    """Create every topic that does not exist yet; return the names created. The jail's
    topics are kept ``jail_retention_days`` (None: forever); ``hold``: existing ones are
    brought to it too (``releasewatch topics create``, an administrator's login)."""
    specs = bounded(specs, jail_retention_days)
    plans = plan(specs, partitions, replication_factor, min_insync_replicas)
    deadline = asyncio.get_running_loop().time() + timeout
    admin = await _started_admin(kafka, timeout)
    try:
        existing = set(await admin.list_topics())
        brokers = len(admin._client.cluster.brokers())
        replicas = replicas_for(brokers, replication_factor)
        if min_insync_replicas and min_insync_replicas > replicas:
            raise TopicCreateError(
                f"min.insync.replicas {min_insync_replicas} exceeds the {replicas} replica(s) "
                f"a topic gets on this cluster of {brokers} broker(s): no write could succeed; "
                "set RELEASEWATCH_MIN_INSYNC_REPLICAS lower or RELEASEWATCH_REPLICATION_FACTOR"
            )
        await check_partitions(admin, specs, partitions, existing)
        if hold and jail_retention_days is not None:
            held = {p.name: p.config["retention.ms"] for p in plans if p.name in JAIL_TOPICS}
            await hold_retention(admin, held, existing)
        created = []
        for topic in plans:
            if topic.name in existing:
                continue
            if await _create(admin, topic, replicas, deadline):
                created.append(topic.name)
        if created:
            log.info(
                events.TOPICS_CREATED, topics=created, partitions=partitions, replicas=replicas
            )
            with contextlib.suppress(KafkaError):  # only a wait: the clients retry anyway
                await wait_for_leaders(admin, created, deadline)
        return created
    finally:
        await admin.close()


# Answers of a partition whose leader has not taken it up yet: asked again.
_NOT_YET = {UnknownTopicOrPartitionError, LeaderNotAvailableError, NotLeaderForPartitionError}


async def wait_for_leaders(
    admin: AIOKafkaAdminClient, names: Iterable[str], deadline: float
) -> bool:
    """Wait until every partition of ``names`` answers a ListOffsets from its leader; False if
    ``deadline`` passed first. Apache Kafka names a new partition's leader in its metadata a
    moment before the leader serves it: the first produce requests to a topic just created
    were refused with NotLeaderForPartition and retried, one warning each. Any other answer
    (a login without Describe, say) ends the wait: the clients' own retries cover the rest."""
    names = set(names)
    loop = asyncio.get_running_loop()
    while True:
        cluster = await admin._client.fetch_all_metadata()
        asks: dict[int, dict[str, list[tuple[int, int]]]] = {}
        waiting = False
        for topic in names:
            for partition in cluster.partitions_for_topic(topic) or ():
                leader = cluster.leader_for_partition(TopicPartition(topic, partition))
                if leader is None or leader < 0:
                    waiting = True
                    continue
                asks.setdefault(leader, {}).setdefault(topic, []).append((partition, -1))
            waiting = waiting or not cluster.partitions_for_topic(topic)
        for node, topics in asks.items():
            response = await admin._client.send(node, OffsetRequest(-1, 0, list(topics.items())))
            errors = {for_code(code) for _, answers in response.topics for _, code, *_ in answers}
            waiting = waiting or bool(errors & _NOT_YET)
        if not waiting:
            return True
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)


def ensure_topics_sync(
    kafka: Kafka,
    partitions: int,
    replication_factor: int | None = None,
    min_insync_replicas: int | None = None,
    specs: Iterable[TopicSpec | FaustTopic] = REGISTRY,
    jail_retention_days: int | None = None,
) -> list[str]:
    return asyncio.run(
        ensure_topics(
            kafka,
            partitions,
            replication_factor,
            specs,
            min_insync_replicas=min_insync_replicas,
            jail_retention_days=jail_retention_days,
        )
    )


def cluster_id_sync(kafka: Kafka, timeout: float = 30.0) -> str:
    """The cluster's id (a worker's local state belongs to one cluster)."""

    async def ask() -> str:
        admin = await _started_admin(kafka, timeout)
        try:
            return str((await admin.describe_cluster()).get("cluster_id") or "")
        finally:
            await admin.close()

    return asyncio.run(ask())


def every_topic() -> list[TopicSpec | FaustTopic]:
    """The registry's topics and faust's own (changelogs, assignor)."""
    return [*REGISTRY, *faust_topics()]


def service_topics(
    service: str, agencies: tuple[str, ...] = KNOWN_AGENCIES
) -> list[TopicSpec | FaustTopic]:
    """What a service creates at start when missing: the topics it reads and writes and its
    own faust topics (so faust never creates one with its single replica); for the board,
    every public topic, which it reads. ``agencies``: the notices topics the notification
    service writes from the start (the registry's). Under ACLs these are what its principal may see
    (``services.access``): a topic missing and not its to create is named in the error."""
    if service not in SERVICE_TOPICS:
        return [spec for spec in REGISTRY if not spec.internal]
    topics = SERVICE_TOPICS[service]
    specs: list[TopicSpec | FaustTopic] = list(dict.fromkeys([*topics.reads, *topics.writes]))
    if topics.agency_topics:
        specs += [agency_notices(agency) for agency in dict.fromkeys(agencies)]
    own = f"{APP_ID_PREFIX}{service}-"
    return [*specs, *(topic for topic in faust_topics() if topic.name.startswith(own))]


def partition_for(key: str, partitions: int) -> int:
    """The partition the Java and aiokafka default partitioner puts ``key`` on."""
    return partition_of(key.encode("utf-8"), partitions)


def partition_of(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions
