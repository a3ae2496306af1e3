"""200,000 armed deadlines in one scheduling worker: memory and scan cost (issue 3).

Measures, in one process:
- the scheduling table's records for 200,000 flagged bookings (as faust's memory store
  holds them: JSON-decoded dicts) and the DeadlineIndex built from them: memory
  (tracemalloc) and rebuild time, as after a restart or rebalance;
- one timer scan with nothing due, against the baseline of scanning every record's
  ``next_due`` (what a worker without the index would do on every tick);
- handing out 10,000 deadlines that fall due within the same second;
- the pure reconcile for one booking (what the agent then does per due booking).
Prints figures and ratios; asserts nothing (run with `make bench`).
"""

from __future__ import annotations

import gc
import json
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.agency_requests import AGENCY_REQUEST
from services.booking import domain as booking_rules
from services.core.deadlines import DeadlineIndex, armed_in, due_of_raw, due_of_stored
from services.scheduling import domain as rules
from tests import factories as f

ARMED = 200_000
SAME_SECOND = 10_000
NOW = datetime(2027, 3, 2, 0, 0, tzinfo=UTC)


def template_record() -> dict[str, Any]:
    """One realistic scheduling record, flagged, with a deadline armed, as stored."""
    booking = booking_rules.apply(None, f.typed(f.opened(booking_id="tmpl")), "t:0:0")
    assert isinstance(booking, booking_rules.Accepted)
    scheduled = booking_rules.apply(
        booking.record,
        f.typed(f.scheduled((NOW + timedelta(days=5)).isoformat(), booking_id="tmpl")),
        "t:0:1",
    )
    assert isinstance(scheduled, booking_rules.Accepted)
    request = AGENCY_REQUEST.validate_python(
        f.envelope(
            "notice_request.received", {"request_id": "r1", "agency": "dhs-ice"}, booking_id="tmpl"
        )
    )
    outcome = rules.on_request(None, request, "a:0:0", 48, NOW)
    assert isinstance(outcome, rules.Outcome)
    outcome = rules.on_booking_state(outcome.record, scheduled.message, 9, NOW)
    assert outcome.record.next_due is not None
    return outcome.record.model_dump(mode="json")


def build_table(count: int, spread: timedelta) -> dict[str, dict[str, Any]]:
    import json

    text = json.dumps(template_record())
    table = {}
    for number in range(count):
        record = json.loads(text)  # independent objects, as the store holds them
        due = NOW + timedelta(seconds=spread.total_seconds() * number / count)
        record["next_due"] = due.isoformat().replace("+00:00", "Z")
        table[f"us-mn-hennepin/b-{number:07d}"] = record
    return table


def measure_memory(build: Callable[[], Any]) -> tuple[Any, int]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    value = build()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return value, after - before


def timed(action: Callable[[], Any], repeat: int = 5) -> tuple[Any, float]:
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    return result, best


def armed_entries(table: dict[str, dict[str, Any]]) -> list[tuple[str, datetime | None, bool]]:
    return armed_in(table.items())


def main() -> dict[str, Any]:
    print(f"deadlines: {ARMED:,} armed in one worker")
    table, table_bytes = measure_memory(lambda: build_table(ARMED, timedelta(days=30)))
    print(
        f"  table records (faust memory store)  {table_bytes / 2**20:8.1f} MiB "
        f"({table_bytes / ARMED:,.0f} B per booking)"
    )

    def rebuild() -> DeadlineIndex:
        index = DeadlineIndex()
        index.rebuild(armed_entries(table), generation=1)
        return index

    index, index_bytes = measure_memory(rebuild)
    _, rebuild_seconds = timed(rebuild, repeat=3)
    print(
        f"  deadline index                      {index_bytes / 2**20:8.1f} MiB "
        f"({index_bytes / ARMED:,.0f} B per deadline)"
    )
    print(f"  rebuild after restart/rebalance     {rebuild_seconds * 1000:8.1f} ms")

    early = NOW - timedelta(seconds=1)
    _, scan_seconds = timed(lambda: index.take_due(early), repeat=50)

    def naive_scan() -> list[str]:  # the baseline: look at every record on every tick
        stamp = early.isoformat().replace("+00:00", "Z")
        return [k for k, v in table.items() if v["next_due"] and v["next_due"] <= stamp]

    _, naive_seconds = timed(naive_scan, repeat=5)
    print(
        f"  timer scan, nothing due             {scan_seconds * 1e6:8.1f} us   "
        f"baseline full scan {naive_seconds * 1000:.1f} ms "
        f"(x{naive_seconds / max(scan_seconds, 1e-9):,.0f})"
    )

    burst_table = build_table(SAME_SECOND, timedelta(seconds=1))
    burst = DeadlineIndex()
    burst.rebuild(armed_entries(burst_table), generation=1)
    due, burst_seconds = timed(lambda: burst.take_due(NOW + timedelta(seconds=1)), repeat=1)
    print(
        f"  {SAME_SECOND:,} due in the same second   {burst_seconds * 1000:8.1f} ms to hand out "
        f"{len(due):,}"
    )

    # What a restart reads from RocksDB: each record's stored bytes. Baseline: decode each.
    stored = [
        json.dumps(value, separators=(",", ":")).encode()
        for value in list(table.values())[: ARMED // 4]
    ]
    _, raw_seconds = timed(lambda: [due_of_raw(value) for value in stored], repeat=3)
    _, decoded_seconds = timed(
        lambda: [due_of_stored(json.loads(value)) for value in stored], repeat=3
    )
    print(
        f"  read {len(stored):,} stored records' times {raw_seconds * 1000:8.1f} ms   "
        f"baseline decode each {decoded_seconds * 1000:.1f} ms "
        f"(x{raw_seconds / decoded_seconds:.2f})"
    )

    record = rules.SchedulingRecord.model_validate(template_record())
    due_at = record.next_due
    assert due_at is not None
    samples = []
    for _ in range(2000):
        start = time.perf_counter()
        rules.on_tick(rules.SchedulingRecord.model_validate(template_record()), due_at)
        samples.append(time.perf_counter() - start)
    per = statistics.median(samples)
    print(
        f"  decode + reconcile one due booking  {per * 1e6:8.1f} us "
        f"(~{1 / per:,.0f} bookings/s on one core)"
    )
    return {
        "armed": ARMED,
        "table_bytes": table_bytes,
        "index_bytes": index_bytes,
        "index_rebuild_s": rebuild_seconds,
        "scan_nothing_due_s": scan_seconds,
        "scan_baseline_full_s": naive_seconds,
        "hand_out_same_second_s": burst_seconds,
        "reconcile_one_s": per,
        "stored_times_read_s": raw_seconds,
        "stored_times_decoded_s": decoded_seconds,
        "stored_times_records": len(stored),
    }


if __name__ == "__main__":
    main()
