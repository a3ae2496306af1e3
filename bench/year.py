"""A simulated year of admissions through the booking and scheduling rules with retirement on
(#17): do the tables level off? In process, on a simulated clock (a year in minutes): each day
ADMITTED bookings open with a release some days ahead (stays drawn from an exponential of mean
MEAN_STAY days, as jail stays skew short), one in ten flagged by an agency a day after
booking; each booking is released on its day; the deadline timer (the real DeadlineIndex)
fires notices and retirements. Each week: the records in the scheduling table (open, closed
and waiting for retirement, stubs) and the booking service's table (every booking, with the
person and charges until it retires), and the bytes they take as stored. The baseline, the
same run: what a table would hold with no retirement (every booking ever admitted). The
notification table holds only flagged bookings (one in ten here) and retires the same way.

    .venv/bin/python -m bench.year [ADMITTED_PER_DAY] [DAYS]
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness import machine, save
from bench.national import BOOKING, FACILITY, RELEASE, STATE
from schemas.agency_requests import AGENCY_REQUEST
from schemas.booking_state import BookingState, BookingStatus, ExplicitRelease
from schemas.jail_booking import JAIL_EVENT, JailEvent
from services.booking import domain as booking_rules
from services.core.deadlines import DeadlineIndex
from services.core.policy import Policy
from services.scheduling import domain
from services.scheduling.records import SchedulingRecord

START = datetime(2027, 1, 1, tzinfo=UTC)
MEAN_STAY = 30.0  # days; about 664,000 held / 7.6 million admitted a year in the US
POLICY = Policy()  # retire after 30 days, forget the stub 30 days later


def _template() -> BookingState:
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


def jail_event(number: int, sequence: int, at: datetime) -> JailEvent:
    """booking.opened (sequence 1) or inmate.released (2) of booking ``number`` at ``at``."""
    booking_id = f"2027-y{number:08d}"
    common = {
        "event_id": f"{booking_id}:{sequence}",
        "occurred_at": at.isoformat(),
        "jurisdiction": FACILITY.jurisdiction,
        "booking_id": booking_id,
        "sequence": sequence,
    }
    if sequence == 1:
        document = {
            **common,
            "type": "booking.opened",
            "data": {**OPENED, "booked_at": at.isoformat()},
        }
    else:
        data = {"released_at": at.isoformat(), "release_type": "sentence_complete"}
        document = {**common, "type": "inmate.released", "data": data}
    return JAIL_EVENT.validate_python(document)


OPENED = {
    "facility": {"id": FACILITY.id, "name": FACILITY.name, "timezone": FACILITY.timezone},
    "person": {
        "person_id": "p-year",
        "first_name": "Alexandra",
        "last_name": "Lindqvist-Okafor",
        "date_of_birth": "1980-01-01",
    },
    "charges": [
        {"charge_id": "c1", "statute": "609.52", "description": "theft", "level": "felony"}
    ],
}


class BookingTable:
    """The booking service's table under its own rules, retirement timed by its own index."""

    def __init__(self) -> None:
        self.records: dict[str, booking_rules.BookingRecord] = {}
        self.index = DeadlineIndex()
        self.retired = self.forgotten = 0

    def apply(self, event: JailEvent, position: str) -> None:
        decision = booking_rules.apply(
            self.records.get(event.key), event, position, POLICY.retire_after
        )
        assert isinstance(decision, booking_rules.Accepted), decision
        self.keep(event.key, decision.record)

    def keep(self, key: str, record: booking_rules.BookingRecord) -> None:
        self.records[key] = record
        self.index.set(key, record.retire_at, retiring=record.retire_at is not None)

    def tick(self, now: datetime) -> None:
        for key, _ in self.index.take_due(now):
            decision = booking_rules.on_tick(self.records[key], now, POLICY.forget_after)
            if isinstance(decision, booking_rules.Forget):
                del self.records[key]
                self.index.set(key, None)
                self.forgotten += 1
            elif isinstance(decision, booking_rules.Retired):
                self.keep(key, decision.record)
                self.retired += 1

    def week(self, rng: random.Random) -> dict[str, int]:
        stubs = sum(1 for r in self.records.values() if r.retired)
        sample = rng.sample(list(self.records.values()), min(500, len(self.records)))
        average = sum(len(r.model_dump_json()) for r in sample) / max(len(sample), 1)
        return {
            "records": len(self.records),
            "stubs": stubs,
            "bytes": round(average * len(self.records)),
        }


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
    bookings = BookingTable()
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
                    bookings.apply(jail_event(number, 1, now), f"j:0:{number}")
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
                    bookings.apply(jail_event(number, 2, release_at), f"j:1:{number}")
                    message = state(number, 2, release_at, True)
                    key = message.key
                    keep(key, domain.on_booking_state(table.get(key), message, 9, now, POLICY))
            for key, _ in index.take_due(now):
                record = table.get(key)
                if record is None:
                    index.set(key, None)
                    continue
                keep(key, domain.on_tick(record, now, POLICY))
            bookings.tick(now)
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
                    "booking": bookings.week(rng),
                }
            )
            w, b = weeks[-1], weeks[-1]["booking"]
            print(
                f"  day {w['day']:>3}: scheduling {w['records']:>8,} records ({w['open']:,} open, "
                f"{w['closed_waiting']:,} closed, {w['stubs']:,} stubs), "
                f"{w['bytes'] / 2**20:,.1f} MiB; booking {b['records']:,} ({b['stubs']:,} stubs), "
                f"{b['bytes'] / 2**20:,.1f} MiB; without retirement {admitted:,}",
                flush=True,
            )
    last_quarter = [w["records"] for w in weeks if w["day"] > days * 0.75]
    booking_quarter = [w["booking"]["records"] for w in weeks if w["day"] > days * 0.75]
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
        "last_quarter_spread": spread(last_quarter),
        "booking_final_vs_without_retirement": weeks[-1]["booking"]["records"] / admitted,
        "booking_last_quarter_spread": spread(booking_quarter),
        "booking_retired": bookings.retired,
        "booking_forgotten": bookings.forgotten,
        "seconds": time.perf_counter() - started,
    }
    print(
        f"year: {admitted:,} admitted, table {weeks[-1]['records']:,} records at the end "
        f"(x{result['final_vs_without_retirement']:.3f} of the {admitted:,} it would hold "
        f"without retirement); over the last quarter it varied by "
        f"{(result['last_quarter_spread'] or 0) * 100:.1f} %; {retired:,} retired, "
        f"{forgotten:,} forgotten, {alerts:,} alerts; {result['seconds']:.0f} s"
    )
    print(
        f"  booking service: {weeks[-1]['booking']['records']:,} records at the end "
        f"(x{result['booking_final_vs_without_retirement']:.3f}); over the last quarter it "
        f"varied by {(result['booking_last_quarter_spread'] or 0) * 100:.1f} %; "
        f"{bookings.retired:,} retired, {bookings.forgotten:,} forgotten"
    )
    return result


def spread(values: list[int]) -> float | None:
    """(max - min) / max, or None for no values."""
    return (max(values) - min(values)) / max(values) if values else None


def main(admitted_per_day: int = 1_000, days: int = 365) -> dict[str, Any]:
    print(
        f"year: {admitted_per_day:,} admissions a day for {days} days through the booking and "
        f"scheduling rules, retirement on (after {POLICY.retire_after_days:g} days, stubs kept "
        f"{POLICY.forget_after_days:g} more)"
    )
    return run(admitted_per_day, days)


if __name__ == "__main__":
    begun = time.time()
    figures = main(*(int(a) for a in sys.argv[1:3]))
    print(f"  results: {save('year', {'machine': machine(), 'measured_at': begun, **figures})}")
