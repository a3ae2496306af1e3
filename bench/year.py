"""A simulated year of admissions through the scheduling rules with retirement on (#17): does
the table level off? In process, on a simulated clock (a year in minutes): each day ADMITTED
bookings open with a release some days ahead (stays drawn from an exponential of mean
MEAN_STAY days, as jail stays skew short), one in ten flagged by an agency a day after
booking; each booking is released on its day; the deadline timer (the real DeadlineIndex)
fires notices and retirements. Each week: the records in the table (open, closed and
waiting for retirement, stubs) and the bytes they take as stored. The baseline, the same
run: what the table would hold with no retirement (every booking ever admitted).

    .venv/bin/python -m bench.year [ADMITTED_PER_DAY] [DAYS]
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness import machine, save
from schemas.agency_requests import AGENCY_REQUEST
from schemas.booking_state import BookingState, BookingStatus, ExplicitRelease
from services.core.deadlines import DeadlineIndex
from services.core.policy import Policy
from services.scheduling import domain
from services.scheduling.records import SchedulingRecord

START = datetime(2027, 1, 1, tzinfo=UTC)
MEAN_STAY = 30.0  # days; about 664,000 held / 7.6 million admitted a year in the US
POLICY = Policy()  # retire after 30 days, forget the stub 30 days later


def _template() -> BookingState:
    from bench.national import BOOKING, RELEASE, STATE

    text = STATE.replace(BOOKING, "2027-y00000000").replace(RELEASE, "2027-02-01T15:00:00Z")
    return BookingState.model_validate_json(text)


TEMPLATE = _template()


def state(number: int, revision: int, release_at: datetime, released: bool) -> BookingState:
    booking_id = f"2027-y{number:08d}"
    key = f"{TEMPLATE.jurisdiction}/{booking_id}"
    data = TEMPLATE.data.model_copy(
        update={
            "revision": revision,
            "release_plan": ExplicitRelease(release_at=release_at, basis="court_order"),
            "status": BookingStatus.RELEASED if released else BookingStatus.IN_CUSTODY,
            "released_at": release_at if released else None,
        }
    )
    return TEMPLATE.model_copy(
        update={"booking_id": booking_id, "event_id": f"{key}@{revision}", "data": data}
    )


def request(number: int, at: datetime) -> Any:
    return AGENCY_REQUEST.validate_python(
        {
            "event_id": f"req-{number}",
            "type": "notice_request.received",
            "occurred_at": at.isoformat(),
            "jurisdiction": TEMPLATE.jurisdiction,
            "booking_id": f"2027-y{number:08d}",
            "data": {"request_id": f"r{number}", "agency": "dhs-ice", "form": "I-247A"},
        }
    )


def run(admitted_per_day: int = 1_000, days: int = 365, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    table: dict[str, SchedulingRecord] = {}
    index = DeadlineIndex()
    releases: dict[int, list[tuple[int, datetime]]] = {}  # day -> (booking, release time)
    flags: dict[int, list[int]] = {}  # day -> bookings flagged that day
    weeks: list[dict[str, Any]] = []
    admitted = alerts = retired = forgotten = 0
    started = time.perf_counter()

    def keep(key: str, decision: Any) -> None:
        nonlocal alerts, retired, forgotten
        if isinstance(decision, domain.Forget):
            table.pop(key, None)
            index.set(key, None)
            forgotten += 1
            return
        if not isinstance(decision, domain.Outcome):
            return
        record = decision.record
        table[key] = record
        alerts += len(decision.alerts)
        retired += int(decision.retired)
        if record.next_due is not None:
            index.set(key, record.next_due)
        else:
            index.set(key, record.retire_at, retiring=record.retire_at is not None)

    for day in range(days):
        today = START + timedelta(days=day)
        for hour in range(24):  # events and the timer, an hour at a time
            now = today + timedelta(hours=hour)
            if hour == 8:
                for _ in range(admitted_per_day):
                    number = admitted
                    admitted += 1
                    stay = min(rng.expovariate(1 / MEAN_STAY), 3 * 365)
                    release_at = now + timedelta(days=max(stay, 0.2))
                    message = state(number, 1, release_at, False)
                    keep(message.key, domain.on_booking_state(None, message, 9, now, POLICY))
                    release_day = (release_at - START).days
                    releases.setdefault(release_day, []).append((number, release_at))
                    if rng.random() < 0.1:
                        flags.setdefault(day + 1, []).append(number)
                for number in flags.pop(day, []):
                    key = f"{TEMPLATE.jurisdiction}/2027-y{number:08d}"
                    decision = domain.on_request(
                        table.get(key), request(number, now), f"r:0:{number}", 48, now, POLICY
                    )
                    keep(key, decision)
            for number, release_at in releases.get(day, []):
                if release_at.hour == hour:
                    message = state(number, 2, release_at, True)
                    key = message.key
                    keep(key, domain.on_booking_state(table.get(key), message, 9, now, POLICY))
            for key, _ in index.take_due(now):
                record = table.get(key)
                if record is None:
                    index.set(key, None)
                    continue
                keep(key, domain.on_tick(record, now, POLICY))
        releases.pop(day, None)
        if day % 7 == 6 or day == days - 1:
            stubs = sum(1 for r in table.values() if r.retired)
            closing = sum(1 for r in table.values() if not r.retired and r.retire_at)
            sample = rng.sample(list(table.values()), min(500, len(table)))
            average = sum(len(r.model_dump_json()) for r in sample) / max(len(sample), 1)
            weeks.append(
                {
                    "day": day + 1,
                    "records": len(table),
                    "open": len(table) - stubs - closing,
                    "closed_waiting": closing,
                    "stubs": stubs,
                    "bytes": round(average * len(table)),
                    "without_retirement": admitted,
                }
            )
            w = weeks[-1]
            print(
                f"  day {w['day']:>3}: {w['records']:>8,} records ({w['open']:,} open, "
                f"{w['closed_waiting']:,} closed, {w['stubs']:,} stubs), "
                f"{w['bytes'] / 2**20:,.1f} MiB; without retirement {admitted:,}",
                flush=True,
            )
    last_quarter = [w["records"] for w in weeks if w["day"] > days * 0.75]
    result = {
        "admitted_per_day": admitted_per_day,
        "days": days,
        "mean_stay_days": MEAN_STAY,
        "retire_after_days": POLICY.retire_after_days,
        "forget_after_days": POLICY.forget_after_days,
        "admitted": admitted,
        "alerts": alerts,
        "retired": retired,
        "forgotten": forgotten,
        "weeks": weeks,
        "final_vs_without_retirement": weeks[-1]["records"] / admitted,
        "last_quarter_spread": (max(last_quarter) - min(last_quarter)) / max(last_quarter)
        if last_quarter
        else None,
        "seconds": time.perf_counter() - started,
    }
    print(
        f"year: {admitted:,} admitted, table {weeks[-1]['records']:,} records at the end "
        f"(x{result['final_vs_without_retirement']:.3f} of the {admitted:,} it would hold "
        f"without retirement); over the last quarter it varied by "
        f"{(result['last_quarter_spread'] or 0) * 100:.1f} %; {retired:,} retired, "
        f"{forgotten:,} forgotten, {alerts:,} alerts; {result['seconds']:.0f} s"
    )
    return result


def main(admitted_per_day: int = 1_000, days: int = 365) -> dict[str, Any]:
    print(
        f"year: {admitted_per_day:,} admissions a day for {days} days through the scheduling "
        f"rules, retirement on (after {POLICY.retire_after_days:g} days, stubs kept "
        f"{POLICY.forget_after_days:g} more)"
    )
    return run(admitted_per_day, days)


if __name__ == "__main__":
    begun = time.time()
    figures = main(*(int(a) for a in sys.argv[1:3]))
    print(f"  results: {save('year', {'machine': machine(), 'measured_at': begun, **figures})}")
