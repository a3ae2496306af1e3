"""The skeleton of a service that keeps one record per booking and acts on its deadlines:
booking, scheduling and notification are each an instance of it (the booking service's only
deadlines are its bookings' retirements).

Inputs are declared once (``on``), one decide function per input topic; every input goes the
same way: admitted or dead-lettered at the edge, moved if it is on the wrong partition, then
decided from the booking's stored record. What the decision says is matched here by type:
``Rejected`` is dead-lettered, ``Duplicate`` and ``Stale`` are dropped, anything else is an
outcome whose outputs the service publishes (acknowledged by the broker) before its new
record is stored. A crash in between repeats outputs (same ids), never loses them.
The deadline ticks are the same path, written once here (``start``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, TypeAdapter

from schemas.escalations import Escalation
from schemas.owned_topics import placement_topic
from schemas.ticks import DEADLINE_TICK
from schemas.topics import AUDIT, ESCALATIONS, TopicSpec
from services.core import policy as policies
from services.core.clock import Clock, SystemClock
from services.core.deadlines import DeadlineIndex
from services.core.field_crypto import KeyUnavailable, Tampered
from services.core.outcomes import Duplicate, Forget, Rejected, Stale, StaleSequence
from services.ops import events, tracing
from services.ops.logging import get_logger, message_context
from services.settings import Settings
from services.streams.app import ServiceApp, create_app
from services.streams.codec import RawMessage
from services.streams.consume import hole_probe, route_inputs
from services.streams.deadletter import DeadLetterPublisher
from services.streams.output import Output, raw_topic
from services.streams.placement import Placement, as_published, opened, unopened
from services.streams.records import RecordTable, rocksdb_options
from services.streams.sealing import PersonSeal, keyring_of
from services.streams.timer import FireEarly, install_deadline_timer

log = get_logger(__name__)

R = TypeVar("R", bound=BaseModel)
E = TypeVar("E")


class Outcome(Protocol):
    """What a domain decided when something changed: the record to store, and outputs."""

    @property
    def record(self) -> Any: ...


Decision = Outcome | Duplicate | Stale | StaleSequence | Rejected | Forget
# (the admitted event, the booking's record if any, where the event was read) -> decision
Decide = Callable[[Any, R | None, str], Decision]
# (key, outcome, ids of the alerts the timer already published) -> once acknowledged, None,
# or the record to store instead of the outcome's when publishing changed it (the answers of
# the notification service's webhook deliveries)
Publish = Callable[[str, Any, frozenset[str]], Awaitable[Any | None]]


class DurableService(Generic[R]):
    def __init__(
        self,
        name: str,
        settings: Settings,
        web_port: int,
        clock: Clock | None,
        *,
        table: str,
        record: type[R],
        ticks: TopicSpec,
        escalates: bool = True,
        personal: tuple[str, ...] = (),
        opens_personal: bool = True,
    ) -> None:
        """``escalates``: the service raises escalations and writes the ledger; ``personal``:
        where its records hold person data, sealed at rest (``services.streams.sealing``);
        ``opens_personal``: opened as read (False: its rules never need them clear)."""
        self.name = name
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.policies = policies.load(settings.policy_file)  # the jurisdictions' rules
        self.app: ServiceApp = create_app(name, settings, web_port)
        self.metrics = self.app.metrics
        self.index = DeadlineIndex()
        options = None
        if self.app.conf.store.scheme == "rocksdb":
            options = rocksdb_options(settings.store_cache_mb, settings.partitions)
        self.keyring = keyring_of(settings, name)
        self.keks = self.keyring.keks if self.keyring else None
        self.deadletters = DeadLetterPublisher(self.app, name, self.clock, self.keks)
        self.sealing = PersonSeal(self.keyring, personal, opens_personal) if self.keyring else None
        self.records = RecordTable(
            self.app, table, record, settings.partitions, self.index, options, self.sealing
        )
        if options is not None:
            self.metrics.watch_store(self.records.memory_bytes)
        self.ticks_topic = ticks
        self.ticks = self.output(ticks)
        if escalates:
            self.escalations = self.output(ESCALATIONS)
            self.ledger = self.output(AUDIT)
        self._inputs: list[TopicSpec] = []
        self._handlers: dict[str, Callable[[RawMessage], Awaitable[None]]] = {}

    def output(self, spec: TopicSpec) -> Output:
        return Output(self.app, spec, self.metrics)

    def on(self, spec: TopicSpec, adapter: TypeAdapter[E]) -> Callable[[Decide[R]], Decide[R]]:
        """Declare an input topic and the function deciding its events (of the types the
        registry names for it). A public input (published outside releasewatch) is placed
        first: a message off its booking's partition is moved there (``Placement``) and
        decided when it comes back from the placement topic."""
        types = spec.event_types
        placement = None
        if spec.is_input:
            target = self.output(placement_topic(self.name, spec))
            partitions = self.settings.partitions
            assignor = self.app.assignor
            placement = Placement(self.name, spec, target, partitions, assignor, self.keks)

        def declare(decide: Decide[R]) -> Decide[R]:
            async def admit(raw: RawMessage) -> None:
                event: Any = await self.deadletters.accept(raw, adapter, types)
                if event is None:
                    return
                if placement is not None and await placement.move_if_misplaced(raw, event.key):
                    return
                await decided(raw, event)

            async def admit_placed(placed: RawMessage) -> None:
                """Back from the placement topic, on its booking's partition: decided."""
                raw = as_published(placed, spec.name)
                try:
                    raw = opened(raw, self.keks)
                except (KeyUnavailable, Tampered) as exc:  # kept sealed, for when it opens
                    await self.deadletters.send(raw, [unopened(exc)])
                    return
                event: Any = await self.deadletters.accept(raw, adapter, types)
                if event is not None:
                    await decided(raw, event)

            async def decided(raw: RawMessage, event: Any) -> None:
                key: str = event.key
                await self.records.staging.ready(key)  # decided on what is stored
                decision = decide(event, self.records.get(key), raw.position)
                await self._settle(raw, event, key, decision)

            self._inputs.append(spec)
            self._handlers[spec.name] = admit
            if placement is not None:
                self._inputs.append(placement.target.spec)
                self._handlers[placement.target.name] = admit_placed
            return decide

        return declare

    def start(
        self,
        publish: Publish,
        on_tick: Callable[[R, datetime], Decision],
        fire_early: FireEarly | None = None,
    ) -> ServiceApp:
        """Wire the inputs, the ticks and the deadline timer; the app is ready to run.
        ``on_tick`` decides what a booking's fallen-due deadline means from its record."""
        self._publish = publish

        async def handle_tick(raw: RawMessage) -> None:
            tick = await self.deadletters.accept(raw, DEADLINE_TICK, self.ticks_topic.event_types)
            if tick is None:
                return
            await self.records.staging.ready(tick.key)
            record = self.records.get(tick.key)
            if record is None:  # nothing stored any more: nothing is due
                self.index.set(tick.key, None)
                return
            decision = on_tick(record, self.clock.now())
            await self._settle(raw, tick, tick.key, decision, frozenset(tick.published))

        self._inputs.append(self.ticks_topic)
        self._handlers[self.ticks_topic.name] = handle_tick
        route_inputs(
            self.app,
            self.name,
            self.app.tuning,
            raw_topic(self.app, *self._inputs),
            self._handlers,
            self.deadletters.send_internal_error,
            hole_probe(self.settings),
            self.records.staging.flush,
        )
        interval = self.settings.deadline_scan_interval
        # Under exactly_once the agent publishes what falls due, in the tick's transaction:
        # the timer's fast path would publish outside any input's and repeat after a crash.
        early = None if self.app.tuning.exactly_once else fire_early
        install_deadline_timer(
            self.app, self.index, self.records, self.ticks, self.clock, interval, log, early
        )
        return self.app

    async def _settle(
        self,
        raw: RawMessage,
        event: Any,
        key: str,
        decision: Decision,
        sent: frozenset[str] = frozenset(),
    ) -> None:
        match decision:
            case Rejected(errors=errors):
                await self.deadletters.refuse(raw, errors, event)
            case Forget():

                def forget() -> None:
                    self.records.delete(key)
                    log.info(events.RECORD_FORGOTTEN)

                self._store(raw, key, None, forget)
            case Duplicate():
                log.debug(events.DUPLICATE_DROPPED)
            case Stale(revision=revision, last_revision=last):
                log.info(events.STALE_STATE_DROPPED, revision=revision, last_revision=last)
            case StaleSequence(sequence=sequence, last_sequence=last):
                log.info(events.STALE_EVENT_DROPPED, sequence=sequence, last_sequence=last)
            case outcome:
                changed = await self._publish(key, outcome, sent)
                record = outcome.record if changed is None else changed
                trace = tracing.traceparent()
                retired = getattr(outcome, "retired", False)  # the record just became a stub

                def put() -> None:
                    if self.records.put(key, record, trace):
                        log.info(events.DEADLINE_ARMED, due_at=str(record.next_due))
                    if retired:
                        log.info(events.RECORD_RETIRED, forget_at=str(record.retire_at))

                self._store(raw, key, record, put)

    def _store(self, raw: RawMessage, key: str, record: Any, store: Callable[[], None]) -> None:
        """Under exactly_once at once (the outputs and the record commit together); else
        staged, written once the broker has the outputs (``services.streams.staging``)."""
        if self.app.tuning.exactly_once:
            store()
            return

        def in_context() -> None:
            with message_context(topic=raw.topic, partition=raw.partition, offset=raw.offset):
                store()

        self.records.staging.stage(key, record, in_context)

    async def escalate(self, key: bytes, escalation: Escalation) -> None:
        """Raise one escalation (acknowledged by the broker), counted and logged."""
        await self.escalations.send(key, escalation)  # acknowledged before the record
        data = escalation.data
        self.metrics.escalations.labels(data.reason.value).inc()
        log.warning(
            events.ESCALATION_RAISED,
            reason=data.reason.value,
            request_id=data.request_id,
            notice_id=data.notice_id,
            agency=data.agency,
        )
