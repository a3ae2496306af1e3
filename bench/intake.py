"""Jail intake throughput (#45): COUNT distinct NIEM *Booking and Release* documents (a booking
with two charges and a scheduled release each), three ways in the same run:

- bare parse: lxml with the intake's safe parser, nothing else (the baseline);
- read: ``niem.read`` (parse, the XSD check of the read part, the mapping, the DST check)
  plus SPEC 3.1's model on each event: what the intake does before publishing;
- through the service: ``releasewatch service intake`` as production runs it, on the embedded
  Apache Kafka, POSTed by aiohttp with CONCURRENCY requests in flight, each answered 202 only
  once its events are acknowledged (acks=all); then every event is read back off
  ``jail.booking.v1`` (nothing lost).

Prints documents/s for each and the ratios to the bare parse, and latency p50/p99 of the
POSTs; asserts nothing.

    .venv/bin/python -m bench.intake [COUNT] [CONCURRENCY]
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from lxml import etree

from bench.harness import embedded, machine, percentile, save, worker_env
from schemas.jail_booking import JAIL_EVENT, Facility
from schemas.topics import JAIL_BOOKING
from services.intake import niem
from tests.support.niem import document, scheduled
from tests.support.poll import until
from tests.support.topics import Watch
from tests.support.workers import Worker

TOKEN = "rwj_bench-intake-token"
JURISDICTION = "us-la-bench"
FACILITY = Facility(id="bench", name="Bench Parish Jail", timezone="America/Chicago")
JAILS = f"""
jails:
  - slug: bench-jail
    name: Bench Parish Jail
    facility: {{id: bench, name: Bench Parish Jail, timezone: America/Chicago}}
    jurisdictions: [{{id: {JURISDICTION}}}]
    token_sha256: {hashlib.sha256(TOKEN.encode()).hexdigest()}
"""


def documents(count: int) -> list[bytes]:
    number = "<nc:IdentificationID>B-{:06d}</nc:IdentificationID>"
    return [
        document(booking_id=number.format(n), release=scheduled("2027-03-04T09:00:00"))
        for n in range(count)
    ]


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else 0.0


def bare(docs: list[bytes]) -> float:
    """Best of three passes, documents/s."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for doc in docs:
            etree.fromstring(doc, niem.parser())
        best = min(best, time.perf_counter() - started)
    return rate(len(docs), best)


def read(docs: list[bytes]) -> tuple[float, int]:
    """Best of three passes, documents/s, and the events one pass gives."""
    jail = niem.Jail(FACILITY, ((JURISDICTION, None),))
    now = datetime.now(UTC)
    best, events = float("inf"), 0
    for _ in range(3):
        started = time.perf_counter()
        events = 0
        for doc in docs:
            reading = niem.read(doc, jail, now)
            for event in reading.events:
                JAIL_EVENT.validate_python(event)
            events += len(reading.events)
        best = min(best, time.perf_counter() - started)
    return rate(len(docs), best), events


async def through_service(docs: list[bytes], concurrency: int, folder: Path) -> dict[str, Any]:
    with embedded(folder / "kafka") as broker:
        jails = folder / "jails.yaml"
        jails.write_text(JAILS)
        env = worker_env(broker.url, folder / "intake", RELEASEWATCH_JAILS_FILE=str(jails))
        worker = Worker("intake", env, folder / "intake.log").start()
        try:
            await until(lambda: worker.get("/ready")[0] == 200, 60, "the intake ready")
            return await post_all(docs, concurrency, worker.port, broker.bootstrap)
        finally:
            worker.stop()


async def post_all(
    docs: list[bytes], concurrency: int, port: int, bootstrap: str
) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/bookings"
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/xml"}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue = list(reversed(docs))

    async def sender(session: aiohttp.ClientSession) -> None:
        while queue:
            doc = queue.pop()
            started = time.perf_counter()
            async with session.post(url, data=doc, headers=headers) as answer:
                await answer.read()
                statuses[answer.status] = statuses.get(answer.status, 0) + 1
            latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(sender(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    async with Watch(bootstrap, JAIL_BOOKING.name) as events:
        await events.wait_for(lambda r: True, 2 * len(docs), timeout=120, what="every event")
        stored = len({r.value["event_id"] for r in events.records})
    return {
        "docs_per_s": rate(len(docs), elapsed),
        "statuses": statuses,
        "events_stored": stored,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def main(count: int = 2_000, concurrency: int = 16) -> dict[str, Any]:
    docs = documents(count)
    size = sum(map(len, docs)) / len(docs)
    parse_rate = bare(docs)
    read_rate, events = read(docs)
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as folder:
        served = asyncio.run(through_service(docs, concurrency, Path(folder)))
    print(
        f"intake: {count:,} NIEM documents ({size / 1024:.1f} KiB each, {events:,} events): "
        f"bare parse {parse_rate:,.0f} docs/s; read (parse + XSD + mapping + model) "
        f"{read_rate:,.0f} docs/s (x{read_rate / parse_rate:.3f}); through the service "
        f"(HTTP, acks=all, {concurrency} in flight) {served['docs_per_s']:,.0f} docs/s "
        f"(x{served['docs_per_s'] / parse_rate:.4f} of the bare parse, "
        f"x{served['docs_per_s'] / read_rate:.3f} of the read), p50 {served['p50_ms']:.0f} ms, "
        f"p99 {served['p99_ms']:.0f} ms; answers {served['statuses']}; "
        f"{served['events_stored']:,} of {events:,} events on {JAIL_BOOKING.name}"
    )
    return {
        "documents": count,
        "document_bytes": size,
        "concurrency": concurrency,
        "bare_parse_docs_per_s": parse_rate,
        "read_docs_per_s": read_rate,
        "read_vs_bare": read_rate / parse_rate,
        "service": served,
        "service_vs_bare": served["docs_per_s"] / parse_rate,
        "service_vs_read": served["docs_per_s"] / read_rate,
        "events": events,
    }


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    result = {"machine": machine(), **main(*arguments)}
    print(f"  saved: {save('intake', result)}")
