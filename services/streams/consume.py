"""Reading a service's inputs: each partition in order and without holes (``GapGuard``), one
message at a time, the log context bound, a message whose output the broker refused read
again or the output sent again (``OutputRetry``), its offset committed only once the broker
has its outputs, and no message able to stop its partition for good."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import errors as aiokafka_errors
from aiokafka.errors import KafkaError

from services.kafka import fencing
from services.kafka.holes import HoleProbe
from services.kafka.patches import internals
from services.kafka.security import client_options
from services.kafka.tuning import ClientTuning
from services.ops import events, tracing
from services.ops.logging import get_logger, message_context, unbind_event
from services.settings import Settings
from services.streams.app import MAX_POLL_RECORDS, ServiceApp, isolation_level
from services.streams.codec import RawMessage
from services.streams.gaps import AcceptHole, GapGuard, Hold, Process, Repeat
from services.streams.output import SOURCE, UNACKNOWLEDGED, Unacknowledged
from services.streams.retry import OutputRetry

log = get_logger(__name__)


Handler = Callable[[RawMessage], Awaitable[None]]


@dataclass
class Handled:
    """A message handled whose outputs sent without waiting may still be on their way
    (``raw``: the message as the handler had it, for a dead letter)."""

    raw: RawMessage
    message: Any
    deliveries: list[Unacknowledged]


def consume(
    app: ServiceApp,
    service: str,
    tuning: ClientTuning,
    on_error: Callable[[RawMessage, BaseException], Awaitable[object]],
    probe: HoleProbe | None = None,
) -> Callable[[Handler], Callable[[Any], Awaitable[None]]]:
    """Wrap a per-message handler as a faust agent body: read each partition without holes
    (``GapGuard``), bind the log context, and never let one message stop the partition (an
    unexpected error goes to ``on_error``). ``tuning``: the settings' client tuning."""

    # Transaction markers (and, under exactly_once, aborted records) take offsets a consumer
    # never sees: ``probe`` asks the broker whether a hole holds records it should have
    # been handed; one that does not is passed at once. Inputs written by exactly_once
    # producers have markers under at_least_once too (an installation switched back).
    guard = GapGuard()
    retry = OutputRetry()
    # A handler waits for the broker only where the order of outputs needs it (a notice
    # before the record saying it was sent); the rest goes out without waiting (outputs,
    # table changelogs), and under at_least_once each message counts as handled (its offset
    # committable) only once the broker has acknowledged those too (``settle``): faust's
    # flush before a commit waits for each send to end, refused or not, so a refused one was
    # lost with its input committed. Not under exactly_once: aiokafka would commit the
    # transaction without the refused record, so a transaction holding one is never
    # committed (``fencing.restart_refused``).
    settle_later = not tuning.exactly_once
    # exactly_once: inputs whose outputs the broker refused for good, each time restarting an
    # earlier worker of this process; one at the limit is dead-lettered instead of handled.
    refused_before = fencing.refused_before() if tuning.exactly_once else {}
    off = tuning.fixes_off  # the fault suite's experiments only
    guarded, fill_committed = "gap_guard" not in off, "commit_check" not in off
    if guarded and fill_committed:
        app.commit_guard = guard  # commits are what the guard saw handled in order
    metrics = app.metrics
    taken = TopicCounter(metrics.messages_in, service)
    handled = HandledSummary()
    generation: list[int | None] = [None]
    buffer: list[Any] = []  # the agent's input buffer, once it runs

    def follow_generation() -> None:
        if app.consumer_generation_id != generation[0]:
            generation[0] = app.consumer_generation_id
            guard.reset()
            retry.reset()

    # High watermarks come from the broker (ListOffsets) every second: a partition the
    # fetcher has not reached has none locally. On Tansu a call costs 0.2-0.7 s per topic
    # once topics hold a few GB, which slows long runs; reading them from fetch responses
    # instead left partitions waiting in a fresh-clone test run, so it was withdrawn.
    @app.timer(interval=tuning.watch_interval)
    async def unstick_partitions() -> None:
        """A hole at the end of a partition shows no later offset: watch the high watermark.
        A failed look (partitions moving under it) is tried again next time: an exception in
        a faust timer stops the whole worker."""
        try:
            await watch_partitions()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(events.INPUT_WATCH_FAILED, error=type(exc).__name__)

    async def watch_partitions() -> None:
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
        for tp, (committed, end) in positions.items():
            # Never committed and no message handled yet, though the partition has some:
            # faust may have dropped what it fetched right after the assignment, and with
            # nothing to compare the hole would never show. Take the broker's position.
            if committed is None and end and fill_committed and not guard.expects(tp):
                positions[tp] = (await internals.committed_on_broker(app, tp), end)
        metrics.record_positions(
            {(tp.topic, tp.partition): position for tp, position in positions.items()}
        )
        fetched = internals.fetched_offsets(consumer, inputs)
        queued = internals.queued_offsets(consumer, inputs)
        backlog = buffer[0].qsize() if buffer else 0
        stalled: list[tuple[Any, int]] = guard.stalled(
            positions, time.monotonic(), fetched, backlog, queued
        )
        for tp, offset in stalled if guarded else []:
            end = positions[tp][1]
            if probe and end and not await probe.holds_records(tp.topic, tp.partition, offset, end):
                continue  # only markers after the last record: nothing is stuck
            log.warning(
                events.INPUT_STALLED_SEEK_BACK,
                topic=tp.topic,
                partition=tp.partition,
                seek_to=offset,
                high_watermark=positions[tp][1],
                fetched_to=fetched.get(tp),
                queued_at=queued.get(tp),  # the next message the client holds for it
                backlog=backlog,
                # faust asks the client only for partitions in its fetch set; one it took
                # out when the agent's buffer was under pressure waits for a callback.
                fetching=tp in (getattr(consumer, "_active_partitions", None) or ()),
                buffer_full=tp in (getattr(consumer, "_buffered_partitions", None) or ()),
            )
            await consumer.seek(tp, offset)

    @app.timer(interval=SUMMARY_EVERY)
    async def summarise_handled() -> None:
        """The info line for what the inputs brought in the last second; each message's own
        lines are at debug."""
        handled.report()

    async def give_up_deleted(message: Any, held: Hold, committed: int | None) -> Any:
        """A hole open too long: given up only as far as retention deleted it (the
        partition's log starts past it); still readable, it is waited for and sought again."""
        first = await internals.log_start(app, message.tp)
        hole = {
            "topic": message.topic,
            "partition": message.partition,
            "missing_from": held.missing_from,
            "offset": message.offset,
            "log_start": first,
        }
        if first is None or first <= held.missing_from:
            log.warning(events.INPUT_GAP_STILL_OPEN, **hole)
            return held
        now = time.monotonic()
        guard.gone_before(message.tp, first, now)
        log.warning(events.INPUT_GAP_ACCEPTED, **hole)
        return guard.check(message.tp, message.offset, committed, now)

    def wrap(handler: Handler) -> Callable[[Any], Awaitable[None]]:
        async def one(event: Any) -> Handled | float | None:
            """Read one input message: in order and without holes, then handled. Returns
            the seconds to wait before reading it again when the broker refused an output,
            or, under at_least_once, the message handled with its outputs on their way."""
            message = event.message
            follow_generation()
            # faust's own record of the committed offset (set by its seek and commits);
            # where it has none, the broker's, before a partition's first message.
            committed = app.consumer._committed_offset.get(message.tp)  # type: ignore[attr-defined]
            if committed is None and fill_committed and not guard.expects(message.tp):
                committed = await internals.committed_on_broker(app, message.tp)
                if committed is None:  # not known now: read this message again later
                    internals.withhold_ack(app.consumer, message)
                    await app.consumer.seek(message.tp, message.offset)
                    return None
            verdict = (
                guard.check(message.tp, message.offset, committed, time.monotonic())
                if guarded
                else Process()
            )
            if isinstance(verdict, Repeat):  # handled already, read again after a seek
                return None
            markers = False
            if isinstance(verdict, Hold) and probe and verdict.seek_to is not None:
                start, end = verdict.missing_from, message.offset
                if not await probe.holds_records(message.topic, message.partition, start, end):
                    verdict, markers = guard.accept(message.tp, end, time.monotonic()), True
            if isinstance(verdict, Hold) and verdict.overdue:
                verdict = await give_up_deleted(message, verdict, committed)
            taken.inc(message.topic)
            if isinstance(verdict, Hold):
                internals.withhold_ack(app.consumer, message)  # read again, not done
                if verdict.seek_to is not None:
                    log.warning(
                        events.INPUT_GAP_SEEK_BACK,
                        topic=message.topic,
                        partition=message.partition,
                        offset=message.offset,
                        seek_to=verdict.seek_to,
                    )
                    await app.consumer.seek(message.tp, verdict.seek_to)
                return None
            if isinstance(verdict, AcceptHole):
                (log.debug if markers else log.warning)(
                    events.INPUT_GAP_ACCEPTED,
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
                headers=_headers(message.headers),
            )
            source = SOURCE.set((raw.topic, raw.partition))
            deliveries: list[Unacknowledged] = []
            unacknowledged = UNACKNOWLEDGED.set(deliveries)
            position = (raw.topic, raw.partition, raw.offset)
            times, error = refused_before.get(position, (0, ""))
            refused: float | None = None
            with (
                message_context(topic=raw.topic, partition=raw.partition, offset=raw.offset),
                tracing.step(
                    f"{service} {raw.topic}",
                    message.headers,
                    attributes=_span(raw) if tracing.enabled() else None,
                ),
            ):
                try:
                    if times >= fencing.RESTARTS_BEFORE_GIVING_UP:  # exactly_once
                        log.error(events.MESSAGE_FAILED, error=error, restarts=times)
                        await on_error(raw, refused_output(error))
                    else:
                        await handler(raw)
                except asyncio.CancelledError:
                    raise
                except KafkaError as exc:  # an output refused: the input is not at fault
                    if not settle_later:  # exactly_once: its transaction cannot commit
                        fencing.refused_input(position, exc)
                        fencing.restart_if_refused()
                    refused = retry.failed(message.tp, message.offset, exc.retriable)
                    if refused is None:  # refused for good: dead-lettered, naming it
                        log.exception(events.MESSAGE_FAILED, error=type(exc).__name__)
                        await on_error(raw, exc)
                    else:
                        log.error(events.OUTPUT_REFUSED, error=type(exc).__name__, retry_in=refused)
                except Exception as exc:
                    log.exception(events.MESSAGE_FAILED, error=type(exc).__name__)
                    await on_error(raw, exc)
                finally:
                    unbind_event()
                    SOURCE.reset(source)
                    UNACKNOWLEDGED.reset(unacknowledged)
            if refused is not None:  # read it again after a while, and nothing after it
                internals.withhold_ack(app.consumer, message)
                guard.again(message.tp, message.offset, time.monotonic())
                return refused
            if settle_later:
                return Handled(raw, message, deliveries)
            for delivery in deliveries:  # exactly_once: the commit checks them
                _on_done(delivery.future, functools.partial(fencing.note_refused_input, position))
            finish(message)
            return None

        def finish(message: Any) -> None:
            retry.done(message.tp, message.offset)
            guard.handled(message.tp, message.offset)  # processed or dead-lettered
            handled.add(message.topic)

        def settle_acknowledged(batch: list[Handled]) -> None:
            """Finish at once, in order, the messages whose outputs the broker has already
            all acknowledged (most of them, by the time a few more are handled): the commit
            then keeps up with the batch rather than waiting for its end, and a kill -9
            repeats no more than before."""
            done = 0
            for item in batch:
                if not all(_acknowledged(delivery.future) for delivery in item.deliveries):
                    break
                finish(item.message)
                done += 1
            del batch[:done]

        async def settle(batch: list[Handled], generation: int | None) -> None:
            """In the order handled, each message counts as handled once the broker has
            acknowledged its outputs. One it refused is sent again after a while
            (``OutputRetry``); refused for good, the input is dead-lettered naming it."""
            for item in batch:
                message = item.message
                with message_context(
                    topic=message.topic, partition=message.partition, offset=message.offset
                ):
                    while True:
                        refused = await _refused(item.deliveries)
                        if not refused or app.consumer_generation_id != generation:
                            break
                        error = refused[0][1]
                        names = sorted({delivery.topic for delivery, _ in refused})
                        retriable = all(getattr(exc, "retriable", False) for _, exc in refused)
                        wait = retry.failed(message.tp, message.offset, retriable)
                        if wait is None:  # refused for good: dead-lettered, naming it
                            log.error(
                                events.MESSAGE_FAILED, error=type(error).__name__, outputs=names
                            )
                            await on_error(item.raw, error)
                            break
                        log.error(
                            events.OUTPUT_REFUSED,
                            error=type(error).__name__,
                            retry_in=wait,
                            outputs=names,
                        )
                        await asyncio.sleep(wait)
                        for delivery, _ in refused:
                            await delivery.again()
                if app.consumer_generation_id != generation:
                    return  # the partitions may have moved: read again from the commit
                finish(message)

        async def agent(stream: Any) -> None:
            in_hand = app.commit_barrier or contextlib.nullcontext()
            buffer[:] = [stream.channel.queue]
            # faust's batches (a batch waits up to TAKE_WITHIN to fill): its per-event reading
            # costs ~230 us a message, ~107 us less in batches (bench.batched). Each message
            # is still read and handled on its own, in offset order per partition.
            async for batch in stream.take_events(TAKE, within=TAKE_WITHIN):
                generation = app.consumer_generation_id
                settling: list[Handled] = []
                for number, event in enumerate(batch):
                    if app.rebalancing or app.consumer_generation_id != generation:
                        # The partitions may have moved: the rest is read again from the
                        # committed offset, by whichever worker has them now.
                        for rest in batch[number:]:
                            internals.withhold_ack(app.consumer, rest.message)
                        break
                    # In a batch faust's current event is the last one buffered.
                    internals.set_current_event(event)
                    async with in_hand:  # exactly_once: no commit while a message is in hand
                        outcome = await one(event)
                    if isinstance(outcome, Handled):
                        settling.append(outcome)
                        if app.consumer_generation_id == generation:
                            settle_acknowledged(settling)
                    elif outcome is not None:  # read it again after a while, and what follows
                        await asyncio.sleep(outcome)
                        await app.consumer.seek(event.message.tp, event.message.offset)
                await settle(settling, generation)

        agent.__name__ = f"{service}_{handler.__name__}"
        return agent

    return wrap


SUMMARY_EVERY = 1.0  # seconds
TAKE = MAX_POLL_RECORDS  # messages a batch at most: what one poll brings
TAKE_WITHIN = 0.005  # seconds a batch waits to fill: added to a message's latency at most


class RefusedOutput(KafkaError):
    """The broker refused an output of this input for good (an error aiokafka does not
    name)."""


def refused_output(error: str) -> KafkaError:
    """The error the broker refused an output with, by its name (``fencing.refused_before``):
    the dead letter names it as under at_least_once."""
    kind = getattr(aiokafka_errors, error, None)
    if isinstance(kind, type) and issubclass(kind, KafkaError):
        with contextlib.suppress(Exception):
            return kind()
    return RefusedOutput(error)


def _on_done(future: Any, callback: Callable[[Any], None]) -> None:
    add = getattr(future, "add_done_callback", None)
    if add is not None:
        add(callback)


def _acknowledged(future: Any) -> bool:
    """The broker has the record (a future done without an exception)."""
    return bool(future.done() and not future.cancelled() and future.exception() is None)


async def _refused(
    deliveries: list[Unacknowledged],
) -> list[tuple[Unacknowledged, Exception]]:
    """Wait for each delivery; the ones the broker refused, with why."""
    refused: list[tuple[Unacknowledged, Exception]] = []
    for delivery in deliveries:
        try:
            await delivery.future
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            refused.append((delivery, exc))
    return refused


class TopicCounter:
    """A service's counter by input topic, each topic's child looked up once (prometheus'
    ``labels()`` costs about 6 us a call, once per message)."""

    def __init__(self, counter: Any, service: str) -> None:
        self.counter = counter
        self.service = service
        self.children: dict[str, Any] = {}

    def inc(self, topic: str) -> None:
        child = self.children.get(topic)
        if child is None:
            child = self.children[topic] = self.counter.labels(self.service, topic)
        child.inc()


class HandledSummary:
    """Messages handled per input topic since the last report (one info line a second while
    messages come, none when idle)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.since = time.monotonic()

    def add(self, topic: str) -> None:
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def report(self) -> None:
        now = time.monotonic()
        if self.counts:
            log.info(
                events.MESSAGES_HANDLED,
                messages=sum(self.counts.values()),
                topics=self.counts,
                seconds=round(now - self.since, 2),
            )
            self.counts = {}
        self.since = now


def route_inputs(
    app: ServiceApp,
    service: str,
    tuning: ClientTuning,
    inputs: Any,
    handlers: Mapping[str, Handler],
    on_error: Callable[[RawMessage, BaseException], Awaitable[object]],
    probe: HoleProbe | None = None,
) -> None:
    """One agent reads every input topic of the service (co-partitioned), so each booking is
    decided in order by one writer; each message goes to its topic's handler."""

    async def inputs_handler(raw: RawMessage) -> None:
        await handlers[raw.topic](raw)

    app.agent(inputs, name=f"{service}.inputs")(
        consume(app, service, tuning, on_error, probe)(inputs_handler)
    )


def hole_probe(settings: Settings) -> HoleProbe:
    """The probe ``consume`` needs, reading as the worker's consumer does: committed records
    under exactly_once, every record (aborted ones too) under at_least_once. Its consumer
    starts only when a hole is first seen."""
    return HoleProbe(client_options(settings), isolation_level=isolation_level(settings))


def _headers(headers: Any) -> tuple[tuple[str, bytes], ...]:
    """A message's headers as faust hands them (a list of pairs, a mapping or None)."""
    if not headers:
        return ()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(name), bytes(value or b"")) for name, value in pairs)


def _span(raw: RawMessage) -> dict[str, str | int]:
    """A step's span attributes (OpenTelemetry's messaging conventions): no personal data."""
    return {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": raw.topic,
        "messaging.destination.partition.id": str(raw.partition),
        "messaging.kafka.offset": raw.offset,
        "messaging.kafka.message.key": (raw.key or b"").decode(errors="replace"),
    }
