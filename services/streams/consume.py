"""A message's way through a service, as a pipeline of named steps: read in batches
(faust's ``take_events``), **admit** (``admission``: in offset order, without holes, no
repeat), **handle** (``handling``: decode, decide and emit, inside the service's handler;
errors dead-lettered, refused outputs read again), **commit** (``settlement``: counted done
once the broker has the outputs, or with the transaction). The state the steps share is one
``ReadState``; the stall watchdog (``watchdog``) looks after partitions with nothing to read.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from services.kafka.client.holes import HoleProbe
from services.kafka.client.security import client_options
from services.kafka.client.tuning import ClientTuning
from services.kafka.patches import internals
from services.settings import Settings
from services.streams import watchdog
from services.streams.admission import Admission
from services.streams.app import MAX_POLL_RECORDS, ServiceApp, isolation_level
from services.streams.codec import RawMessage
from services.streams.handling import Handled, Handler, Handling, OnError, ReadAgain
from services.streams.reading import ReadState, TopicCounter
from services.streams.settlement import Settlement

TAKE = MAX_POLL_RECORDS  # messages a batch at most: what one poll brings
# Once a batch is handled, with whether its partitions are still this worker's: the records
# staged by its messages written (``services.streams.staging``).
AfterBatch = Callable[[bool], Awaitable[None]]
TAKE_WITHIN = 0.005  # seconds a batch waits to fill: added to a message's latency at most


class Pipeline:
    """One service's reading of its inputs: the steps, and the agent that runs them."""

    def __init__(
        self,
        app: ServiceApp,
        service: str,
        tuning: ClientTuning,
        handler: Handler,
        on_error: OnError,
        probe: HoleProbe | None = None,
        after_batch: AfterBatch | None = None,
    ) -> None:
        off = tuning.fixes_off  # the fault suite's experiments only
        self.app = app
        self.state = ReadState(
            TopicCounter(app.metrics.messages_in, service),
            guarded="gap_guard" not in off,
            fill_committed="commit_check" not in off,
        )
        if self.state.guarded and self.state.fill_committed:
            app.commit_guard = self.state.guard  # commits are what the guard saw in order
        self.exactly_once = tuning.exactly_once
        self.admission = Admission(app, self.state, probe)
        self.handling = Handling(service, handler, on_error, self.state.retry, tuning.exactly_once)
        self.settlement = Settlement(app, self.state, on_error)
        self.after_batch = after_batch
        check = watchdog.StallWatchdog(app, self.state, probe)
        watchdog.install(app, check, self.state, tuning.watch_interval)

    async def one(self, event: Any) -> Handled | float | None:
        """Admit and handle one message. Returns the seconds to wait before reading it again
        (an output refused), or under at_least_once the message with its outputs on their
        way (committed once the broker has them)."""
        message = event.message
        if not await self.admission.admit(message):
            return None
        outcome = await self.handling.handle(message)
        if isinstance(outcome, ReadAgain):  # and nothing after it, meanwhile
            internals.withhold_ack(self.app.consumer, message)
            self.state.guard.again(message.tp, message.offset, time.monotonic())
            return outcome.seconds
        if self.exactly_once:
            self.settlement.in_transaction(outcome)
            return None
        return outcome

    async def agent(self, stream: Any) -> None:
        """The faust agent: batches as faust hands them; each message read and handled on
        its own, in offset order per partition."""
        app = self.app
        in_hand = app.commit_barrier or contextlib.nullcontext()
        self.state.queue = stream.channel.queue
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
                internals.set_current_event(event)  # faust's is the last one buffered
                async with in_hand:  # exactly_once: no commit while a message is in hand
                    outcome = await self.one(event)
                if isinstance(outcome, Handled):
                    settling.append(outcome)
                    if app.consumer_generation_id == generation:
                        self.settlement.settle_acknowledged(settling)
                elif outcome is not None:  # read it again after a while, and what follows
                    await asyncio.sleep(outcome)
                    await app.consumer.seek(event.message.tp, event.message.offset)
            if self.after_batch is not None:  # the staged records written
                await self.after_batch(app.consumer_generation_id == generation)
            await self.settlement.settle(settling, generation)


def route_inputs(
    app: ServiceApp,
    service: str,
    tuning: ClientTuning,
    inputs: Any,
    handlers: Mapping[str, Callable[[RawMessage], Awaitable[None]]],
    on_error: OnError,
    probe: HoleProbe | None = None,
    after_batch: AfterBatch | None = None,
) -> None:
    """One agent reads every input topic of the service (co-partitioned), so each booking is
    decided in order by one writer; each message goes to its topic's handler."""

    async def inputs_handler(raw: RawMessage) -> None:
        await handlers[raw.topic](raw)

    pipeline = Pipeline(app, service, tuning, inputs_handler, on_error, probe, after_batch)

    async def agent(stream: Any) -> None:
        await pipeline.agent(stream)

    agent.__name__ = f"{service}_inputs_handler"
    app.agent(inputs, name=f"{service}.inputs")(agent)


def hole_probe(settings: Settings) -> HoleProbe:
    """The probe the pipeline needs, reading as the worker's consumer does: committed records
    under exactly_once, every record (aborted ones too) under at_least_once. Its consumer
    starts only when a hole is first seen."""
    return HoleProbe(client_options(settings), isolation_level=isolation_level(settings))
