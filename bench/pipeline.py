"""End-to-end throughput of the three services on the embedded broker, against a bare
aiokafka consume -> produce loop over the same messages (the baseline, same process, same
broker, same partitions). Prints figures and the ratio; asserts nothing.

    .venv/bin/python -m bench.pipeline [EVENTS]

Traffic: the simulator (about 5 events per booking, ~4% flagged, some bad messages),
published as fast as aiokafka will take them; each stage is done when its output topic's
end offsets stop moving.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.runtime.broker import EmbeddedBroker, free_port
from services.runtime.topics import ensure_topics
from services.simulator.generator import JailSimulator, SimulatorConfig

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 8
QUIET_FOR = 3.0


async def end_offsets(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


async def publish(
    bootstrap: str,
    messages: list[tuple[str, bytes | None, bytes]],
    topic_override: str | None = None,
) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=5)
    await producer.start()
    started = time.perf_counter()
    try:
        for topic, key, value in messages:
            await producer.send(topic_override or topic, key=key, value=value)
        await producer.flush()
    finally:
        await producer.stop()
    return started


async def settle(bootstrap: str, topic: str, at_least: int, timeout: float) -> tuple[int, float]:
    """Wait until ``topic`` holds at least ``at_least`` messages and stops growing; return the
    count and the time it last grew."""
    last, last_change = -1, time.perf_counter()
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        count = await end_offsets(bootstrap, topic)
        if count != last:
            last, last_change = count, time.perf_counter()
        elif count >= at_least and time.perf_counter() - last_change >= QUIET_FOR:
            break
        await asyncio.sleep(0.25)
    return last, last_change


async def baseline(bootstrap: str, messages: list[tuple[str, bytes | None, bytes]]) -> float:
    """Bare aiokafka: read every message of one topic, write it to another."""
    await ensure_topics(bootstrap, PARTITIONS, specs=[])
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in ("bench.in", "bench.out")])
    await admin.close()
    await publish(bootstrap, messages, topic_override="bench.in")
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


def start(name: str, broker: EmbeddedBroker, data: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RELEASEWATCH_BROKER_URL": broker.url,
        "RELEASEWATCH_BROKER_FLAVOR": "tansu",
        "RELEASEWATCH_PARTITIONS": str(PARTITIONS),
        "RELEASEWATCH_LOG_LEVEL": "warning",
        "RELEASEWATCH_DATA_DIR": str(data / name),
        "RELEASEWATCH_LOG_FORMAT": "json",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "service", name, "--port", str(free_port())],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def main(count: int) -> None:
    simulator = JailSimulator(SimulatorConfig(seed=5), lambda: datetime.now(UTC))
    outgoing = [(o.topic, o.key, o.value) for o in islice(simulator.events(), count)]
    jail = sum(1 for t, _, _ in outgoing if t == "jail.booking.v1")
    print(
        f"pipeline: {count:,} simulator events ({jail:,} jail events), "
        f"{PARTITIONS} partitions, one worker per service"
    )
    with EmbeddedBroker() as broker:
        rate = await baseline(broker.bootstrap, outgoing)
        print(f"  baseline aiokafka consume->produce   {rate:10,.0f} events/s")
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as data:
        await ensure_topics(broker.bootstrap, PARTITIONS)
        workers = [
            start(name, broker, Path(data)) for name in ("booking", "scheduling", "notification")
        ]
        try:
            await asyncio.sleep(12)  # group joins (session timeout / 2 on this broker)
            started = await publish(broker.bootstrap, outgoing)
            states, done = await settle(broker.bootstrap, "booking.state.v1", 1, 600)
            booking_rate = jail / (done - started)
            print(
                f"  booking: {states:,} states           {booking_rate:10,.0f} events/s"
                f"   (x{booking_rate / rate:.2f} of baseline)"
            )
            schedules, done = await settle(broker.bootstrap, "release.schedule.v1", 1, 600)
            alerts, _ = await settle(broker.bootstrap, "notice.alerts.v1", 0, 120)
            notices, done_n = await settle(broker.bootstrap, "notices.dhs-ice.v1", 0, 120)
            end_to_end = count / (max(done, done_n) - started)
            print(f"  scheduling: {schedules:,} schedules, {alerts:,} alerts")
            print(f"  notification: {notices:,} dhs-ice notices")
            print(
                f"  end to end (first publish to last output) {end_to_end:10,.0f} events/s"
                f"   (x{end_to_end / rate:.2f} of baseline)"
            )
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(30)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000))
