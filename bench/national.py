"""State at national scale (#17): OPEN open bookings in one scheduling worker, ARMED of them
flagged with an armed deadline, SAME_SECOND of those falling due in the same second. Asserts
nothing; prints and saves:

- resident memory once loaded, against the same worker ready with empty tables (the
  baseline, same run), and bytes per booking beyond it, also net of what RocksDB holds
  (``releasewatch_store_memory_bytes``); the tables' size on disk;
- time to load, and the scheduling worker's rate;
- time from restart to ready (every deadline re-armed) with its local RocksDB tables, and
  from an empty disk;
- firing p50/p99 (``emitted_at - due_at``) when SAME_SECOND deadlines fall due together;
- kill -9 during a load (OPEN / 7 more bookings, killed halfway), then a restart: every
  deadline armed and one record per booking stored once it has caught up (nothing lost);
- what one stored scheduling record weighs now and in the shape it had before records were
  slimmed (the whole booking in every record), measured here on the same booking.

The booking states go straight to ``booking.state.v1`` (one per booking, as the booking
service writes it: built by its own rules once, then varied per booking), and the requests
to ``agency.requests.v1``: the scheduling worker is the one measured.

    .venv/bin/python -m bench.national [OPEN] [ARMED] [SAME_SECOND]
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.firing import WINDOW, armed_now, emitted_lateness, first_due, timed_restart
from bench.harness import (
    PARTITIONS,
    Message,
    embedded,
    machine,
    publish,
    save,
    worker_env,
)
from schemas.booking_state import BookingState
from schemas.envelope import booking_key
from schemas.jail_booking import JAIL_EVENT
from schemas.topics import AGENCY_REQUESTS, BOOKING_STATE
from services.booking import domain as booking_rules
from services.kafka.admin.topics import ensure_topics
from services.scheduling import domain
from services.scheduling.records import SchedulingRecord
from services.simulator.places import FACILITIES
from tests.support.poll import until
from tests.support.topics import Watch
from tests.support.workers import Worker, all_ready, total

FACILITY = FACILITIES[0]
BOOKING, RELEASE = "__BOOKING__", "__RELEASE__"


def _templates() -> tuple[str, str]:
    """A booking state (revision 2: opened, then its release scheduled) as the booking
    service's own rules write it, and an agency's request, with placeholders."""
    tz = FACILITY.timezone
    opened = {
        "event_id": f"{BOOKING}:1",
        "type": "booking.opened",
        "occurred_at": "2026-12-01T08:00:00-06:00",
        "jurisdiction": FACILITY.jurisdiction,
        "booking_id": BOOKING,
        "sequence": 1,
        "data": {
            "facility": {"id": FACILITY.id, "name": FACILITY.name, "timezone": tz},
            "person": {
                "person_id": f"p-{BOOKING}",
                "first_name": "Alexandra",
                "last_name": "Lindqvist-Okafor",
                "date_of_birth": "1980-01-01",
            },
            "booked_at": "2026-12-01T08:00:00-06:00",
            "charges": [
                {"charge_id": "c1", "statute": "609.52", "description": "theft", "level": "felony"}
            ],
        },
    }
    scheduled = {
        **opened,
        "event_id": f"{BOOKING}:2",
        "type": "release.scheduled",
        "sequence": 2,
        "data": {"release_at": "2031-01-01T09:00:00-06:00", "basis": "court_order"},
    }
    first = booking_rules.apply(None, JAIL_EVENT.validate_python(opened), "jail.booking.v1:0:1")
    assert isinstance(first, booking_rules.Accepted)
    second = booking_rules.apply(
        first.record, JAIL_EVENT.validate_python(scheduled), "jail.booking.v1:0:2"
    )
    assert isinstance(second, booking_rules.Accepted)
    state = second.message.model_dump_json()
    # The release as the state writes it (UTC), replaced per booking.
    written = second.message.data.release_plan.release_at  # type: ignore[union-attr]
    state = state.replace(written.isoformat().replace("+00:00", "Z"), RELEASE)
    state = state.replace(written.isoformat(), RELEASE)
    assert RELEASE in state, "the release time was not found in the template"
    request = json.dumps(
        {
            "event_id": f"req-{BOOKING}",
            "type": "notice_request.received",
            "occurred_at": "2026-12-01T08:00:00-06:00",
            "jurisdiction": FACILITY.jurisdiction,
            "booking_id": BOOKING,
            "data": {"request_id": f"dhs-ice-{BOOKING}", "agency": "dhs-ice", "form": "I-247A"},
        }
    )
    return state, request


STATE, REQUEST = _templates()


def _utc(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def bookings(first: int, count: int, flagged: bool, release: Any) -> list[Message]:
    """Bookings ``first``..``first + count - 1``: each one state, and a request if
    ``flagged``; ``release(n)`` is the n-th booking's release time."""
    messages: list[Message] = []
    for number in range(first, first + count):
        booking_id = f"2026-n{number:08d}"
        key = booking_key(FACILITY.jurisdiction, booking_id).encode()
        state = STATE.replace(BOOKING, booking_id).replace(RELEASE, _utc(release(number)))
        messages.append((BOOKING_STATE.name, key, state.encode()))
        if flagged:
            messages.append(
                (AGENCY_REQUESTS.name, key, REQUEST.replace(BOOKING, booking_id).encode())
            )
    return messages


def record_weights() -> dict[str, int]:
    """Bytes of one stored scheduling record for a flagged booking, slim (now) and in the
    shape before (the whole booking state in it): the same booking, JSON as stored."""
    state = json.loads(
        STATE.replace(BOOKING, "2026-n00000000").replace(RELEASE, "2031-01-01T15:00:00Z")
    )
    message = BookingState.model_validate(state)
    outcome = domain.on_booking_state(None, message, 9, datetime.now(UTC))
    assert isinstance(outcome, domain.Outcome)
    record: SchedulingRecord = outcome.record
    slim = record.model_dump_json()
    before = json.loads(slim)
    before["booking"] = message.data.model_dump(mode="json")
    return {"slim": len(slim.encode()), "before": len(json.dumps(before).encode())}


def disk_bytes(path: Path) -> int:
    done = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=False)
    return int(done.stdout.split()[0]) if done.returncode == 0 and done.stdout else 0


FAR = datetime.now(UTC) + timedelta(days=30)


def unflagged(number: int) -> datetime:  # released in 30..60 days
    return FAR + timedelta(minutes=number % (30 * 24 * 60))


def waiting(number: int) -> datetime:  # armed, due in 20..50 days
    return FAR + WINDOW + timedelta(minutes=number % (30 * 24 * 60))


def population(first: int, unflagged_count: int, armed: int) -> list[Message]:
    """Bookings numbered from ``first``: ``unflagged_count`` not flagged, then ``armed`` flagged
    (their deadline weeks away), interleaved so the flagged ones arrive throughout."""
    messages = bookings(first, unflagged_count, False, unflagged)
    messages += bookings(first + unflagged_count, armed, True, waiting)
    messages.sort(key=lambda m: hash(m[1]))
    return messages


def states_read(worker: Worker) -> float:
    """booking.state.v1 messages the worker has read since it started."""
    return total(worker.metrics(), "releasewatch_messages_in_total", topic=BOOKING_STATE.name)


def stored_keys(slot: Path) -> int:
    """Records in the worker's RocksDB tables (read after it stopped): one per booking."""
    from rocksdict import AccessType, Options, Rdict

    count = 0
    for current in slot.rglob("CURRENT"):
        db = Rdict(str(current.parent), Options(raw_mode=True), access_type=AccessType.read_only())
        try:  # faust keeps the changelog offset it has applied in the same database
            count += sum(1 for key in db.keys() if not key.startswith(b"__faust"))  # noqa: SIM118
        finally:
            db.close()
    return count


async def memory_at(worker: Worker, read: int, published: int) -> dict[str, float]:
    """Resident memory and RocksDB's share once the worker has read ``read`` states."""
    await until(lambda: states_read(worker) >= read, published / 200 + 600, f"{read:,} read")
    return {
        "read": states_read(worker),
        "rss": worker.rss_bytes(),
        "store": total(worker.metrics(), "releasewatch_store_memory_bytes"),
    }


async def kill_during_load(
    bootstrap: str, worker: Worker, first: int, count: int, flagged: int, stored_before: int
) -> dict[str, Any]:
    """``count`` more bookings (``flagged`` armed) published; the worker is killed with
    kill -9 when it has read half of them, and started again. Nothing may be lost: every
    deadline armed, and one stored record per booking, when it has caught up."""
    armed_before = armed_now(worker)
    load = population(first, count - flagged, flagged)
    await publish(bootstrap, load)
    await until(lambda: states_read(worker) >= count // 2, count / 100 + 300, "half read")
    worker.kill()
    restarted = time.perf_counter()
    worker.start()
    await until(lambda: worker.get("/ready")[0] == 200, 900, "ready after kill -9")
    expected_armed = armed_before + flagged
    try:
        caught_up: float | None = await until(
            lambda: (
                armed_now(worker) >= expected_armed
                and total(worker.metrics(), "releasewatch_consumer_lag") == 0
            ),
            count / 100 + 900,
            "caught up after kill -9",
        )
    except TimeoutError:  # reported, not raised: what it holds is still counted below
        caught_up = None
    lag_left = total(worker.metrics(), "releasewatch_consumer_lag")
    armed_after = armed_now(worker)
    worker.stop()
    stored = stored_keys(Path(worker.env["RELEASEWATCH_DATA_DIR"]) / "state")
    result = {
        "published": count,
        "flagged": flagged,
        "until_caught_up_s": caught_up - restarted if caught_up is not None else None,
        "consumer_lag_left": lag_left,
        "armed_expected": expected_armed,
        "armed_after": armed_after,
        "records_expected": stored_before + count,
        "records_stored": stored,
        "lost": (stored_before + count - stored) + max(0.0, expected_armed - armed_after),
    }
    caught = (
        f"caught up {caught_up - restarted:.0f} s later"
        if caught_up is not None
        else f"NOT caught up ({lag_left:,.0f} messages of lag left)"
    )
    print(
        f"  kill -9 after {count // 2:,} of {count:,} more bookings, then a restart: {caught}; "
        f"{armed_after:,.0f} of {expected_armed:,.0f} deadlines armed, {stored:,} of "
        f"{stored_before + count:,} records stored"
    )
    return result


async def run(open_count: int, armed: int, same_second: int) -> dict[str, Any]:
    weights = record_weights()
    print(
        f"national: {open_count:,} open bookings in one scheduling worker, {armed:,} of them "
        f"armed, {same_second:,} due within the same second"
    )
    print(
        f"  one stored scheduling record: {weights['slim']:,} B slim vs {weights['before']:,} B "
        f"with the whole booking, as before (x{weights['slim'] / weights['before']:.2f})"
    )
    result: dict[str, Any] = {
        "open": open_count,
        "armed": armed,
        "same_second": same_second,
        "partitions": PARTITIONS,
        "record_bytes": weights,
    }
    background = population(0, open_count - armed, armed - same_second)
    with embedded() as broker, tempfile.TemporaryDirectory() as folder:
        await ensure_topics(broker.bootstrap, PARTITIONS)
        data = Path(folder)
        env = worker_env(broker.url, data / "scheduling")
        scheduling = Worker("scheduling", env, data / "scheduling.log").start()
        try:
            await all_ready([scheduling])
            empty_rss = scheduling.rss_bytes()
            result["rss_empty_bytes"] = empty_rss

            async with Watch(broker.bootstrap, pattern=r"^notice\.alerts\.v1$") as alerts:
                started = time.perf_counter()
                await publish(broker.bootstrap, background)
                published = time.perf_counter() - started
                expected_states = open_count - same_second
                # Halfway, then loaded: the slope between the two is what one more booking
                # costs, without the fixed part (fetch buffers, allocator arenas) that a
                # division by the total counts in.
                half = await memory_at(scheduling, expected_states // 2, len(background))
                await until(
                    lambda: (
                        states_read(scheduling) >= expected_states
                        and armed_now(scheduling) >= armed - same_second
                    ),
                    len(background) / 200 + 600,
                    "the background loaded",
                )
                full = await memory_at(scheduling, expected_states, len(background))
                result["memory_halfway"], result["memory_loaded"] = half, full
                slope = (full["rss"] - full["store"] - half["rss"] + half["store"]) / (
                    full["read"] - half["read"]
                )
                result["rss_bytes_per_booking_slope_beyond_store"] = slope
                print(
                    f"  from {half['read']:,.0f} to {full['read']:,.0f} bookings read: resident "
                    f"{half['rss'] / 2**20:,.0f} -> {full['rss'] / 2**20:,.0f} MiB, RocksDB "
                    f"{half['store'] / 2**20:,.0f} -> {full['store'] / 2**20:,.0f} MiB: "
                    f"{slope:,.0f} B per booking more beyond the store"
                )
                rate = len(background) / (time.perf_counter() - started)
                lead = 3 * (same_second * 2) / rate + 30
                due = datetime.now(UTC) + timedelta(seconds=lead)
                burst_first = open_count - same_second
                burst = bookings(
                    burst_first,
                    same_second,
                    True,
                    lambda n: due + WINDOW + timedelta(seconds=(n - burst_first) / same_second),
                )
                await publish(broker.bootstrap, burst)
                loaded = await until(lambda: armed_now(scheduling) >= armed, lead, "all armed")
                result["load_seconds"] = loaded - started
                result["publish_seconds"] = published
                result["events_per_second"] = (len(background) + len(burst)) / result[
                    "load_seconds"
                ]
                rss = scheduling.rss_bytes()
                store = total(scheduling.metrics(), "releasewatch_store_memory_bytes")
                result["rss_bytes"] = rss
                result["store_memory_bytes"] = store
                result["rss_bytes_per_booking_beyond_empty"] = (rss - empty_rss) / open_count
                beyond = (rss - empty_rss - store) / open_count
                result["rss_bytes_per_booking_beyond_store"] = beyond
                slot = data / "scheduling" / "state"
                result["state_disk_bytes"] = disk_bytes(slot)
                print(
                    f"  loaded {len(background) + len(burst):,} events in "
                    f"{result['load_seconds']:.0f} s ({result['events_per_second']:,.0f}/s); "
                    f"resident {rss / 2**20:,.0f} MiB vs {empty_rss / 2**20:,.0f} MiB ready "
                    f"and empty: {result['rss_bytes_per_booking_beyond_empty']:,.0f} B per open "
                    f"booking beyond it; RocksDB holds {store / 2**20:,.0f} MiB of it: "
                    f"{beyond:,.0f} B per booking beyond the store; tables on disk "
                    f"{result['state_disk_bytes'] / 2**20:,.0f} MiB"
                )
                due_keys = {m[1].decode() for m in burst if m[1]}

                spare = (due - datetime.now(UTC)).total_seconds()
                result["armed_before_due_s"] = spare
                await until(
                    lambda: len(first_due(alerts.records, due_keys)) >= len(due_keys),
                    spare + 300,
                    "fired",
                )
            fired = [r.value["data"] for r in first_due(alerts.records, due_keys).values()]
            result["firing_s"] = emitted_lateness(fired)
            print(
                f"  {len(fired):,} due in the same second: emitted_at - due_at p50 "
                f"{result['firing_s']['p50'] * 1000:,.0f} ms, p99 "
                f"{result['firing_s']['p99'] * 1000:,.0f} ms"
            )
            await until(
                lambda: armed_now(scheduling) <= armed - same_second, 120, "the fired recorded"
            )
            before = armed_now(scheduling)
            for kind, wipe in (("restart", False), ("restart_empty_disk", True)):
                result[kind] = await timed_restart(scheduling, before, data / "scheduling", wipe)
            result["rss_after_restart_bytes"] = scheduling.rss_bytes()
            kept, empty = result["restart"], result["restart_empty_disk"]
            if "until_rearmed_s" in kept and "until_rearmed_s" in empty:
                ratio = kept["until_rearmed_s"] / empty["until_rearmed_s"]
                result["restart_local_vs_empty"] = ratio
                print(f"  restart with local state / from an empty disk: x{ratio:.2f}")
            more = max(open_count // 7, 1_000)
            result["kill_during_load"] = await kill_during_load(
                broker.bootstrap, scheduling, open_count, more, more // 10, open_count
            )
        finally:
            scheduling.stop()
    return result


def main(
    open_count: int = 700_000, armed: int = 50_000, same_second: int = 10_000
) -> dict[str, Any]:
    return asyncio.run(run(open_count, armed, same_second))


if __name__ == "__main__":
    started = time.time()
    figures = main(*(int(a) for a in sys.argv[1:4]))
    # The machine after the run: it names the broker the run started.
    context = {"machine": machine(), "measured_at": started}
    print(f"  results: {save('national', {**context, **figures})}")
