"""Deadlines in a real scheduling worker: ARMED flagged bookings armed, SAME_SECOND of them
falling due within the same second. Prints the worker's resident memory, the firing
precision (``emitted_at - due_at`` of their alerts, p50/p99; also when the broker had
acknowledged them and when a consumer had them), and the time to rebuild everything after
a restart. Asserts nothing. The baseline, on the same broker in the same run: the same
alerts sent at once by a bare aiokafka producer, and when a consumer had them.

    .venv/bin/python -m bench.firing [ARMED] [SAME_SECOND]
    .venv/bin/python -m bench.firing --batching   # the same burst, batches on vs off

The bookings go in as production gets them: jail events and notice requests through the
booking and scheduling workers (one each). The in-process figures for the index itself
(memory, scan, rebuild) are in bench/deadlines.py.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.harness import (
    PARTITIONS,
    Message,
    create_topics,
    embedded,
    machine,
    percentile,
    publish,
    save,
    worker_env,
)
from services.kafka.admin.topics import ensure_topics, partition_of
from services.simulator.generator import JailSimulator, SimulatorConfig
from tests.support.poll import until
from tests.support.topics import Watch
from tests.support.workers import Worker, all_ready, log_events, total

WINDOW = timedelta(hours=48)


def bookings(count: int, due: datetime | None, seed: int) -> list[Message]:
    """``count`` flagged bookings: due within [due, due + 1 s) if ``due`` is given, else
    released weeks from now (armed, not due)."""
    now = datetime.now(UTC)
    # Booking numbers from seed * 10,000,000: the two batches never share a booking.
    simulator = JailSimulator(SimulatorConfig(seed=seed, start_number=seed * 10**7), lambda: now)
    messages: list[Message] = []
    for number in range(count):
        if due is not None:
            release = due + WINDOW + timedelta(seconds=number / count)
        else:
            release = now + WINDOW + timedelta(days=20 + number % 30)
        messages.extend((o.topic, o.key, o.value) for o in simulator.flagged(release))
    return messages


def first_due(records: list[Any], due_keys: set[str]) -> dict[str, Any]:
    """The first ``notice_due`` alert read for each of ``due_keys`` (a Watch's records)."""
    first: dict[str, Any] = {}
    for record in records:
        if record.value and record.key in due_keys and record.value["data"]["kind"] == "notice_due":
            first.setdefault(record.key, record)
    return first


def emitted_lateness(alerts: list[dict[str, Any]]) -> dict[str, float]:
    """``emitted_at - due_at`` of alerts (their ``data``), seconds: p50, p99, max."""
    late = [
        (
            datetime.fromisoformat(a["emitted_at"]) - datetime.fromisoformat(a["due_at"])
        ).total_seconds()
        for a in alerts
    ]
    return {"p50": percentile(late, 50), "p99": percentile(late, 99), "max": max(late)}


def armed_now(worker: Worker) -> float:
    return total(worker.metrics(), "releasewatch_deadlines_armed")


async def run(
    armed: int = 200_000, same_second: int = 10_000, one_record_batches: bool = True
) -> dict[str, Any]:
    """First the bookings that stay armed, then the ones that fall due together, placed
    far enough ahead that they are all armed before their second comes. Then a restart,
    unless ``one_record_batches`` is off (table recovery on this broker needs it)."""
    background = bookings(armed - same_second, None, seed=1)
    print(
        f"firing: {armed:,} armed deadlines in one scheduling worker, {same_second:,} of them "
        f"due within the same second ({(armed * 3):,} events to load)"
    )
    result: dict[str, Any] = {"armed": armed, "same_second": same_second}
    with embedded() as broker, tempfile.TemporaryDirectory() as folder:
        await ensure_topics(broker.bootstrap, PARTITIONS)
        data = Path(folder)

        batches = {"RELEASEWATCH_ONE_RECORD_BATCHES": str(one_record_batches).lower()}

        def worker(name: str) -> Worker:
            env = worker_env(broker.url, data / name, **batches)
            return Worker(name, env, data / f"{name}.log")

        booking, scheduling = worker("booking").start(), worker("scheduling").start()
        try:
            await all_ready([booking, scheduling])
            async with Watch(broker.bootstrap, pattern=r"^notice\.alerts\.v1$") as alerts:
                started = time.perf_counter()
                await publish(broker.bootstrap, background)
                await until(
                    lambda: armed_now(scheduling) >= armed - same_second,
                    len(background) / 100 + 300,
                    "the background armed",
                )
                # Place the burst by the rate the background went in at, with room to spare:
                # the broker (and so the worker) gets slower as it fills.
                rate = len(background) / (time.perf_counter() - started)
                lead = 3 * (same_second * 3) / rate + 30
                due = datetime.now(UTC) + timedelta(seconds=lead)
                burst = bookings(same_second, due, seed=2)
                await publish(broker.bootstrap, burst)
                loaded = await until(lambda: armed_now(scheduling) >= armed, lead, "all armed")
                booking.stop()  # everything is in; the burst and the restart are scheduling's
                result["load_seconds"] = loaded - started
                result["rss_bytes"] = scheduling.rss_bytes()
                result["rss_bytes_per_booking"] = result["rss_bytes"] / armed
                spare = (due - datetime.now(UTC)).total_seconds()
                result["armed_before_due_s"] = spare
                print(
                    f"  loaded in {result['load_seconds']:.0f} s; scheduling worker resident "
                    f"{result['rss_bytes'] / 2**20:,.0f} MiB "
                    f"({result['rss_bytes_per_booking']:,.0f} B per armed booking); all armed "
                    f"{spare:.0f} s before the {same_second:,} fall due at {due:%H:%M:%S} UTC"
                )
                due_keys = {m[1].decode() for m in burst if m[1]}

                await until(
                    lambda: len(first_due(alerts.records, due_keys)) >= len(due_keys),
                    spare + 300,
                    "fired",
                )
            firsts = first_due(alerts.records, due_keys)
            # the same alerts, for the baseline
            payloads = [(key.encode(), json.dumps(r.value).encode()) for key, r in firsts.items()]
            first = {key: (r.value["data"], r.received) for key, r in firsts.items()}
            seen = [
                received - datetime.fromisoformat(alert["due_at"]).timestamp()
                for alert, received in first.values()
            ]
            result["firing_s"] = {
                **emitted_lateness([alert for alert, _ in first.values()]),
                "late_flags": sum(1 for alert, _ in first.values() if alert["late"]),
            }
            # The reader's view: when a consumer of notice.alerts.v1 had it (the collector
            # reads with a 50 ms fetch wait), minus due_at.
            result["seen_s"] = {"p50": percentile(seen, 50), "p99": percentile(seen, 99)}
            # The worker's view: when the broker acknowledged each alert (its alert_emitted
            # log line is written then), minus due_at.
            due_of = {a["alert_id"]: datetime.fromisoformat(a["due_at"]) for a, _ in first.values()}
            acked = [
                stamp - due_of[fields["alert_id"]].timestamp()
                for stamp, fields in log_events(scheduling.log_path, "alert_emitted")
                if fields.get("alert_id") in due_of
            ]
            if acked:
                result["acked_s"] = {"p50": percentile(acked, 50), "p99": percentile(acked, 99)}
            firing = result["firing_s"]
            print(
                f"  {len(first):,} alerts due in the same second: emitted_at - due_at "
                f"p50 {firing['p50'] * 1000:,.0f} ms, p99 {firing['p99'] * 1000:,.0f} ms, "
                f"max {firing['max'] * 1000:,.0f} ms ({firing['late_flags']} marked late); "
                f"read by a consumer p50 {result['seen_s']['p50'] * 1000:,.0f} ms, "
                f"p99 {result['seen_s']['p99'] * 1000:,.0f} ms after due_at"
            )
            if acked:
                print(
                    f"  acknowledged by the broker p50 {result['acked_s']['p50'] * 1000:,.0f} ms, "
                    f"p99 {result['acked_s']['p99'] * 1000:,.0f} ms after due_at"
                )

            bare = await bare_burst(broker.bootstrap, payloads, one_record_batches)
            result["baseline_seen_s"] = bare
            print(
                f"  baseline: the same {len(payloads):,} alerts sent at once by a bare aiokafka "
                f"producer, read by a consumer p50 {bare['p50'] * 1000:,.0f} ms, "
                f"p99 {bare['p99'] * 1000:,.0f} ms after the send began (services: "
                f"x{result['seen_s']['p99'] / bare['p99']:.1f} at p99)"
            )

            if not one_record_batches:
                return result
            # The alerts are out before the agent records them: restart only once it has
            # (the fired deadlines disarmed), or the restart would count them as lost.
            await until(
                lambda: armed_now(scheduling) <= armed - same_second, 120, "the fired recorded"
            )
            before = armed_now(scheduling)
            # With its RocksDB tables (a clean stop keeps them), then from an empty disk.
            for kind, wipe in (("restart", False), ("restart_empty_disk", True)):
                result[kind] = await timed_restart(scheduling, before, data / "scheduling", wipe)
            kept, empty = result["restart"], result["restart_empty_disk"]
            if "until_rearmed_s" in kept and "until_rearmed_s" in empty:
                ratio = kept["until_rearmed_s"] / empty["until_rearmed_s"]
                result["restart_local_vs_empty"] = ratio
                print(f"  restart with local state / from an empty disk: x{ratio:.2f}")
        finally:
            booking.stop()
            scheduling.stop()
    return result


async def timed_restart(
    scheduling: Worker, before: float, data_dir: Path, wipe: bool
) -> dict[str, Any]:
    """Stop the worker cleanly and start it again (``wipe``: with its local tables deleted,
    as on a new machine); how long until every deadline is re-armed, and where it went."""
    what = "from an empty disk" if wipe else "with local state"
    scheduling.stop()
    if wipe:
        shutil.rmtree(data_dir / "state", ignore_errors=True)
    restarted = time.perf_counter()
    restarted_at = time.time()
    scheduling.start()
    try:
        await until(lambda: scheduling.get("/ready")[0] == 200, 600, "ready again")
        rebuilt = await until(lambda: armed_now(scheduling) >= before, 600, "re-armed")
    except TimeoutError as exc:
        print(f"  restart {what}: {exc}")
        return {"rearmed": before, "failed": str(exc)}
    log = scheduling.log_path
    joined = next(t for t, _ in log_events(log, "partitions_assigned") if t > restarted_at)
    done, fields = next((t, f) for t, f in log_events(log, "deadlines_rebuilt") if t > restarted_at)
    kept = [f for t, f in log_events(log, "local_state_kept") if t > restarted_at and f["tables"]]
    restart = {
        "rearmed": before,
        "local_state": "kept" if kept else "rebuilt or memory store",
        "until_rearmed_s": rebuilt - restarted,
        "group_join_s": joined - restarted_at,
        "recovery_and_index_s": done - joined,
        "index_rebuild_s": fields["seconds"],
    }
    print(
        f"  restart {what}: {before:,.0f} deadlines re-armed {restart['until_rearmed_s']:.1f} s "
        f"after the worker started again: joining the group "
        f"{restart['group_join_s']:.1f} s, table recovery + index "
        f"{restart['recovery_and_index_s']:.1f} s (index alone "
        f"{restart['index_rebuild_s'] * 1000:,.0f} ms)"
    )
    return restart


async def bare_burst(
    bootstrap: str, payloads: list[tuple[bytes, bytes]], one_record_batches: bool
) -> dict[str, float]:
    """The baseline for the burst: the same records sent at once by a bare aiokafka producer
    (one sender per partition, batches as the workers have them), on the same broker, read
    by a consumer: p50/p99 of when it had each, from the start of the send. The floor for
    delivering that many records here, with no deciding and no bookkeeping."""
    topic = "bench.burst"
    await create_topics(bootstrap, [topic])
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=False,
        linger_ms=0,
        max_batch_size=16 if one_record_batches else 16384,
        max_request_size=8 * 1024 * 1024,
    )
    await producer.start()
    try:
        async with Watch(bootstrap, pattern=rf"^{topic}$") as burst:
            await producer.send_and_wait(topic, key=b"warm-up", value=b"{}")
            await until(lambda: len(burst.records) >= 1, 60, "the warm-up record")
            by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
            for key, value in payloads:
                by_partition.setdefault(partition_of(key, PARTITIONS), []).append((key, value))

            async def send_in_order(messages: list[tuple[bytes, bytes]]) -> list[Any]:
                return [await producer.send(topic, key=k, value=v) for k, v in messages]

            started = time.time()
            sent = await asyncio.gather(*(send_in_order(m) for m in by_partition.values()))
            await asyncio.gather(*(future for futures in sent for future in futures))
            await until(lambda: len(burst.records) > len(payloads), 300, "the burst read back")
            seen = [r.received - started for r in burst.records if r.key != "warm-up"]
    finally:
        await producer.stop()
    return {"p50": percentile(seen, 50), "p99": percentile(seen, 99)}


def main(armed: int = 200_000, same_second: int = 10_000) -> dict[str, Any]:
    return asyncio.run(run(armed, same_second))


def batching(armed: int = 30_000, same_second: int = 10_000) -> dict[str, Any]:
    """The same burst with one record per producer batch (the embedded broker's recovery
    workaround, the baseline here) and with batches as Apache Kafka gets them: how much of
    the firing time is the workaround's."""
    print("firing, batches as on Apache Kafka vs one record per batch (the Tansu workaround):")
    one = asyncio.run(run(armed, same_second, one_record_batches=True))
    many = asyncio.run(run(armed, same_second, one_record_batches=False))
    result = {"one_record_batches": one, "batched": many}
    for figure in ("firing_s", "seen_s"):
        ratio = many[figure]["p99"] / one[figure]["p99"]
        result[f"{figure}_p99_ratio"] = ratio
        print(
            f"  {figure[:-2]} p99: batched {many[figure]['p99'] * 1000:,.0f} ms vs one record "
            f"per batch {one[figure]['p99'] * 1000:,.0f} ms (x{ratio:.2f})"
        )
    return result


if __name__ == "__main__":
    context = {"machine": machine(), "measured_at": time.time()}
    if "--batching" in sys.argv[1:]:
        print(f"  results: {save('firing_batching', {**context, **batching()})}")
    else:
        print(f"  results: {save('firing', {**context, **main(*(int(a) for a in sys.argv[1:3]))})}")
