"""The cost of placement (issue 42): the booking worker working off the same jail events
published three ways, each on a broker of its own, one worker, 8 partitions:

- murmur2: as aiokafka and Java place keys, every message already on its booking's
  partition (handled in place: the check is one hash per message);
- crc32: as librdkafka's default partitioner places them (most moved);
- misplaced: every message pinned to a partition other than its booking's (all moved).

Printed: jail events decided per second and CPU per jail event, each as a ratio to the
murmur2 run of the same process; the in-process cost of the placement check per message
beside the worker's CPU per message; and the bare aiokafka consume -> produce baseline over
the same messages. Asserts nothing.

    .venv/bin/python -m bench.placement [EVENTS]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

from bench.harness import PARTITIONS, Message, embedded, machine, save, worker_env
from bench.pipeline import baseline, traffic
from schemas.jail_booking import JAIL_EVENT
from schemas.owned_topics import placement_topic
from schemas.topics import JAIL_BOOKING
from services.kafka.admin.topics import ensure_topics, partition_for
from services.streams import placement
from services.streams.codec import Decoded, RawMessage, decode
from services.streams.placement import where
from tests.support.poll import until
from tests.support.workers import Worker, total

PLACED = placement_topic("booking", JAIL_BOOKING).name
WAYS = ("murmur2", "crc32", "misplaced")


def home_of(value: bytes) -> int | None:
    """The booking's partition of a jail event the service would accept (None: refused at
    the edge, dead-lettered where it lands, never moved)."""
    raw = RawMessage(JAIL_BOOKING.name, 0, 0, None, value)
    result = decode(raw, JAIL_EVENT, JAIL_BOOKING.event_types)
    if not isinstance(result, Decoded):
        return None
    return partition_for(result.event.key, PARTITIONS)


def placed(messages: list[Message], way: str) -> tuple[list[tuple[Message, int | None]], int]:
    """Each jail event with the partition ``way`` puts it on (None: the client's murmur2),
    and how many the service will move."""
    out: list[tuple[Message, int | None]] = []
    moves = 0
    for message in messages:
        _, key, value = message
        home = home_of(value)
        if way == "murmur2":
            partition = None
        elif way == "crc32":
            partition = zlib.crc32(key or b"") % PARTITIONS
        else:
            partition = ((home or 0) + 1) % PARTITIONS
        lands = partition_for(key.decode(), PARTITIONS) if partition is None and key else partition
        moves += home is not None and lands != home
        out.append((message, partition))
    return out, moves


async def publish_placed(bootstrap: str, messages: list[tuple[Message, int | None]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=2)
    await producer.start()
    try:
        for (topic, key, value), partition in messages:
            await producer.send(topic, key=key, value=value, partition=partition)
        await producer.flush()
    finally:
        await producer.stop()


def taken(worker: Worker, topic: str) -> float:
    return total(worker.metrics(), "releasewatch_messages_in_total", topic=topic)


async def one_way(messages: list[Message], way: str, data: Path) -> dict[str, Any]:
    arranged, moves = placed(messages, way)
    with embedded(data / f"broker-{way}") as broker:
        await ensure_topics(broker.bootstrap, PARTITIONS)
        await publish_placed(broker.bootstrap, arranged)
        env = worker_env(broker.url, data / f"booking-{way}")
        worker = Worker("booking", env, data / f"booking-{way}.log").start()
        try:
            first = await until(lambda: taken(worker, JAIL_BOOKING.name) > 0, 120, "starts", 0.05)
            cpu = worker.cpu_seconds()

            def done() -> bool:
                return taken(worker, JAIL_BOOKING.name) >= len(messages) and (
                    taken(worker, PLACED) >= moves
                )

            finished = await until(done, 900, f"booking done ({way})", 0.1)
            used = worker.cpu_seconds() - cpu
            counted = total(worker.metrics(), "releasewatch_inputs_placed_total")
        finally:
            worker.stop()
    seconds = finished - first
    return {
        "events": len(messages),
        "moved": moves,
        "moved_counted": counted,
        "seconds": seconds,
        "per_second": len(messages) / seconds,
        "cpu_us_per_event": used / len(messages) * 1e6,
    }


def check_cost(messages: list[Message], rounds: int = 5) -> float:
    """The placement check for a message in place, in process: microseconds per message, over
    the traffic in its order (a booking's events close together, as they come)."""
    raws = []
    for _, key, value in messages:
        home = home_of(value)
        if home is not None and key:
            raws.append((RawMessage(JAIL_BOOKING.name, home, 0, key, value), key.decode()))
    best = float("inf")
    for _ in range(rounds):
        placement._home.cache_clear()  # each round from cold: a booking's first event misses
        started = time.perf_counter()
        for raw, key in raws:
            where(raw, key, PARTITIONS, True).in_place  # noqa: B018 (the work measured)
        best = min(best, (time.perf_counter() - started) / len(raws))
    return best * 1e6


def main(count: int) -> dict[str, Any]:
    messages = [m for m in traffic(count * 2) if m[0] == JAIL_BOOKING.name][:count]
    results: dict[str, Any] = {"events": len(messages), "partitions": PARTITIONS}
    with tempfile.TemporaryDirectory(prefix="bench-placement-") as folder:
        data = Path(folder)
        with embedded(data / "broker-baseline") as broker:
            results["baseline_per_second"] = asyncio.run(baseline(broker.bootstrap, messages))
        for way in WAYS:
            results[way] = asyncio.run(one_way(messages, way, data))
    results["check_us_per_message"] = check_cost(messages)
    well = results["murmur2"]
    print(f"placement, {len(messages):,} jail events, booking worker, {PARTITIONS} partitions:")
    print(f"  bare aiokafka consume -> produce: {results['baseline_per_second']:,.0f}/s")
    for way in WAYS:
        run = results[way]
        run["ratio_to_murmur2"] = run["per_second"] / well["per_second"]
        run["cpu_ratio_to_murmur2"] = run["cpu_us_per_event"] / well["cpu_us_per_event"]
        print(
            f"  {way:>9}: {run['moved']:,} moved ({run['moved_counted']:,.0f} counted), "
            f"{run['per_second']:,.0f} events/s (x{run['ratio_to_murmur2']:.2f} of murmur2), "
            f"{run['cpu_us_per_event']:.0f} us CPU per event "
            f"(x{run['cpu_ratio_to_murmur2']:.2f})"
        )
    share = results["check_us_per_message"] / well["cpu_us_per_event"]
    print(
        f"  the check for a message in place: {results['check_us_per_message']:.2f} us, "
        f"{share:.2%} of the worker's CPU per event"
    )
    return results


if __name__ == "__main__":
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    save("placement", {"machine": machine(), **main(events)})
