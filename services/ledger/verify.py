"""What ``releasewatch report --verify`` and ``releasewatch ledger seals`` read: the ledger as
committed, and the seals from their topic or from an auditor's copy (JSON lines)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas.ledger_seals import LedgerSeal
from schemas.topics import AUDIT, AUDIT_SEALS
from services.core.ledger_seal import Entry, Verdict
from services.kafka.admin.metadata import partitions_of
from services.kafka.client import read
from services.kafka.client.clients import running


async def read_topic(options: dict[str, Any], topic: str) -> dict[int, list[Entry]]:
    """Every committed record of ``topic`` up to its end when the read began, per partition."""
    consumer = AIOKafkaConsumer(
        **options, group_id=None, enable_auto_commit=False, isolation_level="read_committed"
    )
    found: dict[int, list[Entry]] = defaultdict(list)
    async with running(consumer):
        partitions = [TopicPartition(topic, p) for p in await partitions_of(consumer, topic)]
        async for record in read.to_end(consumer, partitions):
            found[record.partition].append(Entry(record.offset, record.key, record.value))
    return dict(found)


def seals_of(records: dict[int, list[Entry]]) -> dict[int, list[LedgerSeal]]:
    """The seals topic's records as seals, by the ledger partition each seals. A record that
    is not a seal is skipped: a seal missing from the chain shows as a gap."""
    seals: dict[int, list[LedgerSeal]] = defaultdict(list)
    for entries in records.values():
        for entry in entries:
            try:
                message = LedgerSeal.model_validate_json(entry.value or b"")
            except ValidationError:
                continue
            seals[message.partition].append(message)
    return dict(seals)


async def read_seals(
    options: dict[str, Any], seals_topic: str = AUDIT_SEALS.name
) -> dict[int, list[LedgerSeal]]:
    return seals_of(await read_topic(options, seals_topic))


async def read_ledger(options: dict[str, Any], topic: str = AUDIT.name) -> dict[int, list[Entry]]:
    return await read_topic(options, topic)


def read_copy(path: Path, topic: str | None = None) -> dict[int, list[LedgerSeal]]:
    """An auditor's copy: one seal a line, as ``ledger seals --out`` writes them (those of
    ``topic``'s partitions only, when given)."""
    seals: dict[int, list[LedgerSeal]] = defaultdict(list)
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            message = LedgerSeal.model_validate_json(line)
        except ValidationError as exc:
            raise ValueError(
                f"{path}:{number}: not a seal ({exc.error_count()} problems)"
            ) from None
        seals[message.partition].append(message)
    return dict(seals)


def append_copy(path: Path, seals: list[LedgerSeal]) -> int:
    """Seals not yet in the auditor's copy appended to it, in the order given; how many."""
    held = read_copy(path) if path.exists() else {}
    known = {(s.topic, s.partition, s.first_offset, s.head) for kept in held.values() for s in kept}
    new = [s for s in seals if (s.topic, s.partition, s.first_offset, s.head) not in known]
    with path.open("a") as out:
        for sealed in new:
            out.write(sealed.model_dump_json() + "\n")
    return len(new)


def render(verdict: Verdict, seals: dict[int, list[LedgerSeal]], source: str, topic: str) -> str:
    lines = [
        f"{topic}: {verdict.records:,} records, {verdict.sealed:,} sealed "
        f"({sum(len(s) for s in seals.values()):,} seals from {source})"
    ]
    if verdict.unsealed:
        waiting = ", ".join(f"{p}: {n}" for p, n in sorted(verdict.unsealed.items()))
        lines.append(f"not sealed yet (the sealer's next round): partitions {waiting}")
    if verdict.intact:
        lines.append("intact: every sealed record is as sealed")
    lines += [f"TAMPERED: {finding.line()}" for finding in verdict.findings]
    return "\n".join(lines)
