"""Notice latency at a steady offered load: from the publish of the event that makes a
notice due now to that notice on the agency's topic (its producer timestamp). Prints
p50/p95/p99 over the run and for each minute of it (a slow climb shows there), and their
ratio to a baseline; asserts nothing. ``make bench`` runs 10 minutes at 1,000 events/s.

    .venv/bin/python -m bench.latency [RATE] [SECONDS]

The baseline, on its own fresh embedded broker in the same run: the same messages at the
same rate through three bare aiokafka consume -> produce relays (one per service), read as
the services' consumers read (50 ms fetch wait); its latency is from the publish of each
probe's trigger to that message on the third relay's topic.

The load is the jail simulator at RATE events/s in total. Among it, every PROBE_EVERY
seconds, a probe: a flagged booking (notices: all) released 10 h from now, whose notice
request is published last: the notice is due the moment the request is in.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.harness import (
    PARTITIONS,
    ROOT,
    Message,
    create_topics,
    embedded,
    percentile,
    publish,
    worker_env,
)
from services.kafka.admin.topics import ensure_topics
from services.simulator.generator import JailSimulator, SimulatorConfig
from tests.support.poll import until
from tests.support.topics import Watch
from tests.support.workers import Worker, all_ready

PROBE_EVERY = 0.25  # s
HOPS = [
    f"bench.hop{number}" for number in range(len(("booking", "scheduling", "notification")) + 1)
]
SERVICES = ("booking", "scheduling", "notification")


def offered_load(rate: float, seconds: float) -> tuple[list[Message], dict[int, str]]:
    """The messages to publish in order at ``rate``, and which positions are probe triggers
    (position -> booking key)."""
    simulator = JailSimulator(SimulatorConfig(seed=17), lambda: datetime.now(UTC))
    background = simulator.events()
    messages: list[Message] = []
    triggers: dict[int, str] = {}
    probe_every = max(4, round(rate * PROBE_EVERY))
    while len(messages) < rate * seconds:
        if len(messages) % probe_every == 0:
            probe = simulator.flagged(datetime.now(UTC) + timedelta(hours=10))
            messages.extend((o.topic, o.key, o.value) for o in probe)
            triggers[len(messages) - 1] = (probe[-1].key or b"").decode()
        else:
            outgoing = next(background)
            messages.append((outgoing.topic, outgoing.key, outgoing.value))
    return messages, triggers


async def relay(bootstrap: str, source: str, target: str) -> None:
    """Bare aiokafka: every message of ``source`` to ``target``, same key, until cancelled."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_wait_ms=50,  # as the services read on Tansu
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=0)
    await consumer.start()
    await producer.start()
    consumer.assign([TopicPartition(source, number) for number in range(PARTITIONS)])
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    await producer.send(target, key=record.key, value=record.value)
    finally:
        await consumer.stop()
        await producer.stop()


async def baseline(
    messages: list[Message], triggers: dict[int, str], rate: float
) -> dict[str, float]:
    """The same messages at the same rate through bare relays, one per service: latency
    percentiles (ms) of the probe triggers, from publish to the last relay's topic."""
    with embedded() as broker:
        await ensure_topics(broker.bootstrap, PARTITIONS)
        await create_topics(broker.bootstrap, HOPS)
        relays = [
            asyncio.create_task(relay(broker.bootstrap, source, target))
            for source, target in pairwise(HOPS)
        ]
        try:
            async with Watch(broker.bootstrap, pattern=f"^{HOPS[-1]}$") as arrived:
                hop = [(HOPS[0], key, value) for _, key, value in messages]
                sent = await publish(broker.bootstrap, hop, rate=rate)
                wanted = {messages[position][2] for position in triggers}
                ids = {json.loads(value)["event_id"] for value in wanted}

                def all_relayed() -> bool:
                    return ids <= {r.value["event_id"] for r in arrived.records if r.value}

                await until(all_relayed, 120 + seconds_of(messages, rate), "every probe relayed")
            at = {}
            for record in arrived.records:
                if record.value:
                    at.setdefault(record.value["event_id"], record.timestamp)
        finally:
            for task in relays:
                task.cancel()
            await asyncio.gather(*relays, return_exceptions=True)
    latencies = [
        at[json.loads(messages[position][2])["event_id"]] - sent[position] for position in triggers
    ]
    figures: dict[str, Any] = {f"p{p}": percentile(latencies, p) * 1000 for p in (50, 95, 99)}
    figures["max"] = max(latencies) * 1000
    figures["per_minute"] = per_minute(
        [
            (sent[position] - sent[0], latency * 1000)
            for position, latency in zip(triggers, latencies, strict=True)
        ]
    )
    return figures


def per_minute(over_time: list[tuple[float, float]]) -> list[dict[str, float]]:
    """p50/p95/p99 (ms) of the probes sent in each minute of the run, in order."""
    minutes: dict[int, list[float]] = {}
    for sent, latency in over_time:
        minutes.setdefault(int(sent // 60), []).append(latency)
    return [
        {
            "minute": minute + 1,
            "probes": len(values),
            **{f"p{p}": percentile(values, p) for p in (50, 95, 99)},
        }
        for minute, values in sorted(minutes.items())
    ]


async def run(rate: float = 1000, seconds: float = 600, **settings: str) -> dict[str, Any]:
    """``settings``: RELEASEWATCH_* variables for the workers (to compare a setting)."""
    messages, triggers = offered_load(rate, seconds)
    print(
        f"latency: {rate:,.0f} events/s offered for {seconds:.0f} s "
        f"({len(messages):,} events, {len(triggers)} probes)"
    )
    bare = await baseline(messages, triggers, rate)
    print(
        "  baseline: three bare aiokafka relays "
        + "  ".join(f"{name} {bare[name]:,.0f} ms" for name in ("p50", "p95", "p99", "max"))
    )
    data = ROOT / "test-artifacts" / f"latency-{int(time.time())}"  # worker logs, kept
    data.mkdir(parents=True, exist_ok=True)
    with embedded() as broker:
        await ensure_topics(broker.bootstrap, PARTITIONS)
        workers = [
            Worker(
                name, worker_env(broker.url, data / name, **settings), data / f"{name}.log"
            ).start()
            for name in SERVICES
        ]
        try:
            await all_ready(workers)
            async with Watch(broker.bootstrap, pattern=r"^notices\.dhs-ice\.v1$") as notices:
                sent = await publish(broker.bootstrap, messages, rate=rate)
                wanted = set(triggers.values())

                def all_noticed() -> bool:
                    return wanted <= {r.key for r in notices.records}

                # A backlog left at the end drains at the services' rate: allow as long again
                # as the run (at 1,000 events/s the three services fall behind on 2 cores).
                allowed = 120 + seconds_of(messages, rate)
                try:
                    await until(all_noticed, allowed, "a notice for every probe")
                except TimeoutError:
                    missing = sorted(wanted - {r.key for r in notices.records})
                    print(f"  no notice within {allowed:.0f} s for {missing}; logs: {data}")
                    raise
            first_notice: dict[str, float] = {}
            for record in notices.records:
                if record.key in wanted and record.key not in first_notice:
                    first_notice[record.key] = record.timestamp
            latencies = [first_notice[key] - sent[position] for position, key in triggers.items()]
            over_time = [  # (s since the first publish, latency ms), in publish order
                (sent[position] - sent[0], (first_notice[key] - sent[position]) * 1000)
                for position, key in sorted(triggers.items())
            ]
            achieved = len(messages) / (sent[-1] - sent[0])
        finally:
            for worker in workers:
                worker.stop()
    figures = {f"p{p}": percentile(latencies, p) * 1000 for p in (50, 95, 99)}
    figures["max"] = max(latencies) * 1000
    print(
        f"  achieved offered rate {achieved:,.0f} events/s; notice latency "
        + "  ".join(
            f"{name} {value:,.0f} ms (x{value / bare[name]:.1f})" for name, value in figures.items()
        )
    )
    minutes = per_minute(over_time)
    bare_minutes = {row["minute"]: row for row in bare["per_minute"]}
    for row in minutes:
        base = bare_minutes.get(row["minute"], {})
        print(
            f"  minute {row['minute']:>2}: "
            + "  ".join(
                f"p{p} {row[f'p{p}']:,.0f} ms (bare {base.get(f'p{p}', float('nan')):,.0f})"
                for p in (50, 95, 99)
            )
        )
    return {
        "per_minute_ms": minutes,
        "baseline_ms": bare,
        "offered_per_second": rate,
        "achieved_per_second": achieved,
        "seconds": seconds,
        "probes": len(latencies),
        "latency_ms": figures,
        "samples_ms": sorted(latency * 1000 for latency in latencies),
        "over_time": over_time,
        "measured_at": time.time(),
    }


def seconds_of(messages: list[Message], rate: float) -> float:
    return len(messages) / rate


def main(rate: float = 1000, seconds: float = 600) -> dict[str, Any]:
    return asyncio.run(run(rate, seconds))


if __name__ == "__main__":
    from bench import plots
    from bench.harness import machine, save

    arguments = [float(a) for a in sys.argv[1:3]]
    notices = main(*arguments)
    save("latency", {"machine": machine(), **notices})
    print(f"  plot: {plots.latency(notices)}")
    print(f"  plot: {plots.latency_per_minute(notices)}")
