"""Where a service's messages go: its output topics, and inputs moved to their own partition."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import faust
from opentelemetry.trace import SpanKind
from pydantic import BaseModel

from schemas.topics import TopicSpec
from services.kafka.admin.topics import partition_of
from services.ops import tracing
from services.ops.metrics import Metrics
from services.streams.codec import encode

# The input message being handled (topic, partition), set by ``consume`` around its handler:
# under exactly_once, what a handler publishes joins that partition's transaction.
SOURCE: ContextVar[tuple[str, int] | None] = ContextVar("releasewatch_source", default=None)


class Unacknowledged(Protocol):
    """A record on its way to the broker, which can be sent again if it is refused."""

    @property
    def topic(self) -> str: ...

    @property
    def future(self) -> Awaitable[Any]: ...

    async def again(self) -> None: ...


@dataclass
class Delivery:
    """An output sent without waiting for the broker: what to send again if it is refused."""

    output: Output
    key: bytes | None
    payload: bytes | None
    partition: int | None
    transactional_id: str | None
    future: Awaitable[Any]
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def topic(self) -> str:
        return self.output.name

    async def again(self) -> None:
        self.future = await self.output.deliver(
            self.key, self.payload, self.partition, self.transactional_id, self.headers
        )


# What the input message in hand sent without waiting (outputs, its table's changelog
# records), set by ``consume`` around its handler: under at_least_once its offset is
# committed only once the broker has them all; under exactly_once a refused one counts
# against the input (``fencing.note_refused_input``).
UNACKNOWLEDGED: ContextVar[list[Unacknowledged] | None] = ContextVar(
    "releasewatch_unacknowledged", default=None
)


class Output:
    """A topic this service publishes to; counts what it sends."""

    def __init__(self, app: faust.App, spec: TopicSpec, metrics: Metrics) -> None:
        self.name = spec.name
        self.spec = spec
        self.topic = raw_topic(app, spec)  # declared, so faust creates it where allowed
        self.app = app
        self.producer = app.producer
        self.partitions: int = app.conf.topic_partitions
        self.metrics = metrics
        # The counter's child for this topic, looked up once (labels() costs ~6 us a call).
        self.sent = metrics.messages_out.labels(metrics.service, self.name)

    async def send(
        self,
        key: bytes | None,
        value: BaseModel | bytes | None,
        *,
        wait: bool = False,
        partition: int | None = None,
        headers: tuple[tuple[str, bytes], ...] = (),
    ) -> Awaitable[Any]:
        """Publish; with ``wait``, return only once the broker has acknowledged it. Returns
        the delivery future (await it to know the broker has the message). ``partition``:
        the key's, when the caller has it already (else the client hashes the key);
        ``headers``: sent beside the trace context."""
        payload = encode(value) if isinstance(value, BaseModel) else value
        # exactly_once: asked at each send, not once here. faust's in_transaction holds
        # only in a running worker, and outputs are built before the worker starts: read
        # at construction it was always False, and every output went out outside any
        # transaction (the fault suite's repeated alerts, the records' producerId -1).
        transactional_id = self._transaction() if self.app.in_transaction else None
        future = await self.deliver(key, payload, partition, transactional_id, headers)
        if wait:
            await future
        else:
            unacknowledged = UNACKNOWLEDGED.get()
            if unacknowledged is not None:
                delivery = Delivery(
                    self, key, payload, partition, transactional_id, future, headers
                )
                unacknowledged.append(delivery)
        self.sent.inc()
        return future

    async def deliver(
        self,
        key: bytes | None,
        payload: bytes | None,
        partition: int | None,
        transactional_id: str | None,
        headers: tuple[tuple[str, bytes], ...] = (),
    ) -> Awaitable[Any]:
        """Hand the message to the producer; returns its delivery future."""
        # Stamp it now: faust may flush a buffered message after a later one sent with wait,
        # and readers (trace, the board) order by timestamp.
        # Straight to faust's producer: faust's Topic.send adds a FutureMessage, a channel
        # and a signal per message (~7% of a worker's time in py-spy). Under at_least_once
        # the input's offset is committed only once the broker has acknowledged it
        # (``UNACKNOWLEDGED``): faust's producer flush before a commit waits for each send to
        # end, refused or not.
        return await self.producer.send(
            self.name,
            key,
            payload,
            partition,
            time.time(),
            _with(tracing.headers(), headers),  # the step's trace context, if tracing is on
            transactional_id=transactional_id,
        )

    def _transaction(self) -> str | None:
        """The transaction this message joins under exactly_once: the one faust commits the
        input's offset in (``{app id}-{topic group}-{partition}``), so the message becomes
        visible to ``read_committed`` readers together with that commit, or never. Outside
        a handler (the deadline timer's ticks), none: a tick in a transaction would wait,
        unread, for the next input of its partition to commit it, and a quiet partition's
        deadlines would never fire. A tick only asks the agent to look; the agent decides
        from state, in the tick's own transaction."""
        source = SOURCE.get()
        if source is None:
            return None
        topic, partition = source
        return f"{self.app.conf.id}-{self.app.assignor.group_for_topic(topic)}-{partition}"

    async def send_all(
        self,
        messages: Sequence[tuple[bytes, BaseModel | bytes]],
        trace_of: Callable[[bytes], str | None] | None = None,
        step: str = "",
    ) -> list[asyncio.Future[Any]]:
        """Publish many keyed messages: each partition's in the order given, the partitions
        side by side. The producer holds one batch per partition (with one record each on
        the embedded broker), so a single sender waits on whichever partition it hits next
        and each produce request carries a few records; one sender per partition fills
        them all. Returns the delivery futures, in the order given (a send that failed
        holds its exception). With ``trace_of``, each message is sent in a span named
        ``step`` continuing the trace its key's record keeps (the deadline timer's steps)."""
        by_partition: dict[int, list[int]] = defaultdict(list)
        for number, (key, _) in enumerate(messages):
            by_partition[partition_of(key, self.partitions)].append(number)
        futures: list[asyncio.Future[Any]] = [asyncio.Future() for _ in messages]

        async def send_in_order(partition: int, numbers: list[int]) -> None:
            for number in numbers:
                key, value = messages[number]
                span = (
                    tracing.step(step, trace_of(key), kind=SpanKind.INTERNAL)
                    if trace_of
                    else contextlib.nullcontext()
                )
                try:
                    with span:
                        delivery = await self.send(key, value, partition=partition)
                except Exception as exc:
                    futures[number].set_exception(exc)
                    continue
                futures[number] = asyncio.ensure_future(delivery)

        await asyncio.gather(*(send_in_order(*numbers) for numbers in by_partition.items()))
        return futures


def raw_topic(app: faust.App, *specs: TopicSpec) -> Any:
    """A faust topic (one or several co-partitioned names, read by one agent) that hands us
    the bytes: we decode and validate ourselves."""
    return app.topic(
        *(spec.name for spec in specs),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )


def _with(
    trace: list[tuple[str, bytes]] | None, headers: tuple[tuple[str, bytes], ...]
) -> list[tuple[str, bytes]] | None:
    """The trace context's headers and the caller's (None when there are neither)."""
    if not headers:
        return trace
    return [*(trace or ()), *headers]
