"""Create the registry's topics at start-up, idempotently (never by hand)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from schemas.topics import REGISTRY, TopicSpec
from services.runtime.logging import get_logger

log = get_logger(__name__)


async def ensure_topics(
    bootstrap: str,
    partitions: int,
    replication_factor: int = 1,
    specs: Iterable[TopicSpec] = REGISTRY,
    timeout: float = 30.0,
) -> list[str]:
    """Create every topic that does not exist yet; return the names created."""
    specs = list(specs)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await admin.start()
            break
        except KafkaError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        created = []
        for spec in missing:
            topic = NewTopic(
                name=spec.name,
                num_partitions=partitions,
                replication_factor=replication_factor,
                topic_configs={"cleanup.policy": spec.cleanup.value},
            )
            try:
                await admin.create_topics([topic])
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass  # another service created it first
        if created:
            log.info("topics_created", topics=created, partitions=partitions)
        return created
    finally:
        await admin.close()


def ensure_topics_sync(bootstrap: str, partitions: int, replication_factor: int = 1) -> list[str]:
    return asyncio.run(ensure_topics(bootstrap, partitions, replication_factor))
