"""A mass release (#47): COUNT flagged bookings across 50 jurisdictions and 3 agencies, already
open and requested, then, in two runs:

- ``ordered``: all scheduled for release 10 h from now within about a second (a court order):
  every notice is due at once, and already late; measured from the moment the schedules are
  published;
- ``due``: all scheduled beforehand for release 48 h after one same second, so every armed
  deadline falls due in that second (the deadline agent's timer fires them all); measured
  from that second.

Asserts nothing; prints and saves, from that moment:

- seconds until the last notice is on its agency's topic;
- p50/p99 from each alert (its producer timestamp) to its notice;
- peak resident memory of each service's worker during the burst (and before it);
- the floor: a bare aiokafka relay moving the same number of messages from one topic to
  another in the same run, and the ratio.

One worker per service on the embedded broker, unless asked for more workers, the
three-node cluster, and a worker killed mid-way (#47's "scale past one machine").

    .venv/bin/python -m bench.burst [COUNT ...] [--mode ordered|due] [--workers N] [--nodes N]
                                    [--kill booking|scheduling|notification] [--cold]

(default: 1000 and 10000, both modes, one worker per service on one broker). Before the
burst, 48 bookings on every partition are released and their notices awaited (a warm-up: in
production the alert topic has long been read); ``--cold`` leaves it out.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
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
from bench.tools.profile_worker import PY_SPY, ROOT, summarise
from schemas.topics import AGENCY_REQUESTS, JAIL_BOOKING, NOTICE_ALERTS
from services.kafka.admin.topics import ensure_topics, partition_for
from services.simulator.places import FACILITIES
from tests import factories as f
from tests.support.poll import until
from tests.support.topics import Watch
from tests.support.workers import Worker, all_ready, stop_all, total

SERVICES = ("booking", "scheduling", "notification")
AGENCIES = ("dhs-ice", "usms", "state-doc")
JURISDICTIONS = tuple(f"us-burst-county{n:02d}" for n in range(50))
Message = tuple[str, bytes, bytes]
WINDOW_H = 48  # the default policy's notice window
# ``due``: the second every deadline falls due, after the schedules are read and armed
DUE_AFTER_S = 20.0
ARMED_PER_S = 400.0  # schedules booking and scheduling read a second, at the least
MODES = ("ordered", "due")
WARM_UP = 48  # bookings released before the burst, on every partition (``warm_population``)
NOTICES_PATTERN = r"^notices\.(dhs-ice|usms|state-doc)\.v1$"
COMMITTED = "read_committed"


def population(count: int) -> tuple[list[Message], list[tuple[str, str]]]:
    """(openings and requests, each booking's (jurisdiction, booking id))."""
    booked = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    before: list[Message] = []
    places: list[tuple[str, str]] = []
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
        before += [
            (JAIL_BOOKING.name, key.encode(), json.dumps(opened).encode()),
            (AGENCY_REQUESTS.name, key.encode(), json.dumps(request).encode()),
        ]
        places.append((jurisdiction, booking_id))
    return before, places


def warm_population() -> tuple[list[Message], list[tuple[str, str]]]:
    """A few bookings released before the burst, at least one on every partition: in
    production the notification service has long read ``notice.alerts.v1``, and each agency's
    topic exists. A partition never read before waits for its committed offset and for the
    fetch rounds that follow (``--cold`` measures that: up to ~7 s at 1,000 due)."""
    while True:
        before, places = population(WARM_UP)
        keys = (f"{jurisdiction}/{booking_id}" for jurisdiction, booking_id in places)
        if {partition_for(key, PARTITIONS) for key in keys} == set(range(PARTITIONS)):
            return before, places


async def warm_up(bootstrap: str, places: list[tuple[str, str]]) -> None:
    """Release the warm-up's bookings at once and wait for every one of their notices."""
    wanted = {f"{jurisdiction}/{booking_id}" for jurisdiction, booking_id in places}
    async with Watch(bootstrap, pattern=NOTICES_PATTERN, isolation_level=COMMITTED) as notices:
        await publish(bootstrap, schedules(places, hours_ahead(10)))
        await until(
            lambda: wanted <= {r.key for r in notices.records}, 300, "the warm-up's notices"
        )


def schedules(places: list[tuple[str, str]], release: datetime) -> list[Message]:
    """Every booking scheduled for release at ``release``."""
    at = release.isoformat()
    return [
        (
            JAIL_BOOKING.name,
            f"{jurisdiction}/{booking_id}".encode(),
            json.dumps(f.scheduled(at, booking_id=booking_id, jurisdiction=jurisdiction)).encode(),
        )
        for jurisdiction, booking_id in places
    ]


def hours_ahead(hours: float) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


def read_all(workers: dict[str, list[Worker]]) -> bool:
    """Booking and scheduling have read every input published so far (every worker of each
    that is running)."""
    return all(
        total(worker.metrics(), "releasewatch_consumer_lag") == 0
        for name in ("booking", "scheduling")
        for worker in workers[name]
        if worker.alive()
    )


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


@dataclass(frozen=True)
class Shape:
    """How the services run: ``workers`` per service on ``nodes`` brokers; ``kill``: the
    service one of whose workers is killed (-9) once half the notices are out (restarted at
    once when it is the only one)."""

    workers: int = 1
    nodes: int = 1
    kill: str | None = None
    cold: bool = False  # no warm-up: the alert topic's partitions read for the first time

    def __str__(self) -> str:
        killed = f", one {self.kill} worker killed mid-way" if self.kill else ""
        cold = ", cold (no warm-up)" if self.cold else ""
        return f"{self.workers} worker(s) per service on {self.nodes} broker(s){killed}{cold}"


async def one_burst(count: int, mode: str = "ordered", shape: Shape = Shape()) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix=f"bench-burst-{mode}-{count}-"))
    before, places = population(count)
    warm_before, warm_places = ([], []) if shape.cold else warm_population()
    keys = [f"{jurisdiction}/{booking_id}" for jurisdiction, booking_id in places]
    result: dict[str, Any] = {"count": count, "mode": mode, "shape": asdict(shape)}
    with embedded(nodes=shape.nodes) as broker:
        await ensure_topics(broker.bootstrap, PARTITIONS)
        result["floor_s"] = await floor(broker.bootstrap, count)
        workers = {
            name: [
                Worker(name, worker_env(broker.url, folder / f"{name}-{n}"), folder / f"{name}.log")
                for n in range(shape.workers)
            ]
            for name in SERVICES
        }
        every = [worker for group in workers.values() for worker in group]
        for worker in every:
            worker.start()
        try:
            await all_ready(every, 120)
            await publish(broker.bootstrap, before + warm_before)
            # every booking open and requested: scheduling has read all its inputs
            await until(lambda: read_all(workers), 600, "openings and requests read", every=1.0)
            if warm_places:
                await warm_up(broker.bootstrap, warm_places)
            result["rss_before_mib"] = rss(workers)
            result["store_before_mib"] = await asyncio.to_thread(store_memory, workers)
            cpu_before = cpu(workers)
            peak = dict(result["rss_before_mib"])
            store_peak = dict(result["store_before_mib"])
            sampling = True

            async def sample() -> None:
                ticks = 0
                while sampling:
                    for name, mib in rss(workers).items():
                        peak[name] = max(peak[name], mib)
                    if ticks % 4 == 0:  # over HTTP, from busy workers: every 2 s
                        held = await asyncio.to_thread(store_memory, workers)
                        for name, mib in held.items():
                            store_peak[name] = max(store_peak[name], mib)
                    ticks += 1
                    await asyncio.sleep(0.5)

            sampler = asyncio.create_task(sample())
            async with (
                # read committed: under BENCH_GUARANTEE=exactly_once a killed worker's open
                # transaction is aborted, and its records are never an agency's to read
                Watch(broker.bootstrap, NOTICE_ALERTS.name, isolation_level=COMMITTED) as alerts,
                Watch(
                    broker.bootstrap, pattern=NOTICES_PATTERN, isolation_level=COMMITTED
                ) as notices,
            ):
                if mode == "ordered":  # released 10 h from now: due at once, already late
                    started = time.time()
                    await publish(broker.bootstrap, schedules(places, hours_ahead(10)))
                    published = time.time() - started
                else:  # every deadline armed ahead, all falling due in one second
                    started = time.time() + DUE_AFTER_S + count / ARMED_PER_S
                    release = datetime.fromtimestamp(started, UTC) + timedelta(hours=WINDOW_H)
                    await publish(broker.bootstrap, schedules(places, release))
                    await until(lambda: read_all(workers), 1800, "schedules read", every=1.0)
                    result["armed_before_due_s"] = started - time.time()
                    published = 0.0
                spies = spy_on(every, folder)  # BENCH_PROFILE=SECONDS: py-spy on each
                wanted = set(keys)
                if shape.kill:
                    half = len(wanted) // 2
                    await until(
                        lambda: len({r.key for r in notices.records} & wanted) >= half,
                        1800,
                        "half the notices",
                        every=0.2,
                    )
                    victim = workers[shape.kill][0]
                    victim.kill()
                    result["killed_after_s"] = time.time() - started
                    if shape.workers == 1:
                        victim.start()
                await until(
                    lambda: wanted <= {r.key for r in notices.records},
                    1800,
                    "every notice of the burst",
                    every=0.5,
                )
                sampling = False
                await sampler
            summarise_spies(spies)
            result.update(
                published_in_s=published,
                rss_peak_mib=peak,
                store_peak_mib=store_peak,
                **timings(alerts, notices, keys, started),
            )
            if not shape.kill:  # a killed worker's CPU time is gone with it
                used = cpu(workers)
                result["cpu_ms_per_release"] = {
                    name: (used[name] - cpu_before[name]) * 1000 / count for name in SERVICES
                }
        finally:
            stop_all(every)
    result["ratio_to_floor"] = result["last_notice_after_s"] / result["floor_s"]
    show(result)
    return result


def spy_on(workers: list[Worker], folder: Path) -> list[tuple[Worker, Path, Any]]:
    """With ``BENCH_PROFILE=SECONDS``: py-spy records each worker's stacks for that long from
    now (the burst's start), without stopping it."""
    seconds = os.environ.get("BENCH_PROFILE")
    if not seconds:
        return []
    spies = []
    for number, worker in enumerate(workers):
        raw = folder / f"profile-{worker.name}-{number}.txt"
        command = [str(PY_SPY), "record", "--pid", str(worker.pid), "--output", str(raw)]
        command += ["--format", "raw", "--rate", "100", "--duration", seconds]
        command += ["--idle", "--threads", "--nonblocking"]
        spies.append((worker, raw, subprocess.Popen(command, stdout=subprocess.DEVNULL)))
    return spies


def summarise_spies(spies: list[tuple[Worker, Path, Any]]) -> None:
    """Where each profiled worker's main thread spent the burst (``profile_worker``'s summary);
    the stacks kept beside the results."""
    for worker, raw, spy in spies:
        spy.wait()
        print(f"--- {worker.name} (pid {worker.pid}) during the burst")
        summarise(raw, top=15)
        kept = ROOT / "bench" / "results" / f"profile-burst-{worker.name}.folded.gz"
        kept.write_bytes(gzip.compress(raw.read_bytes()))


def cpu(workers: dict[str, list[Worker]]) -> dict[str, float]:
    """Each service's CPU seconds so far (all its workers)."""
    return {name: sum(w.cpu_seconds() for w in group) for name, group in workers.items()}


def rss(workers: dict[str, list[Worker]]) -> dict[str, float]:
    """Each service's resident memory in MiB: its largest worker's."""
    return {
        name: max((w.rss_bytes() for w in group if w.alive()), default=0) / 2**20
        for name, group in workers.items()
    }


def store_memory(workers: dict[str, list[Worker]]) -> dict[str, float]:
    """What RocksDB holds in memory (block cache, write buffers, table readers: the
    ``releasewatch_store_memory_bytes`` gauge) in MiB, each service's largest worker: the
    part of its resident memory bounded by ``RELEASEWATCH_STORE_CACHE_MB`` per table."""
    return {
        name: max(
            (total(w.metrics(), "releasewatch_store_memory_bytes") for w in group if w.alive()),
            default=0,
        )
        / 2**20
        for name, group in workers.items()
    }


def timings(alerts: Watch, notices: Watch, keys: list[str], started: float) -> dict[str, Any]:
    """From ``started``: the last alert and notice, alert -> notice latencies, and ids seen
    more than once (at-least-once repeats; readers dedupe on them)."""
    first_alert: dict[str, float] = {}
    for record in alerts.records:
        first_alert.setdefault(record.key or "", record.timestamp)
    first_notice: dict[str, float] = {}
    for record in notices.records:
        first_notice.setdefault(record.key or "", record.timestamp)
    latencies = [(first_notice[k] - first_alert[k]) * 1000 for k in keys]
    return {
        "last_notice_after_s": max(first_notice[k] for k in keys) - started,
        "last_alert_after_s": max(first_alert[k] for k in keys) - started,
        "alert_to_notice_ms": {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99)},
        "alert_repeats": repeats(alerts, "alert_id"),
        "notice_repeats": repeats(notices, "notice_id"),
    }


def repeats(watch: Watch, field: str) -> int:
    """Records beyond the first carrying the same id (each record once: a reader can be handed
    one again when its pattern subscription picks up a new topic)."""
    records = {(r.topic, r.partition, r.offset): r.value for r in watch.records}
    seen = Counter(v["data"][field] for v in records.values() if isinstance(v, dict))
    return sum(count - 1 for count in seen.values())


def show(result: dict[str, Any]) -> None:
    lat = result["alert_to_notice_ms"]
    since = "the schedules" if result["mode"] == "ordered" else "the second all fell due"
    print(
        f"  {result['count']:>7,} releases ({result['mode']}, {Shape(**result['shape'])}): last "
        f"notice {result['last_notice_after_s']:.1f} s after {since} (last alert "
        f"{result['last_alert_after_s']:.1f} s); alert -> notice p50 {lat['p50']:,.0f} ms, p99 "
        f"{lat['p99']:,.0f} ms; floor (bare relay) {result['floor_s']:.2f} s, "
        f"x{result['ratio_to_floor']:.0f}; repeats: alerts {result['alert_repeats']}, notices "
        f"{result['notice_repeats']}"
    )
    if "cpu_ms_per_release" in result:
        print(
            "           CPU per release (its schedule to its notice), ms: "
            + ", ".join(f"{n} {result['cpu_ms_per_release'][n]:.2f}" for n in SERVICES)
        )
    print(
        "           peak RSS MiB "
        + ", ".join(
            f"{n} {result['rss_before_mib'][n]:.0f} -> {result['rss_peak_mib'][n]:.0f}"
            for n in SERVICES
        )
    )
    if "store_peak_mib" in result:
        print(
            "           of which RocksDB MiB "
            + ", ".join(
                f"{n} {result['store_before_mib'][n]:.0f} -> {result['store_peak_mib'][n]:.0f}"
                for n in SERVICES
            )
        )


async def run(
    counts: tuple[int, ...], modes: tuple[str, ...] = MODES, shape: Shape = Shape()
) -> dict[str, Any]:
    print(
        f"burst: flagged releases across {len(JURISDICTIONS)} jurisdictions and "
        f"{len(AGENCIES)} agencies, ordered at once and falling due at once; {shape}"
    )
    return {
        "bursts": [await one_burst(count, mode, shape) for mode in modes for count in counts],
        "measured_at": time.time(),
    }


def main(*counts: int, modes: tuple[str, ...] = MODES, shape: Shape = Shape()) -> dict[str, Any]:
    return asyncio.run(run(counts or (1_000, 10_000), modes, shape))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("counts", nargs="*", type=int)
    parser.add_argument("--mode", choices=MODES, action="append")
    parser.add_argument("--workers", type=int, default=1, help="per service")
    parser.add_argument("--nodes", type=int, default=1, help="brokers")
    parser.add_argument("--kill", choices=SERVICES, help="kill -9 one of its workers mid-way")
    parser.add_argument("--cold", action="store_true", help="no warm-up before the burst")
    args = parser.parse_args()
    shape = Shape(args.workers, args.nodes, args.kill, args.cold)
    figures = main(*args.counts, modes=tuple(args.mode or MODES), shape=shape)
    print(f"  results: {save('burst', {'machine': machine(), **figures})}")
