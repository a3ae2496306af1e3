"""Publish to and watch real topics, waiting on conditions with deadlines."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    raw_value: bytes | None

    def jurisdiction_is(self, jurisdiction: str) -> bool:
        return bool(self.key) and self.key.split("/", 1)[0] == jurisdiction  # type: ignore[union-attr]

    @property
    def value(self) -> Any:
        return json.loads(self.raw_value) if self.raw_value else None


class Watch:
    """Everything a topic carries from the beginning, collected in the background."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.records: list[Record] = []
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            group_id=None,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        partitions = self._consumer.partitions_for_topic(self.topic)
        for _ in range(50):
            if partitions:
                break
            await asyncio.sleep(0.1)
            await self._consumer._client.force_metadata_update()
            partitions = self._consumer.partitions_for_topic(self.topic)
        assert partitions, f"topic {self.topic} does not exist"
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        self._task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for r in records:
                    self.records.append(
                        Record(
                            r.topic,
                            r.partition,
                            r.offset,
                            r.key.decode() if r.key else None,
                            r.value,
                        )
                    )

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()

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
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            found = self.unique(predicate, id_field)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.1)
        found = self.unique(predicate, id_field)
        raise AssertionError(
            f"waited {timeout}s on {self.topic} for {count} distinct {what or 'matching'} "
            f"record(s); {len(found)} arrived: {[r.value.get(id_field) for r in found]}"
        )

    async def wait_for(
        self,
        predicate: Callable[[Record], bool],
        count: int = 1,
        timeout: float = 60.0,
        what: str = "",
    ) -> list[Record]:
        """At least ``count`` matching records, or fail showing what did arrive."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            found = self.matching(predicate)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.1)
        found = self.matching(predicate)
        tail = [r.raw_value[:300] if r.raw_value else None for r in self.records[-10:]]
        raise AssertionError(
            f"waited {timeout}s on {self.topic} for {count} {what or 'matching'} record(s); "
            f"{len(found)} matched, {len(self.records)} arrived; last ones: {tail}"
        )


class KafkaHelper:
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

    async def watch(self, topic: str) -> Watch:
        watch = Watch(self.bootstrap, topic)
        await watch.start()
        self.watches.append(watch)
        return watch

    async def publish(
        self, topic: str, value: bytes | dict[str, Any] | None, key: str | bytes | None = "auto"
    ) -> tuple[int, int]:
        """Publish one message; ``key="auto"`` derives it from the envelope."""
        if isinstance(value, dict):
            if key == "auto":
                key = f"{value['jurisdiction']}/{value['booking_id']}"
            value = json.dumps(value).encode()
        if key == "auto":
            key = None
        raw_key = key.encode() if isinstance(key, str) else key
        meta = await self.producer.send_and_wait(topic, key=raw_key, value=value)
        return meta.partition, meta.offset

    async def publish_all(self, topic: str, documents: Iterable[dict[str, Any]]) -> None:
        for document in documents:
            await self.publish(topic, document)
