"""What a batched loop outside faust would reach with the booking worker's own work: the
headroom issue 18's batching asks about, measured instead of guessed.

Three readers of the same jail events on the embedded broker, one after the other, in the
same run:

- bare: a bare aiokafka loop that reads batches (``getmany``, at most 500 records), writes
  each record to another topic and commits the batch once every write is acknowledged;
- batched booking: the same loop doing the booking worker's work per message
  (``bench.floor``'s step: decode and validate, read the booking's record, decide, encode),
  sending the state and the record's changelog write without awaiting each, dead-lettering
  what does not decode, and committing the batch only once all its outputs are acknowledged
  (the worker's guarantee, kept per batch instead of per message);
- the booking worker itself (faust, one message at a time), as production starts it;
- a bare faust relay (``bench.tools.faust_relay``: plain faust, no releasewatch code), one
  event at a time and in faust's batches (``stream.take_events``): what faust's own reading
  costs, and whether its batching buys anything.

Left out of the batched loop, so its figure is an upper bound: the gap guard, tracing,
metrics, the per-message log context and the dead letter's envelope. Prints events/s, the
CPU its process used per message (for the loops, this process; the broker not counted for
any of them) and the ratios; asserts nothing.

    .venv/bin/python -m bench.batched [EVENTS]
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.floor import Store, booking_stage
from bench.harness import PARTITIONS, ROOT, create_topics, embedded, publish, worker_env
from bench.pipeline import traffic, work_off
from schemas.topics import JAIL_BOOKING
from services.booking.domain import Accepted, BookingRecord
from services.core.outcomes import Rejected
from services.kafka.admin.topics import ensure_topics
from services.kafka.broker.process import die_with_parent_preexec
from services.streams.app import MAX_POLL_RECORDS  # as the workers poll
from services.streams.codec import Invalid, RawMessage
from tests.support.poll import until
from tests.support.workers import Worker

Output = tuple[str, bytes | None, bytes]
Step = Callable[[RawMessage], Iterable[Output]]


async def loop(bootstrap: str, group: str, count: int, step: Step) -> dict[str, float]:
    """Read ``count`` jail events in batches; each batch's outputs sent without awaiting
    each, its offsets committed once they are all acknowledged. Timed from the first batch."""
    consumer = AIOKafkaConsumer(
        JAIL_BOOKING.name,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=MAX_POLL_RECORDS,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await consumer.start()
    await producer.start()
    handled, started, cpu = 0, 0.0, 0.0
    try:
        while handled < count:
            batches = await consumer.getmany(timeout_ms=500, max_records=MAX_POLL_RECORDS)
            if not batches:
                continue
            if not started:
                started, cpu = time.perf_counter(), time.process_time()
            deliveries = []
            ends: dict[TopicPartition, int] = {}
            for tp, records in batches.items():
                for record in records:
                    raw = RawMessage(
                        tp.topic, tp.partition, record.offset, record.key, record.value
                    )
                    for topic, key, value in step(raw):
                        deliveries.append(await producer.send(topic, value, key=key))
                ends[tp] = records[-1].offset + 1
                handled += len(records)
            await asyncio.gather(*deliveries)  # acknowledged, then committed
            await consumer.commit(ends)
        seconds = time.perf_counter() - started
        used = time.process_time() - cpu
    finally:
        await consumer.stop()
        await producer.stop()
    return {
        "messages": count,
        "seconds": seconds,
        "per_second": count / seconds,
        "cpu_us_per_message": used / count * 1e6,
    }


def bare(raw: RawMessage) -> Iterable[Output]:
    return [("bench.out", raw.key, raw.value or b"")]


def booking_work() -> Step:
    """The booking worker's work per jail event, with the writes it would make."""
    store = Store(BookingRecord)
    work, states = booking_stage(store)

    def step(raw: RawMessage) -> Iterable[Output]:
        try:
            outcome = work(raw)
        except Exception:  # what the worker dead-letters as an internal error
            outcome = None
        if outcome is None or isinstance(outcome, Invalid | Rejected):
            return [("bench.deadletter", raw.key, raw.value or b"")]
        if not isinstance(outcome, Accepted):  # a duplicate or a stale event: dropped
            return []
        _, key, state = states[-1]
        return [("bench.states", key, state), ("bench.changelog", key, store.data[key.decode()])]

    return step


def start_relay(
    url: str, mode: str, count: int, result: Path, log: Path
) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        command = [sys.executable, "-m", "bench.tools.faust_relay", url, mode, str(count)]
        return subprocess.Popen(
            [*command, str(result)],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent_preexec,
        )


async def faust_relay(url: str, mode: str, count: int, folder: Path) -> dict[str, float]:
    """``bench.tools.faust_relay`` in its own process until it has relayed ``count``."""
    result, log = folder / f"faust-{mode}.json", folder / f"faust-{mode}.log"
    process = start_relay(url, mode, count, result, log)
    try:
        await until(lambda: result.exists() or process.poll() is not None, 900, mode)
        if not result.exists():
            raise RuntimeError(f"faust relay {mode} stopped:\n{log.read_text()[-2000:]}")
        figures: dict[str, float] = json.loads(result.read_text())
        return figures
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def run(count: int) -> dict[str, Any]:
    messages = [m for m in traffic(count) if m[0] == JAIL_BOOKING.name]
    jail = len(messages)
    print(f"batched: {jail:,} jail events, {PARTITIONS} partitions, one reader at a time")
    results: dict[str, Any] = {"jail_events": jail}
    with embedded() as broker, tempfile.TemporaryDirectory() as folder:
        await ensure_topics(broker.bootstrap, PARTITIONS)
        await create_topics(
            broker.bootstrap,
            ("bench.out", "bench.states", "bench.changelog", "bench.deadletter", "bench.faust-out"),
        )
        await publish(broker.bootstrap, messages)
        results["bare"] = await loop(broker.bootstrap, "bench-bare", jail, bare)
        results["batched_booking"] = await loop(
            broker.bootstrap, "bench-batched", jail, booking_work()
        )
        worker = Worker("booking", worker_env(broker.url, Path(folder)), Path(folder) / "w.log")
        worker.start()
        try:
            results["booking_worker"] = await work_off(worker, jail)
        finally:
            worker.stop()
        for mode in ("each", "take"):
            results[f"faust_{mode}"] = await faust_relay(broker.url, mode, jail, Path(folder))
    base = results["bare"]["per_second"]
    names = {
        "bare": "bare batched relay (the baseline)",
        "batched_booking": "booking's work, batched, no faust",
        "booking_worker": "booking worker (faust, per message)",
        "faust_each": "bare faust relay, per event",
        "faust_take": "bare faust relay, take_events(500)",
    }
    for name, label in names.items():
        rate, cpu = results[name]["per_second"], results[name]["cpu_us_per_message"]
        print(
            f"  {label:<38} {rate:8,.0f} events/s (x{rate / base:.3f} of bare), "
            f"{cpu:6,.0f} us of CPU per message"
        )
    ratio = results["batched_booking"]["per_second"] / results["booking_worker"]["per_second"]
    print(f"  batched loop against the worker: x{ratio:.1f}")
    return results


def main(count: int = 50_000) -> dict[str, Any]:
    return asyncio.run(run(count))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
