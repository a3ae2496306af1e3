"""A short, adaptive fetch wait on brokers that do not wake a waiting fetch (``fetch_wait``,
Tansu only; the rule itself is ``services.kafka.client.tansu_quirks.FetchWait``).

Defect (Tansu 0.6): faust builds its consumer with ``fetch_max_wait_ms=1500``. Apache Kafka
answers a waiting Fetch as soon as data arrives; Tansu waits the full time (measured here: a
message published 0.37 s into a 1.5 s wait is read 0.38 s later; with 100 ms, 10 ms). With the
tansu flavor the wait is shortened (``ClientTuning.fetch_wait_ms``) and adapts: on long
partitions Tansu needs more than a short wait to find the fetch position and answers empty;
each such answer doubles the wait. Off (nothing installed on the client) on Apache Kafka.
Reproducer: ``tests/unit/kafka/test_tuning.py`` and the Tansu latency bench.
Applies to: faust-streaming 0.15.x with aiokafka 0.14 on Tansu 0.6.
"""

from __future__ import annotations

from typing import Any

from aiokafka.consumer.fetcher import Fetcher
from aiokafka.structs import TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka

from services.kafka.client.tansu_quirks import FetchWait
from services.kafka.patches.internals import app_tuning
from services.ops import events
from services.ops.logging import get_logger

log = get_logger(__name__)
NAME = "fetch_wait"

_original_create_worker_consumer = faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer


def _create_worker_consumer(self: Any, transport: Any) -> Any:
    consumer = _original_create_worker_consumer(self, transport)
    tuning = app_tuning(self.app)
    wait = tuning.fetch_wait_ms
    if wait:
        consumer._fetch_max_wait_ms = wait  # read when the consumer starts its fetcher
    ceiling = tuning.fetch_wait_ceiling_ms
    if wait and ceiling:  # on the client: the fetcher is built at start and holds it
        consumer._client._releasewatch_wait = FetchWait(wait, ceiling)
    return consumer


_original_proc_fetch_request = Fetcher._proc_fetch_request


async def _proc_fetch_request(self: Any, assignment: Any, node_id: Any, request: Any) -> Any:
    """aiokafka's fetch, then the adaptive wait (``fetchwait``) told how it went: how many
    partitions had data past the fetch position when the fetch was sent (the highwater of
    the answer before) and how many of those came back empty. Not this answer's highwater:
    Tansu does not add what arrives during the wait, so at the head of a partition every
    answer would look starved. Only on fetchers given a FetchWait (Tansu, worker consumers).
    A partition aiokafka still holds records for is not fetched, so one held afterwards was
    filled by this answer."""
    wait: FetchWait | None = getattr(self._client, "_releasewatch_wait", None)
    if wait is None:
        return await _original_proc_fetch_request(self, assignment, node_id, request)
    known: dict[TopicPartition, tuple[int, int | None]] = {}
    for topic, partitions in request.topics:
        for partition, offset, _ in partitions:
            tp = TopicPartition(topic, partition)
            state = assignment.state_value(tp)
            known[tp] = (offset, state.highwater if state is not None else None)
    needs_wakeup = await _original_proc_fetch_request(self, assignment, node_id, request)
    if not assignment.active:
        return needs_wakeup
    behind = [tp for tp, (offset, highwater) in known.items() if (highwater or 0) > offset]
    starved = sum(1 for tp in behind if tp not in self._records)
    before = self._fetch_max_wait_ms
    self._fetch_max_wait_ms = wait.after_fetch(len(behind), starved)
    if self._fetch_max_wait_ms != before:
        log.debug(events.FETCH_WAIT_CHANGED, wait_ms=self._fetch_max_wait_ms, starved=starved)
    return needs_wakeup


def apply() -> None:
    faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer  # type: ignore[method-assign]
    Fetcher._proc_fetch_request = _proc_fetch_request
