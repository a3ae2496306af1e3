"""The faust app factory and worker runner every service shares.

Every workaround for Tansu, the fallback broker, is decided in ``services.kafka.tansu_quirks``
(read here through ``Settings.quirks``) and is off for Apache Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import faust
import structlog
from pydantic import BaseModel

from schemas.topics import TopicSpec
from services.kafka import faust_fixes
from services.kafka.process import port_is_free
from services.kafka.security import faust_credentials
from services.kafka.topics import partition_for, partition_of
from services.kafka.tuning import ClientTuning
from services.ops import gcwatch
from services.ops.logging import get_logger, message_context
from services.ops.metrics import CONTENT_TYPE, Metrics
from services.settings import Settings
from services.streams.codec import RawMessage, encode
from services.streams.gaps import AcceptHole, GapGuard, Hold, Process, Repeat

log = get_logger(__name__)

# Services and their offset from RELEASEWATCH_WEB_PORT_BASE; each worker takes the first free
# port in [base + offset, base + offset + PORTS_PER_SERVICE).
SERVICE_PORT_OFFSETS = {"booking": 0, "scheduling": 10, "notification": 20, "board": 30}
PORTS_PER_SERVICE = 10
# A dead letter carries the refused message verbatim, and inputs may be over 1 MiB.
MAX_REQUEST_BYTES = 8 * 1024 * 1024


def pick_web_port(settings: Settings, service: str) -> int:
    first = settings.web_port_base + SERVICE_PORT_OFFSETS[service]
    for port in range(first, first + PORTS_PER_SERVICE):
        if port_is_free(settings.web_host, port):
            return port
    raise RuntimeError(
        f"no free web port for {service} in {first}..{first + PORTS_PER_SERVICE - 1} on "
        f"{settings.web_host}: too many workers, or set RELEASEWATCH_WEB_PORT_BASE"
    )


class ServiceApp(faust.App):
    """A faust app with what the skeleton and the fixes read from it, typed."""

    tuning: ClientTuning
    metrics: Metrics


def create_app(service: str, settings: Settings, web_port: int) -> ServiceApp:
    """The service's app; ``faust_fixes.apply`` is the caller's, once, at start-up."""
    one_record_batches = settings.single_record_batches
    (settings.data_dir / service).mkdir(parents=True, exist_ok=True)
    app = ServiceApp(
        f"releasewatch-{service}",
        broker=settings.broker_url,
        store="memory://",  # tables are rebuilt from their changelog topics on assignment
        datadir=str(settings.data_dir / service),
        autodiscover=False,
        topic_partitions=settings.partitions,
        # Topics exist before the app starts (topics.ensure_topics picks the replicas when
        # none are configured); faust creates none of its own with this.
        topic_replication_factor=settings.replication_factor or 1,
        topic_allow_declare=True,
        processing_guarantee=settings.processing_guarantee.value,
        broker_credentials=faust_credentials(settings),
        producer_acks=-1 if settings.producer_acks == "all" else 1,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=settings.heartbeat_interval,
        # services.kafka.tansu_quirks: one record per batch on Tansu.
        producer_max_batch_size=16 if one_record_batches else 16384,
        producer_max_request_size=MAX_REQUEST_BYTES,
        consumer_max_fetch_size=MAX_REQUEST_BYTES,
        table_standby_replicas=settings.quirks.standby_replicas,
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=web_port,
        worker_redirect_stdouts=False,
    )
    # faust turns producer idempotence on only inside transactions; faust_fixes reads this.
    app.tuning = settings.tuning
    app.metrics = Metrics(service)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def partitions_assigned(sender: Any, assigned: Any, **_: Any) -> None:
        # Operators see when a worker (re)joined; the restart benchmark times from here.
        inputs = [tp for tp in assigned if not tp.topic.startswith(app.conf.id)]
        log.info("partitions_assigned", partitions=len(inputs))

    add_health(app, service, app.metrics)
    watch_gc(app, service, app.metrics, settings.gc_freeze_every)
    return app


def watch_gc(app: faust.App, service: str, metrics: Metrics, freeze_every: float) -> None:
    pauses = gcwatch.install()
    freezer = gcwatch.Freezer(freeze_every, time.monotonic()) if freeze_every else None

    @app.timer(interval=1.0)
    async def report_gc_pauses() -> None:
        drained = pauses.drain()
        for generation, seconds in drained:
            metrics.gc_pauses.labels(service, str(generation)).observe(seconds)
            if seconds >= gcwatch.LOG_PAUSES_FROM:
                log.info("gc_pause", generation=generation, ms=round(seconds * 1000))
        action = freezer.after(drained, time.monotonic()) if freezer else None
        if action == "freeze":
            gcwatch.freeze_survivors()
        elif action == "unfreeze":
            log.info("gc_unfreeze", frozen=gc.get_freeze_count())
            gc.unfreeze()


def add_health(app: faust.App, service: str, metrics: Metrics) -> None:
    """``/health``: the process is alive. ``/ready``: partitions assigned and their tables
    recovered (503 while rebalancing or recovering). ``/metrics``: Prometheus text."""

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        return web.json({"status": "ok", "service": service})

    @app.page("/ready")
    async def ready(web: Any, request: Any) -> Any:
        recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
        try:
            assigned = sorted(
                f"{tp.topic}:{tp.partition}"
                for tp in app.consumer.assignment()
                if not tp.topic.endswith("-changelog") and not tp.topic.endswith("__leader")
            )
        except Exception:
            assigned = []
        ok = recovered and not app.rebalancing
        body = {
            "ready": ok,
            "service": service,
            "rebalancing": app.rebalancing,
            "tables_recovered": recovered,
            "assigned": assigned,
        }
        return web.json(body, status=200 if ok else 503)

    @app.page("/metrics")
    async def prometheus(web: Any, request: Any) -> Any:
        return web.bytes(metrics.render(), content_type=CONTENT_TYPE)

    metrics.watch_consumer_lag()


class Output:
    """A topic this service publishes to; counts what it sends."""

    def __init__(self, app: faust.App, spec: TopicSpec, metrics: Metrics) -> None:
        self.name = spec.name
        self.topic = raw_topic(app, spec)  # declared, so faust creates it where allowed
        self.producer = app.producer
        self.partitions: int = app.conf.topic_partitions
        self.metrics = metrics

    async def send(
        self, key: bytes | None, value: BaseModel | bytes | None, *, wait: bool = False
    ) -> Awaitable[Any]:
        """Publish; with ``wait``, return only once the broker has acknowledged it. Returns
        the delivery future (await it to know the broker has the message)."""
        payload = encode(value) if isinstance(value, BaseModel) else value
        # Stamp it now: faust may flush a buffered message after a later one sent with wait,
        # and readers (trace, the board) order by timestamp.
        # Straight to faust's producer: faust's Topic.send adds a FutureMessage, a channel
        # and a signal per message (~7% of a worker's time in py-spy). Offsets are still
        # committed only after a producer flush (faust's Consumer.commit), so at-least-once
        # holds.
        future = await self.producer.send(self.name, key, payload, None, time.time(), None)
        if wait:
            await future
        self.metrics.messages_out.labels(self.metrics.service, self.name).inc()
        return future

    async def send_all(
        self, messages: Sequence[tuple[bytes, BaseModel | bytes]]
    ) -> list[asyncio.Future[Any]]:
        """Publish many keyed messages: each partition's in the order given, the partitions
        side by side. The producer holds one batch per partition (with one record each on
        the embedded broker), so a single sender waits on whichever partition it hits next
        and each produce request carries a few records; one sender per partition fills
        them all. Returns the delivery futures, in the order given (a send that failed
        holds its exception)."""
        by_partition: dict[int, list[int]] = defaultdict(list)
        for number, (key, _) in enumerate(messages):
            by_partition[partition_of(key, self.partitions)].append(number)
        futures: list[asyncio.Future[Any]] = [asyncio.Future() for _ in messages]

        async def send_in_order(numbers: list[int]) -> None:
            for number in numbers:
                key, value = messages[number]
                try:
                    delivery = await self.send(key, value)
                except Exception as exc:
                    futures[number].set_exception(exc)
                    continue
                futures[number] = asyncio.ensure_future(delivery)

        await asyncio.gather(*(send_in_order(numbers) for numbers in by_partition.values()))
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


def bind_event(event: Any) -> None:
    """Add the decoded event's id, type and jurisdiction to every log line about it."""
    structlog.contextvars.bind_contextvars(
        event_id=event.event_id, type=event.type, jurisdiction=event.jurisdiction
    )


async def reroute_if_misplaced(raw: RawMessage, key: str, topic: Output, partitions: int) -> bool:
    """A message published without its key (or with a wrong one) is on a partition that does
    not hold its booking's state: publish it again with the right key and skip it here.
    Returns True when it was moved. Nothing is dropped."""
    if raw.key == key.encode():
        return False
    home = partition_for(key, partitions)
    if home == raw.partition:
        return False
    await topic.send(key.encode(), raw.value)
    log.info("event_rerouted", to_partition=home)
    return True


Handler = Callable[[RawMessage], Awaitable[None]]


def consume(
    app: faust.App,
    service: str,
    on_error: Callable[[RawMessage, BaseException], Awaitable[object]],
) -> Callable[[Handler], Callable[[Any], Awaitable[None]]]:
    """Wrap a per-message handler as a faust agent body: read each partition without holes
    (``GapGuard``), bind the log context, and never let one message stop the partition (an
    unexpected error goes to ``on_error``)."""

    # Under exactly_once, transaction markers take offsets that consumers never see: such a
    # hole is accepted after one re-read instead of being held for give_up_after.
    tuning = faust_fixes.tuning_of(app)
    guard = GapGuard(give_up_after=0.0) if tuning.exactly_once else GapGuard()
    off = tuning.fixes_off  # the fault suite's experiments only
    guarded, fill_committed = "gap_guard" not in off, "commit_check" not in off
    metrics: Metrics = app.metrics  # type: ignore[attr-defined]
    generation: list[int | None] = [None]
    buffer: list[Any] = []  # the agent's input buffer, once it runs

    def follow_generation() -> None:
        if app.consumer_generation_id != generation[0]:
            generation[0] = app.consumer_generation_id
            guard.reset()

    # High watermarks come from the broker (ListOffsets) every second: a partition the
    # fetcher has not reached has none locally. On Tansu a call costs 0.2-0.7 s per topic
    # once topics hold a few GB, which slows long runs; reading them from fetch responses
    # instead left partitions waiting in a fresh-clone test run, so it was withdrawn.
    @app.timer(interval=tuning.watch_interval)
    async def unstick_partitions() -> None:
        """A hole at the end of a partition shows no later offset: watch the high watermark."""
        if app.rebalancing or not app.tables.recovery.completed.is_set():  # type: ignore[attr-defined]
            return
        follow_generation()
        consumer: Any = app.consumer
        inputs = [
            tp
            for tp in consumer.assignment()
            if not tp.topic.endswith("-changelog") and not tp.topic.endswith("__leader")
        ]
        if not inputs:
            return
        ends = await consumer.highwaters(*inputs)
        positions = {tp: (consumer._committed_offset.get(tp), ends.get(tp)) for tp in inputs}
        metrics.record_positions(
            {(tp.topic, tp.partition): position for tp, position in positions.items()}
        )
        fetched = faust_fixes.fetched_offsets(consumer, inputs)
        backlog = buffer[0].qsize() if buffer else 0
        stalled: list[tuple[Any, int]] = guard.stalled(
            positions, time.monotonic(), fetched, backlog
        )
        for tp, offset in stalled if guarded else []:
            log.warning(
                "input_stalled_seek_back", topic=tp.topic, partition=tp.partition, seek_to=offset
            )
            await consumer.seek(tp, offset)

    def wrap(handler: Handler) -> Callable[[Any], Awaitable[None]]:
        async def agent(stream: Any) -> None:
            buffer[:] = [stream.channel.queue]
            async for event in stream.events():
                message = event.message
                follow_generation()
                # faust's own record of the committed offset (set by its seek and commits);
                # where it has none, the broker's, before a partition's first message.
                committed = app.consumer._committed_offset.get(message.tp)  # type: ignore[attr-defined]
                if committed is None and fill_committed and not guard.expects(message.tp):
                    committed = await faust_fixes.committed_on_broker(app, message.tp)
                    if committed is None:  # not known now: read this message again later
                        faust_fixes.withhold_ack(app.consumer, message)
                        await app.consumer.seek(message.tp, message.offset)
                        continue
                verdict = (
                    guard.check(message.tp, message.offset, committed, time.monotonic())
                    if guarded
                    else Process()
                )
                if isinstance(verdict, Repeat):  # handled already, read again after a seek
                    continue
                metrics.messages_in.labels(service, message.topic).inc()
                if isinstance(verdict, Hold):
                    faust_fixes.withhold_ack(app.consumer, message)  # read again, not done
                    if verdict.seek_to is not None:
                        log.warning(
                            "input_gap_seek_back",
                            topic=message.topic,
                            partition=message.partition,
                            offset=message.offset,
                            seek_to=verdict.seek_to,
                        )
                        await app.consumer.seek(message.tp, verdict.seek_to)
                    continue
                if isinstance(verdict, AcceptHole):
                    log.warning(
                        "input_gap_accepted",
                        topic=message.topic,
                        partition=message.partition,
                        missing_from=verdict.missing_from,
                        offset=message.offset,
                    )
                raw = RawMessage(
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                    key=message.key,
                    value=message.value,
                )
                with message_context(topic=raw.topic, partition=raw.partition, offset=raw.offset):
                    try:
                        await handler(raw)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        log.exception("message_failed", error=type(exc).__name__)
                        await on_error(raw, exc)
                    finally:
                        structlog.contextvars.unbind_contextvars("event_id", "type", "jurisdiction")
                    guard.handled(message.tp, message.offset)  # processed or dead-lettered

        agent.__name__ = f"{service}_{handler.__name__}"
        return agent

    return wrap


def route_inputs(
    app: faust.App,
    service: str,
    inputs: Any,
    handlers: Mapping[str, Handler],
    on_error: Callable[[RawMessage, BaseException], Awaitable[object]],
) -> None:
    """One agent reads every input topic of the service (co-partitioned), so each booking is
    decided in order by one writer; each message goes to its topic's handler."""

    async def inputs_handler(raw: RawMessage) -> None:
        await handlers[raw.topic](raw)

    app.agent(inputs, name=f"{service}.inputs")(consume(app, service, on_error)(inputs_handler))


def run_worker(app: faust.App, logging_config: dict[str, Any], loglevel: str) -> None:
    """Run one worker until SIGINT/SIGTERM. Blocks; exits the process when done."""
    worker = faust.Worker(
        app,
        loglevel=loglevel.upper(),
        logging_config=logging_config,
        quiet=True,
        redirect_stdouts=False,
    )
    with contextlib.suppress(KeyboardInterrupt):
        worker.execute_from_commandline()
