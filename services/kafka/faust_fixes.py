"""Narrow fixes to faust-streaming 0.15 behaviour that would lose messages. Each is a
workaround for a library bug, valid on every broker, applied once at a worker's start
(``apply``, called by ``releasewatch service``). Each was switched off alone in the fault
suite and the restart stress on Apache Kafka 4.1.1, and is here because that lost messages
(README, "Benchmarks and the fault suite"), or because a kill -9 during a large load lost
or stalled messages without it (bench.national). Of two found on Tansu and removed when the
fault suite lost nothing without them on Kafka, one came back for that reason (the drop of
re-read messages); faust's gap filling is now never read (the commit is the gap guard's).
The two exactly_once fixes were switched off in the fault suite under exactly_once: without
``commit_before_revoke`` four alerts repeated (seed 3, 29567ee); without ``commit_in_step``
faust's producer buffer handed a table write to a transaction in the middle of its commit
("Can't send messages while not in transaction"): the buffer crashed in all three services,
a booking and a scheduling worker stopped with it, and 2 alerts were lost (seed 1).

Seek to the beginning where nothing is committed
    After a rebalance faust skips (and acks) messages it prefetched, then relies on
    ``seek_to_committed()`` to fetch them again. aiokafka leaves a partition that has no
    committed offset at its current fetch position, so those prefetched messages are never
    read again: seen here as offsets 4-7 of a fresh partition lost when a second worker
    joined (faust-streaming issues #216 and #221 describe the same window). With
    ``auto_offset_reset=earliest``, "nothing committed" means "from the beginning", so we
    seek there. At worst that repeats messages, which every service already tolerates.

Idempotent producers on request
    faust enables ``enable_idempotence`` only for its transactional producers; with
    ``RELEASEWATCH_PRODUCER_IDEMPOTENCE`` its ordinary producer gets it too (Apache Kafka).

A short fetch wait on brokers that do not wake a waiting fetch (Tansu)
    faust builds its consumer with ``fetch_max_wait_ms=1500``. Apache Kafka answers a
    waiting Fetch as soon as data arrives; Tansu 0.6 waits the full time (measured here: a
    message published 0.37 s into a 1.5 s wait is read 0.38 s later; with 100 ms, 10 ms).
    With the tansu flavor the wait is shortened (``ClientTuning.fetch_wait_ms``), and adapts
    (``services.kafka.tansu_quirks``): on long partitions Tansu needs more than a short wait
    to find the fetch position and answers empty; each such answer doubles the wait.

Commits from the gap guard (``_new_offset``, with ``commit_check``)
    faust commits the first run of offsets its agents acked, plus ranges it saw skipped in
    a fetch (its "gaps", counted as done). Around seeks back that bookkeeping goes wrong:
    after a kill -9 during a large load its acked list held offsets below the commit and
    the same offset twice, and the commit of every booking.state partition stopped ~2,000
    short of the end for good (bench.national, 200,000 and 60,000 bookings); its skipped
    ranges covered messages that were read again and not yet processed. The agents' gap
    guard knows what was handled in order; the commit is what it says. Without a guard
    (``gap_guard`` switched off), faust's rule with any head gap refused: faust lets a
    commit jump one missing message at the head of the acked offsets.

The committed offset on record before a partition's first message (``committed_on_broker``)
    faust sometimes has none on record after an assignment and would then commit whatever
    it processed first; the agents fill it from the broker first (see ``_new_offset``).

Held messages are not acked (``withhold_ack``, called by the agents)
    faust acks every event an agent moves past, processed or not; a message the gap guard
    holds back must stay out of the commit until it is read again and processed.

No creating a topic that exists where the login may not create topics (ACLs)
    faust declares its topics at start and skips one its client's metadata already names;
    that metadata holds only topics the client asked about, so faust sends CreateTopics for
    topics that exist, and a least-privilege login (no Create) is refused and the worker
    stops. The whole cluster's metadata (every topic the login may see) is asked first.

Changelog highwaters from the broker under exactly_once
    With transactions faust asks its consumer for the last stable offset of each changelog
    partition it recovers, which aiokafka knows only for partitions it has fetched from:
    None, taken as -1. A worker restarted with ``exactly_once`` then recovers nothing (its
    table looks empty), and one that keeps a partition through a rebalance crashes its
    recovery ("persisted offset ... is higher than the last offset in that topic (46 > -1)",
    fault suite, exactly_once). ``end_offsets`` asks the broker: for a ``read_committed``
    consumer that is the last stable offset.

Re-read messages delivered (``read_offset_drop``)
    faust keeps, per partition, the offset it last handed out and drops any message below
    it. A seek back (GapGuard's, or faust's own after recovery) lowers that offset, but a
    batch fetched before the seek is still being handed out and raises it again, so the
    re-read messages are dropped, and on the next seek the same happens. Removed once
    (de2fb1b: the fault suite, with small loads, lost nothing without it); brought back
    when a kill -9 during a load of 60,000 bookings showed it: after the restart's seeks
    back the guard waited 30 s on all 8 booking.state partitions for ~1,200 messages each
    that never came, and accepted them as holes (only faust's stuck commit kept them).
    Reading the offset as "unknown" turns the drop off, and with it faust's gap filling;
    repeats are delivered, and GapGuard skips or holds them, processing in offset order.

Table writes handed to the client before a commit (``handed_over``, with ``commit_in_step``)
    A table write is synchronous: faust puts its changelog record in its producer buffer
    and a background task hands it to the client. faust's commit flushes that buffer with
    ``flush_atmost``, which returns as soon as one hand-over takes longer than 0.1 s, so an
    offset could be committed while its event's changelog record was still in the buffer
    (a kill -9 then lost the state change, its input never read again). Every commit now
    first waits until what the buffer held has reached the client (its batches, and under
    exactly_once its partition's transaction).

A commit in step with the agent under exactly_once (``commit_in_step``)
    faust commits each partition's transaction from a timer while the agent goes on: the
    offsets are taken first, and whatever the agent sends meanwhile joins the transaction
    committed with them. An event's alert could then be committed without its offset; a
    kill -9 before the next commit read the event again, and a ``read_committed`` reader
    saw the alert twice (fault suite, exactly_once: the same tick's alert from two
    transactions). Sends during a commit were also refused ("not in transaction"). With
    ``ServiceApp.commit_barrier`` the agent holds a lock for each message, the commit takes
    it from choosing its offsets to the end of the transactions, and the transactions of
    the partitions commit side by side rather than one after another.

A commit before a rebalance takes the partitions away (``commit_before_revoke``)
    At a rebalance faust drops the revoked partitions' acked offsets and committed offsets,
    then commits: with nothing left to commit, it commits nothing, and everything handled
    since the last timer commit is read again. Under at-least-once that is repeats. Under
    exactly_once a worker that keeps a partition handles those messages again into the same
    open transaction, which commits both copies (fault suite, exactly_once, seed 3: four
    ticks handled twice 16 s apart, their alerts adjacent in one transaction, the
    partition's commit stalled from the rebalance on). The commit now comes first, while
    faust still knows the partitions (with ``commit_in_step``: after the message in hand).

A fenced transaction replaces the worker (``restart_fenced``, see ``fencing``)
    faust stops the whole worker when a send or commit finds its partition's transactional
    producer fenced ("Can't send messages while not in transaction"): after the group
    coordinator moved, a worker kept handling partitions another worker had taken (fault
    suite, exactly_once, three brokers, c942248: both notification workers stopped, 1,365
    of 1,366 notices lost). The worker now replaces itself, as a kill -9 and a restart would.
    So it does before committing a transaction that holds a record the broker refused:
    aiokafka would commit it without the record (the agency's topic refusing in
    ``test_exactly_once``).

What the client has fetched (``fetched_offsets``, read by the stall watchdog)
    Not a fix, a view: per partition, how far aiokafka has fetched (handed to faust, or
    held), so the gap guard can tell a partition waiting behind others from one with a
    hole at its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiokafka.consumer.fetcher import Fetcher, FetchResult
from aiokafka.structs import TopicPartition
from faust import streams as faust_streams
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.producer import ProducerBuffer

from services.kafka import fencing
from services.kafka.tansu_quirks import FetchWait
from services.kafka.tuning import ClientTuning
from services.ops import events
from services.ops.logging import get_logger

log = get_logger(__name__)
_applied = False

DEFAULT_TUNING = ClientTuning()


def tuning_of(app: Any) -> ClientTuning:
    """The app's ``ClientTuning`` (``services.streams.app.ServiceApp``), else the defaults."""
    tuning = getattr(app, "tuning", None)
    return tuning if isinstance(tuning, ClientTuning) else DEFAULT_TUNING


async def _seek_to_committed_or_beginning(self: Any) -> Mapping[Any, int]:
    consumer = self._ensure_consumer()
    committed: Mapping[Any, int | None] = await self.call_thread(consumer.seek_to_committed)
    # aiokafka seeks only where the committed offset is > 0; changelogs are faust's own business.
    uncommitted = [
        tp
        for tp, offset in committed.items()
        if (offset is None or offset <= 0) and not tp.topic.endswith("-changelog")
    ]
    if uncommitted:
        await self.call_thread(consumer.seek_to_beginning, *uncommitted)
    return committed  # type: ignore[return-value]


class _NoReadOffsets(dict):
    """faust's read offsets, always read as unknown: no message is dropped as below it."""

    def __getitem__(self, key: Any) -> None:
        return None


_original_consumer_init = faust_consumer.Consumer.__init__


def _consumer_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _original_consumer_init(self, *args, **kwargs)
    self._read_offset = _NoReadOffsets()


def fetched_offsets(consumer: Any, tps: Any) -> dict[Any, int]:
    """tp -> the offset after the last message of ``tp`` aiokafka has fetched: its position
    (everything before it was handed to faust), plus one when it holds fetched records
    from there on. faust may still drop what it was handed (around a rebalance), so this
    says where messages should be, not that they will come. Read from the worker's loop
    while aiokafka runs in faust's consumer thread: single lookups only, a snapshot good
    enough for a watchdog."""
    return {tp: position + holds for tp, (position, holds) in _client_positions(consumer, tps)}


def queued_offsets(consumer: Any, tps: Any) -> dict[Any, int]:
    """tp -> the offset of the next message aiokafka holds for ``tp``, ready to hand to
    faust when the partition's turn comes (only partitions it holds records for)."""
    return {tp: position for tp, (position, holds) in _client_positions(consumer, tps) if holds}


def _client_positions(consumer: Any, tps: Any) -> list[tuple[Any, tuple[int, bool]]]:
    """(tp, (aiokafka's position, whether it holds fetched records from there))."""
    client = getattr(consumer._thread, "_consumer", None)
    if client is None:
        return []
    assignment = getattr(client._subscription.subscription, "assignment", None)
    if assignment is None:
        return []
    buffered: Mapping[Any, Any] = client._fetcher._records
    found = []
    for tp in tps:
        state = assignment.state_value(tp)
        if state is None or not state.has_valid_position:
            continue
        result = buffered.get(tp)
        holds = isinstance(result, FetchResult) and result.has_more()
        found.append((tp, (state.position, holds)))
    return found


_original_settings_extra = faust_aiokafka.Producer._settings_extra


def _settings_extra(self: Any) -> Mapping[str, Any]:
    extra = dict(_original_settings_extra(self))
    if tuning_of(self.app).idempotent:
        extra.update(enable_idempotence=True, acks="all")
    return extra


_original_create_worker_consumer = faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer


def _create_worker_consumer(self: Any, transport: Any) -> Any:
    consumer = _original_create_worker_consumer(self, transport)
    tuning = tuning_of(self.app)
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


_original_new_offset = faust_consumer.Consumer._new_offset


def _new_offset(self: Any, tp: Any) -> int | None:
    """What the agents' gap guard (``app.commit_guard``, ``GapGuard.committable``) says was
    handled in order, where the app has one: faust's acked list is then cleared, unread.
    Otherwise faust's rule, with its head gap refused: faust lets a commit jump one missing
    message at the head of the acked offsets: its check is ``min(acked) - committed > 1``
    where ``committed`` is the next offset to read, so with committed 10 and acked 11.. it
    commits 12, skipping 10 for good. Nothing is committed until the missing offset is
    processed."""
    guard = getattr(self.app, "commit_guard", None)
    if guard is not None:
        # faust's bookkeeping, left to itself, ends wrong around seeks: offsets below the
        # commit, the same offset twice (a stuck commit), ranges it saw skipped counted as
        # done (a commit past messages never processed). Kept empty, never read.
        self._acked[tp].clear()
        self._acked_index[tp].clear()
        self._gap[tp].clear()
        return guard.committable(tp)
    acked = self._acked[tp]
    committed = self._committed_offset[tp]
    if acked and (committed is None or min(acked) > committed):
        # With no committed offset on record faust would commit whatever it processed,
        # however far past the real commit (seen under kill -9: a partition processed from
        # 5560 after a rebalance, 2931-5559 lost). services.streams.app puts the broker's
        # committed offset on record before processing a partition's first message.
        return None
    return _original_new_offset(self, tp)


async def committed_on_broker(app: Any, tp: Any) -> int | None:
    """The partition's committed offset as the broker has it (its first offset if nothing is
    committed), put on faust's record, which its commits are checked against (_new_offset).
    faust has none on record when it did not seek the partition after an assignment; it
    would then commit whatever it processed first, however far past the real commit."""

    async def committed_or_first(thread: Any, consumer: Any) -> int | None:
        offset = await thread.call_thread(consumer.committed, tp)
        if offset is None or offset < 0:
            offset = await _first_offset(thread, consumer, tp)
        return offset

    # Not known (rebalancing, the broker away): asked again on the next message.
    offset = await _ask_broker(app, tp, events.COMMITTED_OFFSET_UNKNOWN, committed_or_first)
    if offset is not None:
        app.consumer._committed_offset[tp] = offset
        log.info(
            events.COMMITTED_OFFSET_FROM_BROKER,
            topic=tp.topic,
            partition=tp.partition,
            offset=offset,
        )
    return offset


async def log_start(app: Any, tp: Any) -> int | None:
    """The partition's first offset on the broker (what retention has not deleted); None
    when the broker cannot say now."""

    async def first(thread: Any, consumer: Any) -> int | None:
        return await _first_offset(thread, consumer, tp)

    return await _ask_broker(app, tp, events.LOG_START_UNKNOWN, first)


async def _first_offset(thread: Any, consumer: Any, tp: Any) -> int | None:
    first = (await thread.call_thread(consumer.beginning_offsets, [tp])).get(tp)
    return first if isinstance(first, int) else None


async def _ask_broker(
    app: Any, tp: Any, unknown: str, ask: Callable[[Any, Any], Awaitable[int | None]]
) -> int | None:
    """``ask(consumer thread, aiokafka consumer)``, or None with an ``unknown`` warning when
    the broker cannot answer now (rebalancing, away)."""
    thread: Any = app.consumer._thread
    try:
        return await ask(thread, thread._ensure_consumer())
    except Exception as exc:
        log.warning(unknown, topic=tp.topic, partition=tp.partition, error=type(exc).__name__)
        return None


def withhold_ack(consumer: Any, message: Any) -> None:
    """The agent skipped ``message`` without processing it (held behind a hole, to be read
    again): faust must not count it as done. faust acks every event an agent moves past,
    and once the hole before a held run was filled its commit jumped the whole run, still
    unprocessed: a kill before the run was read again lost it (fault suite, seed 3: jail
    events 2918-3552 of one partition, committed at 3553, never processed). Marked acked,
    faust's own ack is a no-op and the offset never reaches the commit."""
    message.acked = True
    consumer._unacked_messages.discard(message)


def set_current_event(event: Any) -> None:
    """Make ``event`` faust's current event in the calling task only: faust's tables write to
    its partition (changelog, RocksDB database). Not ``Stream._set_current_event``, which also
    sets the stream's attribute that ``take_events`` reads to pair the next buffered value with
    its event (a message per batch went missing that way)."""
    faust_streams._current_event.set(weakref.ref(event))


_original_send_pending = ProducerBuffer._send_pending


async def _send_pending_counted(self: Any, fut: Any) -> None:
    """faust's hand-over of one buffered message to the client, counted (``handed_over``)."""
    self.handing += 1
    try:
        await _original_send_pending(self, fut)
    finally:
        self.handing -= 1
        self.handed += 1
        _handed_signal(self).set()


def _handed_signal(buffer: Any) -> asyncio.Event:
    signal: asyncio.Event | None = buffer.__dict__.get("handed_signal")
    if signal is None:
        signal = buffer.__dict__["handed_signal"] = asyncio.Event()
    return signal


async def handed_over(buffer: Any) -> None:
    """Every message faust's producer ``buffer`` holds now has reached the client (the buffer
    is first in, first out: wait until as many more have been handed over)."""
    target = buffer.handed + buffer.handing + buffer.size
    signal = _handed_signal(buffer)
    while buffer.handed < target and not buffer.should_stop:
        signal.clear()
        with contextlib.suppress(TimeoutError):  # look at should_stop now and then
            await asyncio.wait_for(signal.wait(), 1.0)


_original_commit_tps = faust_consumer.Consumer._commit_tps


async def _commit_tps_in_step(self: Any, tps: Any, start_new_transaction: bool) -> bool:
    """faust's commit, once the table writes before it reached the client; with the app's
    ``commit_barrier`` (exactly_once), while no message is being handled: the offsets taken
    cover every output in the transactions committed with them."""
    barrier = getattr(self.app, "commit_barrier", None)
    async with barrier if barrier is not None else contextlib.nullcontext():
        await handed_over(self.app.producer.buffer)
        committed: bool = await _original_commit_tps(self, tps, start_new_transaction)
        return committed


async def _commit_transactions_together(
    self: Any,
    tid_to_offset_map: Mapping[str, Mapping[Any, int]],
    group_id: str,
    start_new_transaction: bool = True,
) -> None:
    """faust's ``commit_transactions``, the partitions' transactions side by side (each is
    its own producer): one after another, a worker's eight took seconds under load."""

    async def commit(transactional_id: str, offsets: Mapping[Any, int]) -> None:
        async with self._trn_locks[transactional_id]:
            producer = self._transaction_producers.get(transactional_id)
            if producer is None:
                log.warning(events.TRANSACTION_UNKNOWN, transactional_id=transactional_id)
                return
            try:
                if restart_when_fenced:  # a transaction missing a refused record: never
                    await producer.flush()
                    fencing.restart_if_refused(transactional_id, producer)
                await producer.send_offsets_to_transaction(offsets, group_id)
                await producer.commit_transaction()
                if start_new_transaction:
                    await producer.begin_transaction()
            except Exception as exc:
                if restart_when_fenced and fencing.broken(exc, producer):
                    fencing.restart_fenced(transactional_id, exc)
                raise

    await asyncio.gather(*(commit(tid, offsets) for tid, offsets in tid_to_offset_map.items()))


_original_producer_send = faust_aiokafka.Producer.send
restart_when_fenced = True  # ``restart_fenced`` switched off: the fault suite's experiments


async def _send_or_restart_fenced(
    self: Any,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    partition: int | None,
    timestamp: float | None,
    headers: Any,
    *,
    transactional_id: str | None = None,
) -> Any:
    """faust's send; one refused because its transaction can no longer commit (fenced, timed
    out) replaces the worker (``fencing``) instead of stopping it. A transactional record the
    broker refuses later is noted, so its transaction is never committed (``commit`` above)."""
    try:
        future = await _original_producer_send(
            self,
            topic,
            key,
            value,
            partition,
            timestamp,
            headers,
            transactional_id=transactional_id,
        )
        if restart_when_fenced and transactional_id and hasattr(future, "add_done_callback"):
            future.add_done_callback(functools.partial(fencing.note_refused, transactional_id))
        return future
    except Exception as exc:
        producer = self._transaction_producers.get(transactional_id) if transactional_id else None
        if restart_when_fenced and transactional_id and fencing.broken(exc, producer):
            fencing.restart_fenced(transactional_id, exc)
        raise


_original_partitions_revoked = faust_consumer.Consumer.on_partitions_revoked


async def _commit_before_revoke(self: Any, revoked: Any) -> None:
    """Commit what was handled, ending the transactions, before faust forgets the revoked
    partitions' acks (its own commit, after, finds nothing to commit)."""
    if revoked and self.assignment():
        try:
            await self.maybe_wait_for_commit_to_finish()
            await self.force_commit(start_new_transaction=False)
        except Exception as exc:  # read again from the last commit: repeats, never a loss
            log.warning(events.COMMIT_BEFORE_REVOKE_FAILED, error=type(exc).__name__)
    await _original_partitions_revoked(self, revoked)


def apply(off: frozenset[str] = frozenset()) -> None:
    """Install the fixes, once per process, at a worker's start (``releasewatch service``);
    ``off`` leaves some out (the fault suite's experiments, ``RELEASEWATCH_FAUST_FIXES_OFF``)."""
    global _applied, restart_when_fenced
    if _applied:
        return
    if off:
        log.warning(events.FAUST_FIXES_SWITCHED_OFF, fixes=sorted(off))
    if "seek_beginning" not in off:
        faust_aiokafka.AIOKafkaConsumerThread.seek_to_committed = _seek_to_committed_or_beginning  # type: ignore[method-assign]
    if "read_offset_drop" not in off:
        faust_consumer.Consumer.__init__ = _consumer_init  # type: ignore[method-assign]
    if "commit_check" not in off:
        faust_consumer.Consumer._new_offset = _new_offset  # type: ignore[method-assign]
    ProducerBuffer.handed = ProducerBuffer.handing = 0  # type: ignore[attr-defined]
    ProducerBuffer._send_pending = _send_pending_counted  # type: ignore[method-assign]
    if "commit_in_step" not in off:
        faust_consumer.Consumer._commit_tps = _commit_tps_in_step  # type: ignore[method-assign]
    if "commit_before_revoke" not in off:
        faust_consumer.Consumer.on_partitions_revoked = _commit_before_revoke  # type: ignore[method-assign]
    faust_aiokafka.Producer.commit_transactions = _commit_transactions_together  # type: ignore[method-assign]
    restart_when_fenced = "restart_fenced" not in off
    faust_aiokafka.Producer.send = _send_or_restart_fenced  # type: ignore[method-assign]
    faust_aiokafka.Producer._settings_extra = _settings_extra  # type: ignore[method-assign]
    faust_aiokafka.Transport._really_create_topic = _create_unless_it_exists  # type: ignore[method-assign]
    faust_aiokafka.AIOKafkaConsumerThread._highwaters = _highwaters_from_broker  # type: ignore[method-assign]
    faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer  # type: ignore[method-assign]
    Fetcher._proc_fetch_request = _proc_fetch_request
    _applied = True


_faust_create_topic = faust_aiokafka.Transport._really_create_topic


async def _create_unless_it_exists(
    self: Any, owner: Any, client: Any, topic: str, *args: Any, **kwargs: Any
) -> None:
    """faust's topic creation, skipped for a topic the cluster already has."""
    if not kwargs.get("ensure_created") and topic not in client.cluster.topics():
        try:
            cluster = await client.fetch_all_metadata()
        except Exception:  # faust's own path reports what is wrong
            cluster = None
        if cluster is not None and topic in cluster.topics():
            return
    await _faust_create_topic(self, owner, client, topic, *args, **kwargs)


async def _highwaters_from_broker(self: Any, partitions: list[Any]) -> Mapping[Any, int]:
    """The end offsets as the broker has them (the last stable ones for a read_committed
    consumer, which is what faust's transactions make it), never the fetcher's cache."""
    consumer = self._ensure_consumer()
    return dict(await consumer.end_offsets(partitions))
