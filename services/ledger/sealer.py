"""The sealer: reads ``notice.audit.v1`` (and the access log, ``ops.access.v1``) as committed
and, for each partition it owns, writes a signed seal of the records read since its last one
to ``notice.audit.seals.v1`` (``ops.access.seals.v1``), on the same partition number, every
``RELEASEWATCH_LEDGER_SEAL_EVERY`` seconds or every 2,000 records.

Partitions are shared out by a consumer group (``releasewatch-sealer``): a sealer restarted,
or a partition moved to another, goes on from the last seal on the topic. Offsets are never
committed: the seals are the sealer's position. Two sealers that both sealed one stretch (one
paused past its session) fork the chain harmlessly; the verifier takes either branch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import KafkaError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from schemas.ledger_seals import LedgerSeal
from schemas.topics import ACCESS, ACCESS_SEALS, APP_ID_PREFIX, AUDIT, AUDIT_SEALS
from services.core.ledger_seal import Entry
from services.kafka.admin.metadata import partitions_of
from services.ledger.chains import Chain
from services.ops import events
from services.ops.logging import get_logger
from services.ops.metrics import Metrics

log = get_logger(__name__)

GROUP = f"{APP_ID_PREFIX}sealer"
# Each log sealed, and where its seals go.
SEALED = {AUDIT.name: AUDIT_SEALS.name, ACCESS.name: ACCESS_SEALS.name}
FETCH_WAIT_MS = 500
LAST_SEAL_WAIT = 60.0  # s to read a partition's last seal at assignment


class SealsUnreadable(RuntimeError):
    """The sealer cannot go on: a partition's last seal is not a seal (nothing to go on from,
    never guessed), or the seals topic has fewer partitions than the ledger."""


async def check_partitions(reader: AIOKafkaConsumer) -> None:
    for log_topic, seals_topic in SEALED.items():
        sealed = await partitions_of(reader, log_topic)
        seals = await partitions_of(reader, seals_topic)
        if len(seals) < len(sealed):
            raise SealsUnreadable(
                f"topic {seals_topic} has {len(seals)} partitions, {log_topic} {len(sealed)}: "
                f"each partition is sealed on its own number; give {seals_topic} "
                f"{len(sealed)} partitions (kafka-topics --alter --partitions {len(sealed)})"
            )


async def last_seals(
    reader: AIOKafkaConsumer, partitions: list[TopicPartition]
) -> dict[TopicPartition, LedgerSeal | None]:
    """The last seal written for each of these partitions of the seals topics (None: none
    yet), read all at once: the group's session goes on only once the assignment is taken,
    and reading 16 partitions one after the other outlasted it (``make run``: a rebalance
    every 9 s, and nothing sealed)."""
    if not partitions:
        return {}
    reader.assign(partitions)
    starts = await reader.beginning_offsets(partitions)
    ends = await reader.end_offsets(partitions)
    found: dict[TopicPartition, LedgerSeal | None] = dict.fromkeys(partitions)
    wanted = {tp for tp in partitions if ends[tp] > starts[tp]}
    for tp in wanted:
        reader.seek(tp, ends[tp] - 1)
    deadline = time.monotonic() + LAST_SEAL_WAIT
    while wanted:
        if time.monotonic() > deadline:
            named = ", ".join(f"{tp.topic}[{tp.partition}]@{ends[tp] - 1}" for tp in wanted)
            raise SealsUnreadable(
                f"{named}: not read in {LAST_SEAL_WAIT:.0f} s; the sealer will not guess where "
                "its chains stand"
            )
        batches = await reader.getmany(*wanted, timeout_ms=FETCH_WAIT_MS)
        for tp, records in batches.items():
            if records and tp in wanted:
                found[tp] = _seal_of(tp, records[-1])
                wanted.discard(tp)
    return found


def _seal_of(tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> LedgerSeal:
    try:
        return LedgerSeal.model_validate_json(record.value or b"")
    except ValidationError as exc:
        raise SealsUnreadable(
            f"{tp.topic}[{tp.partition}]@{record.offset} is not a seal ({exc.error_count()} "
            "problems): the sealer will not start a new chain over it; see docs/ledger.md"
        ) from None


class Sealer(ConsumerRebalanceListener):
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        reader: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        signer: Ed25519PrivateKey,
        every: float,
        metrics: Metrics,
    ) -> None:
        self.consumer, self.reader, self.producer = consumer, reader, producer
        self.signer, self.every, self.metrics = signer, every, metrics
        self.chains: dict[tuple[str, int], Chain] = {}
        self.ready = False
        metrics.ledger_unsealed_age.set_function(self.oldest_wait)

    def oldest_wait(self) -> float:
        """Seconds the oldest record read and not sealed has waited (0: none)."""
        since = [c.waiting_since for c in self.chains.values() if c.waiting_since is not None]
        return time.monotonic() - min(since) if since else 0.0

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        for tp in revoked:
            self.chains.pop((tp.topic, tp.partition), None)  # its next owner reads it again

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        taken = sorted(assigned)
        seals = [TopicPartition(SEALED[tp.topic], tp.partition) for tp in taken]
        lasts = await last_seals(self.reader, seals)
        for tp, seals_tp in zip(taken, seals, strict=True):
            chain = Chain.after(tp.topic, tp.partition, lasts[seals_tp])
            self.chains[(tp.topic, tp.partition)] = chain
            # Offset 0 when nothing is sealed yet: where the log starts, or (retention having
            # moved its start) the earliest, by the consumer's reset policy. Not
            # seek_to_beginning: it waits on the fetcher, up to a fetch's wait per partition,
            # while the group's heartbeats are stopped for this callback (16 partitions
            # outlasted the session in `make run`: a rebalance every 9 s, nothing sealed).
            self.consumer.seek(tp, chain.next_offset or 0)
        log.info(events.LEDGER_SEALING, partitions=[f"{t}[{p}]" for t, p in sorted(self.chains)])
        self.ready = True

    async def run(self) -> None:
        self.consumer.subscribe(list(SEALED), listener=self)
        while True:
            batches = await self.consumer.getmany(timeout_ms=FETCH_WAIT_MS)
            now = time.monotonic()
            for tp, records in batches.items():
                chain = self.chains.get((tp.topic, tp.partition))
                for record in records if chain else ():
                    chain.add(Entry(record.offset, record.key, record.value), now)  # type: ignore[union-attr]
            await self.seal_due(time.monotonic())
            self.metrics.ledger_unsealed.set(sum(len(c.pending) for c in self.chains.values()))

    async def seal_due(self, now: float) -> None:
        for chain in list(self.chains.values()):
            while chain.due(now, self.every) and self.chains.get(chain.at) is chain:
                if not await self._write(chain, now):
                    return  # the broker is away: the next round tries again

    async def _write(self, chain: Chain, now: float) -> bool:
        written = chain.seal(datetime.now(UTC).isoformat(timespec="seconds"), self.signer)
        try:
            await self.producer.send_and_wait(
                SEALED[chain.topic],
                written.model_dump_json().encode(),
                key=str(chain.partition).encode(),
                partition=chain.partition,
            )
        except KafkaError as exc:
            log.warning(
                events.LEDGER_SEAL_NOT_WRITTEN,
                topic=chain.topic,
                partition=chain.partition,
                error=repr(exc),
            )
            await asyncio.sleep(1.0)  # not a busy loop while the broker is away
            return False
        chain.sealed(written, now)
        self.metrics.ledger_sealed.labels(chain.topic, str(chain.partition)).inc(written.count)
        log.info(
            events.LEDGER_SEALED,
            topic=chain.topic,
            partition=chain.partition,
            first_offset=written.first_offset,
            last_offset=written.last_offset,
            count=written.count,
            key_id=written.key_id,
        )
        return True
