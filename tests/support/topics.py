"""Publish to and read real topics: the one topic reader of the tests and the benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from services.kafka.admin.metadata import partitions_of
from services.kafka.admin.retention import set_on_topic
from services.kafka.client import read
from tests.support.poll import until


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    raw_value: bytes | None
    timestamp: float = 0.0  # the producer's CreateTime, s
    received: float = 0.0  # when the reader had it, s
    headers: tuple[tuple[str, bytes], ...] = ()

    def jurisdiction_is(self, jurisdiction: str) -> bool:
        return bool(self.key) and self.key.split("/", 1)[0] == jurisdiction  # type: ignore[union-attr]

    @cached_property
    def value(self) -> Any:
        """The JSON value (None when there is none or it is not JSON)."""
        try:
            return json.loads(self.raw_value) if self.raw_value else None
        except ValueError:
            return None


class Watch:
    """Everything a topic (or every topic matching ``pattern``) carries from the beginning,
    collected in the background, without a consumer group. Use ``start``/``stop`` or
    ``async with``."""

    def __init__(
        self,
        bootstrap: str,
        topic: str | None = None,
        *,
        pattern: str = "",
        isolation_level: str = "read_uncommitted",
    ) -> None:
        assert bool(topic) != bool(pattern), "a topic or a pattern"
        self.topic = topic or pattern
        self.pattern = pattern
        self.records: list[Record] = []
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            group_id=None,
            auto_offset_reset="earliest",
            metadata_max_age_ms=2000,  # a pattern meets topics created later
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_wait_ms=50,  # Tansu answers a waiting fetch only when the wait ends
            isolation_level=isolation_level,  # read_committed: what an agency would see
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> Watch:
        await self._consumer.start()
        if self.pattern:
            self._consumer.subscribe(pattern=self.pattern)
        else:
            found: list[int] = []

            async def exists() -> bool:
                found[:] = await partitions_of(self._consumer, self.topic)
                return bool(found)

            with contextlib.suppress(TimeoutError):
                await until(exists, 5, f"topic {self.topic}", every=0.1)
            assert found, f"topic {self.topic} does not exist"
            tps = [TopicPartition(self.topic, p) for p in found]
            self._consumer.assign(tps)
            await self._consumer.seek_to_beginning(*tps)
        self._task = asyncio.create_task(self._collect())
        return self

    async def _collect(self) -> None:
        async for r in read.each(self._consumer, wait_ms=200):
            if r is not None:
                key = r.key.decode(errors="replace") if r.key else None
                stamp = r.timestamp / 1000
                self.records.append(
                    Record(
                        r.topic,
                        r.partition,
                        r.offset,
                        key,
                        r.value,
                        stamp,
                        time.time(),
                        tuple(r.headers or ()),
                    )
                )

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()

    async def __aenter__(self) -> Watch:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def on(self, topic_prefix: str) -> list[Record]:
        return [r for r in self.records if r.topic.startswith(topic_prefix)]

    def matching(self, predicate: Callable[[Record], bool]) -> list[Record]:
        return [record for record in self.records if predicate(record)]

    def unique(
        self, predicate: Callable[[Record], bool], id_field: str = "event_id"
    ) -> list[Record]:
        """Matching records, each id once (the first): at-least-once delivery may repeat a
        message after a rebalance, always with the same id, and consumers dedupe on it."""
        first: dict[Any, Record] = {}
        for record in self.matching(predicate):
            first.setdefault(record.value[id_field], record)
        return list(first.values())

    async def wait_for_unique(
        self,
        predicate: Callable[[Record], bool],
        count: int = 1,
        timeout: float = 60.0,
        id_field: str = "event_id",
        what: str = "",
    ) -> list[Record]:
        async def enough() -> bool:
            return len(self.unique(predicate, id_field)) >= count

        try:
            await until(enough, timeout, what, every=0.1)
        except TimeoutError:
            found = self.unique(predicate, id_field)
            raise AssertionError(
                f"waited {timeout}s on {self.topic} for {count} distinct {what or 'matching'} "
                f"record(s); {len(found)} arrived: {[r.value.get(id_field) for r in found]}"
            ) from None
        return self.unique(predicate, id_field)

    async def wait_for(
        self,
        predicate: Callable[[Record], bool],
        count: int = 1,
        timeout: float = 60.0,
        what: str = "",
    ) -> list[Record]:
        """At least ``count`` matching records, or fail showing what did arrive."""

        async def enough() -> bool:
            return len(self.matching(predicate)) >= count

        try:
            await until(enough, timeout, what, every=0.1)
        except TimeoutError:
            found = self.matching(predicate)
            tail = [r.raw_value[:300] if r.raw_value else None for r in self.records[-10:]]
            raise AssertionError(
                f"waited {timeout}s on {self.topic} for {count} {what or 'matching'} record(s); "
                f"{len(found)} matched, {len(self.records)} arrived; last ones: {tail}"
            ) from None
        return self.matching(predicate)


class KafkaHelper:
    """A producer for test inputs, and watches that stop with it."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            enable_idempotence=False,
            max_request_size=8 * 1024 * 1024,
        )
        self.watches: list[Watch] = []

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        for watch in self.watches:
            await watch.stop()
        await self.producer.stop()

    async def __aenter__(self) -> KafkaHelper:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def watch(self, topic: str) -> Watch:
        watch = await Watch(self.bootstrap, topic).start()
        self.watches.append(watch)
        return watch

    async def publish(
        self,
        topic: str,
        value: bytes | dict[str, Any] | None,
        key: str | bytes | None = "auto",
        headers: list[tuple[str, bytes]] | None = None,
    ) -> tuple[int, int]:
        """Publish one message; ``key="auto"`` derives it from the envelope."""
        if isinstance(value, dict):
            if key == "auto":
                key = f"{value['jurisdiction']}/{value['booking_id']}"
            value = json.dumps(value).encode()
        if key == "auto":
            key = None
        raw_key = key.encode() if isinstance(key, str) else key
        meta = await self.producer.send_and_wait(topic, key=raw_key, value=value, headers=headers)
        return meta.partition, meta.offset

    async def publish_all(self, topic: str, documents: Iterable[dict[str, Any]]) -> None:
        for document in documents:
            await self.publish(topic, document)

    async def committed(self, group: str, topic: str, partition: int) -> int | None:
        """The offset ``group`` has committed on a partition (None: nothing yet)."""
        reader = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=group, enable_auto_commit=False
        )
        await reader.start()
        try:
            return await reader.committed(TopicPartition(topic, partition))
        finally:
            await reader.stop()

    async def end_offset(self, topic: str, partition: int) -> int:
        """The partition's high watermark: the offset its next record will take."""
        reader = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
        await reader.start()
        try:
            tp = TopicPartition(topic, partition)
            return (await reader.end_offsets([tp]))[tp]
        finally:
            await reader.stop()

    @contextlib.asynccontextmanager
    async def topic_config(self, topic: str, **changes: str) -> AsyncIterator[None]:
        """The topic with ``changes`` to its configuration (dots as underscores), restored on
        exit: AlterConfigs replaces a topic's whole configuration, so the rest is kept."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            own = await set_on_topic(admin, topic)
            changed = {**own, **{k.replace("_", "."): v for k, v in changes.items()}}
            await self._alter(admin, topic, changed)
            try:
                yield
            finally:
                await self._alter(admin, topic, own)
        finally:
            await admin.close()

    async def set_on(self, topic: str) -> dict[str, str]:
        """What is set on ``topic`` itself (not the broker's defaults)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            return await set_on_topic(admin, topic)
        finally:
            await admin.close()

    @staticmethod
    async def _alter(admin: AIOKafkaAdminClient, topic: str, config: dict[str, str]) -> None:
        [response] = await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs=config)]
        )
        [(error, message, *_)] = response.resources
        assert error == 0, f"altering {topic}: {message}"
