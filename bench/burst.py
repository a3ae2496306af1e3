"""A mass release (#47): COUNT flagged bookings across 50 jurisdictions and 3 agencies, already
open and requested, then all scheduled for release 10 h from now within about a second (a
court order): every notice is due at once, and already late. Asserts nothing; prints and
saves, from the moment the schedules are published:

- seconds until the last notice is on its agency's topic;
- p50/p99 from each alert (its producer timestamp) to its notice;
- peak resident memory of each service's worker during the burst (and before it);
- the floor: a bare aiokafka relay moving the same number of messages from one topic to
  another in the same run, and the ratio.

One worker per service on the embedded broker.

    .venv/bin/python -m bench.burst [COUNT ...]     (default 1000 10000)
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.harness import (
    PARTITIONS,
    create_topics,
    embedded,
    machine,
    percentile,
    publish,
    save,
    worker_env,
)
from bench.latency import relay
from schemas.topics import AGENCY_REQUESTS, JAIL_BOOKING, NOTICE_ALERTS
from services.kafka.admin.topics import ensure_topics
from services.simulator.places import FACILITIES
from tests import factories as f
from tests.support.poll import until
from tests.support.topics import Watch
from tests.support.workers import Worker, all_ready, total

SERVICES = ("booking", "scheduling", "notification")
AGENCIES = ("dhs-ice", "usms", "state-doc")
JURISDICTIONS = tuple(f"us-burst-county{n:02d}" for n in range(50))
Message = tuple[str, bytes, bytes]


def population(count: int) -> tuple[list[Message], list[Message], list[str]]:
    """(openings and requests, the schedules of the burst, the booking keys)."""
    booked = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    release = (datetime.now(UTC) + timedelta(hours=10)).isoformat()
    before: list[Message] = []
    burst: list[Message] = []
    keys: list[str] = []
    for number in range(count):
        jurisdiction = JURISDICTIONS[number % len(JURISDICTIONS)]
        facility = FACILITIES[number % len(FACILITIES)]
        booking_id = f"b-{uuid.uuid4().hex[:12]}"
        key = f"{jurisdiction}/{booking_id}"
        place = {"booking_id": booking_id, "jurisdiction": jurisdiction}
        where = {"id": facility.id, "name": facility.name, "timezone": facility.timezone}
        opened = f.opened(
            data={"booked_at": booked, "facility": where}, occurred_at=booked, **place
        )
        request = f.envelope(
            "notice_request.received",
            {"request_id": "r1", "agency": AGENCIES[number % len(AGENCIES)]},
            occurred_at=booked,
            **place,
        )
        schedule = f.scheduled(release, **place)
        before += [
            (JAIL_BOOKING.name, key.encode(), json.dumps(opened).encode()),
            (AGENCY_REQUESTS.name, key.encode(), json.dumps(request).encode()),
        ]
        burst.append((JAIL_BOOKING.name, key.encode(), json.dumps(schedule).encode()))
        keys.append(key)
    return before, burst, keys


async def floor(bootstrap: str, count: int) -> float:
    """Seconds for a bare aiokafka relay to move ``count`` messages from one topic to another
    (published at once, as the burst is)."""
    source, target = f"burst-floor-in-{count}", f"burst-floor-out-{count}"
    await create_topics(bootstrap, [source, target])
    relaying = asyncio.create_task(relay(bootstrap, source, target))
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await reader.start()
    reader.assign([TopicPartition(target, p) for p in range(PARTITIONS)])
    await reader.seek_to_beginning()
    try:
        messages = [(source, str(n).encode(), b"x" * 600) for n in range(count)]
        started = time.time()
        await publish(bootstrap, messages)
        seen = 0
        last = started
        while seen < count:
            for records in (await reader.getmany(timeout_ms=500)).values():
                seen += len(records)
                last = max([last, *(r.timestamp / 1000 for r in records)])
        return last - started
    finally:
        relaying.cancel()
        await reader.stop()


async def one_burst(count: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix=f"bench-burst-{count}-"))
    before, burst, keys = population(count)
    result: dict[str, Any] = {"count": count}
    with embedded() as broker:
        await ensure_topics(broker.bootstrap, PARTITIONS)
        result["floor_s"] = await floor(broker.bootstrap, count)
        workers = {
            name: Worker(name, worker_env(broker.url, folder / name), folder / f"{name}.log")
            for name in SERVICES
        }
        for worker in workers.values():
            worker.start()
        try:
            await all_ready(list(workers.values()), 120)
            await publish(broker.bootstrap, before)
            # every booking open and requested: scheduling has read all its inputs
            await until(
                lambda: (
                    total(workers["scheduling"].metrics(), "releasewatch_consumer_lag") == 0
                    and total(workers["booking"].metrics(), "releasewatch_consumer_lag") == 0
                ),
                600,
                "openings and requests read",
                every=1.0,
            )
            result["rss_before_mib"] = {n: w.rss_bytes() / 2**20 for n, w in workers.items()}
            peak = dict(result["rss_before_mib"])
            sampling = True

            async def sample() -> None:
                while sampling:
                    for name, worker in workers.items():
                        peak[name] = max(peak[name], worker.rss_bytes() / 2**20)
                    await asyncio.sleep(0.5)

            sampler = asyncio.create_task(sample())
            async with (
                Watch(broker.bootstrap, NOTICE_ALERTS.name) as alerts,
                Watch(
                    broker.bootstrap, pattern=r"^notices\.(dhs-ice|usms|state-doc)\.v1$"
                ) as notices,
            ):
                started = time.time()
                await publish(broker.bootstrap, burst)
                published = time.time() - started
                wanted = set(keys)
                await until(
                    lambda: wanted <= {r.key for r in notices.records},
                    1800,
                    "every notice of the burst",
                    every=0.5,
                )
                sampling = False
                await sampler
            first_alert: dict[str, float] = {}
            for record in alerts.records:
                first_alert.setdefault(record.key, record.timestamp)
            first_notice: dict[str, float] = {}
            for record in notices.records:
                first_notice.setdefault(record.key, record.timestamp)
            latencies = [(first_notice[k] - first_alert[k]) * 1000 for k in keys]
            result.update(
                published_in_s=published,
                last_notice_after_s=max(first_notice[k] for k in keys) - started,
                last_alert_after_s=max(first_alert[k] for k in keys) - started,
                alert_to_notice_ms={
                    "p50": percentile(latencies, 50),
                    "p99": percentile(latencies, 99),
                },
                rss_peak_mib=peak,
            )
        finally:
            for worker in workers.values():
                worker.stop()
    result["ratio_to_floor"] = result["last_notice_after_s"] / result["floor_s"]
    lat = result["alert_to_notice_ms"]
    print(
        f"  {count:>7,} releases: last notice {result['last_notice_after_s']:.1f} s after the "
        f"schedules (last alert {result['last_alert_after_s']:.1f} s); alert -> notice p50 "
        f"{lat['p50']:,.0f} ms, p99 {lat['p99']:,.0f} ms; floor (bare relay) "
        f"{result['floor_s']:.2f} s, x{result['ratio_to_floor']:.0f}"
    )
    print(
        "           peak RSS MiB "
        + ", ".join(
            f"{n} {result['rss_before_mib'][n]:.0f} -> {result['rss_peak_mib'][n]:.0f}"
            for n in SERVICES
        )
    )
    return result


async def run(counts: tuple[int, ...]) -> dict[str, Any]:
    print(
        f"burst: flagged releases ordered at once across {len(JURISDICTIONS)} jurisdictions "
        f"and {len(AGENCIES)} agencies; one worker per service"
    )
    return {"bursts": [await one_burst(count) for count in counts], "measured_at": time.time()}


def main(*counts: int) -> dict[str, Any]:
    return asyncio.run(run(counts or (1_000, 10_000)))


if __name__ == "__main__":
    figures = main(*(int(a) for a in sys.argv[1:]))
    print(f"  results: {save('burst', {'machine': machine(), **figures})}")
