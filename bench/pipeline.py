"""Throughput of the services on the embedded broker, against a bare aiokafka
consume -> produce loop over the same messages and partitions (the baseline, measured in
the same run). Prints figures and ratios; asserts nothing.

    .venv/bin/python -m bench.pipeline [EVENTS]
    .venv/bin/python -m bench.pipeline --scaling [EVENTS]   # 1/2/4 workers, 8/32 partitions

Traffic: the jail simulator (about 5 events per booking, ~4% flagged, 1% bad messages).

- per service: each service alone, one worker, working off a backlog of its whole input
  (what the previous service produced), timed from its first message to its last, read
  from its own /metrics;
- end to end: all three services running, the traffic published as fast as aiokafka takes
  it, timed from the first publish to the last notice on an agency topic, with every
  service's progress sampled for the throughput-over-time plot.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.harness import PARTITIONS, Message, create_topics, embedded, publish, worker_env
from services.kafka.admin.topics import ensure_topics
from services.simulator.generator import JailSimulator, SimulatorConfig
from tests.support.poll import until
from tests.support.topics import Watch
from tests.support.workers import Worker, all_ready, total

SERVICES = ("booking", "scheduling", "notification")
INPUTS = {
    "booking": ("jail.booking.v1",),
    "scheduling": ("booking.state.v1", "agency.requests.v1"),
    # notification keeps each booking's state too (the copy its notices are rendered from)
    "notification": ("notice.alerts.v1", "notice.acks.v1", "booking.state.v1", "booking.keys.v1"),
}


def traffic(count: int, seed: int = 5) -> list[Message]:
    simulator = JailSimulator(SimulatorConfig(seed=seed), lambda: datetime.now(UTC))
    return [(o.topic, o.key, o.value) for o in islice(simulator.events(), count)]


async def baseline(bootstrap: str, messages: list[Message], partitions: int = PARTITIONS) -> float:
    """Bare aiokafka: read every message of one topic, write it to another. events/s."""
    await create_topics(bootstrap, ("bench.in", "bench.out"), partitions)
    await publish(bootstrap, [("bench.in", key, value) for _, key, value in messages])
    consumer = AIOKafkaConsumer(
        "bench.in",
        bootstrap_servers=bootstrap,
        group_id="bench",
        auto_offset_reset="earliest",
        enable_auto_commit=True,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=5)
    await consumer.start()
    await producer.start()
    moved = 0
    started = None
    try:
        while moved < len(messages):
            batches = await consumer.getmany(timeout_ms=500)
            if started is None and batches:
                started = time.perf_counter()
            for records in batches.values():
                for record in records:
                    await producer.send("bench.out", key=record.key, value=record.value)
                    moved += 1
        await producer.flush()
    finally:
        await consumer.stop()
        await producer.stop()
    return len(messages) / (time.perf_counter() - (started or time.perf_counter()))


def taken(worker: Worker) -> float:
    metrics = worker.metrics()
    return sum(
        total(metrics, "releasewatch_messages_in_total", topic=t) for t in INPUTS[worker.name]
    )


async def work_off(worker: Worker, expected: float, timeout: float = 900) -> dict[str, float]:
    """Time ``worker`` from its first input to its ``expected``-th, and the CPU its process
    used meanwhile per message (less sensitive than the rate to what else runs beside it)."""
    first = await until(lambda: taken(worker) > 0, 120, f"{worker.name} starts", every=0.05)
    cpu = worker.cpu_seconds()
    done = await until(lambda: taken(worker) >= expected, timeout, f"{worker.name} done", 0.1)
    used = worker.cpu_seconds() - cpu
    return {
        "messages": expected,
        "seconds": done - first,
        "per_second": expected / (done - first),
        "cpu_us_per_message": used / expected * 1e6,
    }


async def per_service(
    messages: list[Message], data: Path, extra: dict[str, str] | None = None
) -> dict[str, dict[str, float]]:
    """Each service alone on its backlog; ``extra``: settings of every worker."""
    results = {}
    with embedded() as broker:
        await ensure_topics(broker.bootstrap, PARTITIONS)
        await publish(broker.bootstrap, messages)
        outputs: dict[str, float] = {
            "jail.booking.v1": sum(1 for t, _, _ in messages if t == "jail.booking.v1"),
            "agency.requests.v1": sum(1 for t, _, _ in messages if t == "agency.requests.v1"),
            "notice.acks.v1": 0,
        }
        for name in SERVICES:
            if name == "notification":  # realistic traffic raises few alerts: add a backlog
                outputs["notice.alerts.v1"] += await alert_backlog(broker.bootstrap, ALERTS)
            env = worker_env(broker.url, data / f"alone-{name}", **(extra or {}))
            worker = Worker(name, env, data / f"alone-{name}.log").start()
            try:
                expected = sum(outputs.get(t, 0) for t in INPUTS[name])
                results[name] = await work_off(worker, expected)
                metrics = worker.metrics()
                for series, value in metrics.items():
                    if series.startswith("releasewatch_messages_out_total"):
                        topic = series.split('topic="')[1].split('"')[0]
                        outputs[topic] = outputs.get(topic, 0) + value
            finally:
                worker.stop()
    return results


ALERTS = 5_000


async def alert_backlog(bootstrap: str, count: int) -> int:
    """``count`` copies of a real alert from the scheduling stage, each for its own booking
    (the same jurisdiction, so the same policy), so notification has a backlog to work off."""
    async with Watch(bootstrap, pattern=r"^notice\.alerts\.v1$") as alerts:
        await until(lambda: any(r.value for r in alerts.records), 30, "an alert to copy")
    found = [r.value for r in alerts.records if r.value]
    template = next((v for v in found if v["data"]["kind"] == "notice_due"), found[0])
    copies: list[Message] = []
    for number in range(count):
        alert = json.loads(json.dumps(template))
        alert["booking_id"] = f"bench-{number:07d}"
        alert["event_id"] = alert["data"]["alert_id"] = f"bench-alert-{number:07d}"
        alert["data"]["request_id"] = f"bench-request-{number:07d}"
        key = f"{alert['jurisdiction']}/{alert['booking_id']}".encode()
        copies.append(("notice.alerts.v1", key, json.dumps(alert).encode()))
    await publish(bootstrap, copies)
    return count


def taken_by(workers: list[Worker]) -> float:
    return sum(taken(worker) for worker in workers)


def sent_by(workers: list[Worker], topic: str) -> float:
    return sum(
        total(worker.metrics(), "releasewatch_messages_out_total", topic=topic)
        for worker in workers
    )


async def end_to_end(
    messages: list[Message],
    data: Path,
    workers: int = 1,
    partitions: int = PARTITIONS,
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    """All three services, ``workers`` each (sharing the partitions), topics of
    ``partitions`` partitions: from the first publish to the last notice. ``extra``:
    settings of every worker."""
    with embedded() as broker:
        await ensure_topics(broker.bootstrap, partitions)
        group = {
            name: [
                Worker(
                    name,
                    worker_env(
                        broker.url,
                        data / f"e2e-{name}-p{partitions}",
                        RELEASEWATCH_PARTITIONS=str(partitions),
                        **(extra or {}),
                    ),
                    data / f"{name}-p{partitions}-w{workers}-{number}.log",
                )
                for number in range(workers)
            ]
            for name in SERVICES
        }
        everyone = [worker for members in group.values() for worker in members]
        for worker in everyone:
            worker.start()
        try:
            await all_ready(everyone, timeout=90 + 30 * len(everyone))
            jail = sum(1 for t, _, _ in messages if t == "jail.booking.v1")
            requests = len(messages) - jail
            series: list[dict[str, float]] = []
            async with Watch(broker.bootstrap, pattern=r"^notices\..*\.v1$") as notices:
                started = time.time()
                sampler = asyncio.create_task(sample(group, started, series))
                sent = await publish(broker.bootstrap, messages)

                def complete() -> bool:
                    states = sent_by(group["booking"], "booking.state.v1")
                    keys = sent_by(group["booking"], "booking.keys.v1")
                    alerts = sent_by(group["scheduling"], "notice.alerts.v1")
                    return (
                        taken_by(group["booking"]) >= jail
                        and taken_by(group["scheduling"]) >= states + requests
                        and taken_by(group["notification"]) >= alerts + states + keys
                    )

                await until(complete, 900, "every stage done", every=0.5)
                await asyncio.sleep(1.0)  # the collector reads the last notices
                sampler.cancel()
            last = max((r.timestamp for r in notices.records), default=time.time())
            seconds = last - sent[0]
            return {
                "events": len(messages),
                "workers_per_service": workers,
                "partitions": partitions,
                "seconds": seconds,
                "per_second": len(messages) / seconds,
                "notices": len(notices.records),
                "publish_seconds": sent[-1] - sent[0],
                "series": series,
            }
        finally:
            for worker in everyone:
                worker.stop()


async def sample(
    group: dict[str, list[Worker]], started: float, out: list[dict[str, float]]
) -> None:
    while True:
        row = {"t": time.time() - started}
        for name, workers in group.items():
            row[name] = await asyncio.to_thread(taken_by, workers)
        out.append(row)
        await asyncio.sleep(0.5)


async def scaling(
    count: int, workers: tuple[int, ...] = (1, 2, 4), partitions: tuple[int, ...] = (8, 32)
) -> dict[str, Any]:
    """End to end with 1, 2 and 4 workers per service, on 8 and 32 partitions, against the
    bare aiokafka loop on the same partitions (same run)."""
    messages = traffic(count)
    print(
        f"scaling: {count:,} simulator events end to end, workers per service {workers}, "
        f"partitions {partitions}"
    )
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        for parts in partitions:
            with embedded() as broker:
                bare = await baseline(broker.bootstrap, messages, parts)
            print(f"  {parts} partitions: bare aiokafka consume->produce {bare:,.0f} events/s")
            for number in workers:
                e2e = await end_to_end(messages, Path(folder) / f"w{number}", number, parts)
                e2e.pop("series")
                rows.append({**e2e, "baseline_per_second": bare})
                one = next(
                    (r for r in rows if r["partitions"] == parts and r["workers_per_service"] == 1),
                    e2e,
                )
                rate = e2e["per_second"]
                print(
                    f"  {parts} partitions, {number} worker(s) per service: {rate:,.0f} events/s "
                    f"end to end (x{rate / bare:.3f} of bare, x{rate / one['per_second']:.2f} "
                    f"of one worker)"
                )
    return {"events": count, "rows": rows}


async def run(count: int) -> dict[str, Any]:
    messages = traffic(count)
    jail = sum(1 for t, _, _ in messages if t == "jail.booking.v1")
    print(
        f"pipeline: {count:,} simulator events ({jail:,} jail events, "
        f"{count - jail:,} notice requests), {PARTITIONS} partitions, one worker per service"
    )
    with embedded() as broker:
        rate = await baseline(broker.bootstrap, messages)
    print(f"  baseline: bare aiokafka consume->produce {rate:10,.0f} events/s")
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        alone = await per_service(messages, data)
        for name, figures in alone.items():
            speed = figures["per_second"]
            print(
                f"  {name + ' alone':<22} {figures['messages']:8,.0f} inputs "
                f"{speed:10,.0f} /s   (x{speed / rate:.3f} of baseline), "
                f"{figures['cpu_us_per_message']:,.0f} us of CPU per input"
            )
        e2e = await end_to_end(messages, data)
    print(
        f"  end to end (first publish -> last notice) {e2e['per_second']:8,.0f} events/s "
        f"  (x{e2e['per_second'] / rate:.3f} of baseline; {e2e['seconds']:.1f} s, "
        f"{e2e['notices']:,} notices)"
    )
    return {"events": count, "baseline_per_second": rate, "per_service": alone, "end_to_end": e2e}


def main(count: int = 20_000) -> dict[str, Any]:
    return asyncio.run(run(count))


def scaling_main(count: int = 20_000) -> dict[str, Any]:
    return asyncio.run(scaling(count))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--scaling"]:
        from bench import plots
        from bench.harness import machine, save

        curve = scaling_main(int(sys.argv[2]) if len(sys.argv) > 2 else 20_000)
        save("scaling", {"machine": machine(), **curve})
        print(f"  plot: {plots.scaling(curve)}")
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
