"""Realistic jail traffic for demos, benchmarks and tests. Pure given a seed and a clock.

A few facilities in different timezones; each booking is a short story (opened, charges,
a sentence or an explicit schedule, sometimes a move, sometimes a release or transfer),
about 3-5% of bookings flagged by an agency request (sometimes filed before the jail's
booking, sometimes withdrawn), and a sprinkle of bad messages of every SPEC 5 kind.
With ``demo=True`` flagged releases are placed just beyond the notice window, so notices
fall due within the first minute, and a few at short notice (late at once).
Names are synthetic.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from schemas.envelope import booking_key
from schemas.topics import AGENCY_REQUESTS, JAIL_BOOKING
from services.simulator import bad
from services.simulator.bad import Outgoing
from services.simulator.places import (
    AGENCIES,
    FACILITIES,
    FIRST_NAMES,
    LAST_NAMES,
    LEVELS,
    Facility,
)


@dataclass
class SimulatorConfig:
    seed: int | None = None
    flag_rate: float = 0.04  # ICE detainers are about 3% of bookings
    bad_rate: float = 0.01
    demo: bool = False
    window_hours: int = 48
    start_number: int = 1


class JailSimulator:
    def __init__(self, config: SimulatorConfig, clock: Callable[[], datetime]) -> None:
        self.config = config
        self.clock = clock
        self.random = random.Random(config.seed)
        self.number = config.start_number
        self._event_ids = 0

    def events(self) -> Iterator[Outgoing]:
        """An endless interleaving of booking stories, each story's events in order."""
        active: list[list[Outgoing]] = []
        while True:
            while len(active) < 8:
                active.append(self.story())
            story = self.random.choice(active)
            yield story.pop(0)
            if not story:
                active.remove(story)

    # ------------------------------------------------------------------ one booking
    def story(self) -> list[Outgoing]:
        rng, config = self.random, self.config
        facility = rng.choice(FACILITIES)
        now = self.clock()
        booking_id = f"{now.year}-{self.number:06d}"
        self.number += 1
        sequence = iter(range(1, 100))
        tz = ZoneInfo(facility.timezone)
        booked_at = now - timedelta(minutes=rng.randint(5, 6 * 60))
        charges = [self._charge(facility, i) for i in range(1, rng.randint(1, 3) + 1)]
        flagged = rng.random() < (0.35 if config.demo else config.flag_rate)
        events: list[Outgoing] = []

        def jail(kind: str, data: dict[str, Any], at: datetime) -> None:
            events.append(
                self._event(JAIL_BOOKING.name, facility, booking_id, kind, data, at, next(sequence))
            )

        jail(
            "booking.opened",
            {
                "facility": {
                    "id": facility.id,
                    "name": facility.name,
                    "timezone": facility.timezone,
                },
                "person": {
                    "person_id": f"{facility.id}-p{rng.randint(10000, 99999)}",
                    "first_name": rng.choice(FIRST_NAMES),
                    "last_name": rng.choice(LAST_NAMES),
                    "date_of_birth": date(
                        rng.randint(1950, 2005), rng.randint(1, 12), rng.randint(1, 28)
                    ).isoformat(),
                },
                "booked_at": booked_at.astimezone(tz).isoformat(),
                "charges": charges,
            },
            booked_at,
        )

        request_id = f"ice-{booking_id}-{rng.randint(100, 999)}"
        agency = self._agency()
        request = self._event(
            AGENCY_REQUESTS.name,
            facility,
            booking_id,
            "notice_request.received",
            {
                "request_id": request_id,
                "agency": agency,
                "form": "I-247A",
                "contact": {
                    "office": "ERO field office",
                    "phone": "+1-802-872-6020",
                    "email": "lesc@example.invalid",
                },
            },
            now,
            None,
        )
        if flagged and rng.random() < 0.1:
            events.insert(0, request)  # the agency's request before the jail's booking

        if rng.random() < 0.3:
            jail("charges.updated", {"charges": [*charges, self._charge(facility, 9)]}, now)
        release_at = self._release_time(now, flagged)
        if rng.random() < 0.4 and not (flagged and config.demo):
            local_day = release_at.astimezone(tz).date()
            starts_on = booked_at.astimezone(tz).date()
            credit = rng.randint(0, 5)
            term = max(0, (local_day - starts_on).days + credit)
            jail(
                "sentence.imposed",
                {"starts_on": starts_on.isoformat(), "term_days": term, "credit_days": credit},
                now,
            )
        else:
            local = release_at.astimezone(tz)
            # Half the jails send local wall-clock time without an offset.
            text = (
                local.replace(tzinfo=None).isoformat() if rng.random() < 0.5 else local.isoformat()
            )
            jail(
                "release.scheduled",
                {
                    "release_at": text,
                    "basis": rng.choice(["sentence_complete", "court_order", "bond_posted"]),
                },
                now,
            )
        if flagged and request not in events:
            events.append(request)
        if flagged and rng.random() < 0.08:
            events.append(
                self._event(
                    AGENCY_REQUESTS.name,
                    facility,
                    booking_id,
                    "notice_request.withdrawn",
                    {"request_id": request_id, "reason": "detainer lifted"},
                    now,
                    None,
                )
            )
        if rng.random() < 0.12:
            moved = release_at + timedelta(hours=rng.choice([-20, -6, 12, 30, 96]))
            jail(
                "release.scheduled",
                {
                    "release_at": max(moved, now + timedelta(hours=1)).astimezone(tz).isoformat(),
                    "basis": "court_order",
                },
                now,
            )
        if rng.random() < (0.25 if config.demo else 0.1):
            kind = "inmate.transferred" if rng.random() < 0.2 else "inmate.released"
            data: dict[str, Any]
            if kind == "inmate.released":
                data = {
                    "released_at": self.clock().astimezone(tz).isoformat(),
                    "release_type": rng.choice(["bond", "court_order", "other"]),
                }
            else:
                data = {
                    "transferred_at": self.clock().astimezone(tz).isoformat(),
                    "to": {"agency": "usms", "facility": "Federal Detention Center"},
                }
            jail(kind, data, now)
        if rng.random() < config.bad_rate * 5:
            events.insert(rng.randint(1, len(events)), self._bad(facility, booking_id, now))
        return events

    def flagged(
        self, release_at: datetime, facility: Facility | None = None, agency: str = "dhs-ice"
    ) -> list[Outgoing]:
        """One flagged booking whose release is scheduled at ``release_at``: the booking, its
        release, then the agency's request (the event that makes the deadline). For
        benchmarks and the fault suite, where what must happen is known in advance."""
        facility = facility or FACILITIES[0]
        now = self.clock()
        booking_id = f"{now.year}-f{self.number:07d}"
        self.number += 1
        tz = ZoneInfo(facility.timezone)
        person = {
            "person_id": f"{facility.id}-p{self.random.randint(10000, 99999)}",
            "first_name": self.random.choice(FIRST_NAMES),
            "last_name": self.random.choice(LAST_NAMES),
            "date_of_birth": "1980-01-01",
        }
        opened = {
            "facility": {"id": facility.id, "name": facility.name, "timezone": facility.timezone},
            "person": person,
            "booked_at": now.astimezone(tz).isoformat(),
            "charges": [self._charge(facility, 1)],
        }
        scheduled = {"release_at": release_at.astimezone(tz).isoformat(), "basis": "court_order"}
        request = {
            "request_id": f"{agency}-{booking_id}",
            "agency": agency,
            "form": "I-247A",
            "contact": {"office": "ERO", "phone": "+1-802-872-6020", "email": "x@example.invalid"},
        }
        jail, requests = JAIL_BOOKING.name, AGENCY_REQUESTS.name
        return [
            self._event(jail, facility, booking_id, "booking.opened", opened, now, 1),
            self._event(jail, facility, booking_id, "release.scheduled", scheduled, now, 2),
            self._event(
                requests, facility, booking_id, "notice_request.received", request, now, None
            ),
        ]

    # ------------------------------------------------------------------ pieces
    def _release_time(self, now: datetime, flagged: bool) -> datetime:
        rng, window = self.random, timedelta(hours=self.config.window_hours)
        if self.config.demo and flagged:
            if rng.random() < 0.25:  # scheduled at short notice: a late notice at once
                return now + timedelta(hours=rng.uniform(2, 30))
            return now + window + timedelta(seconds=rng.uniform(15, 75))
        return now + timedelta(hours=rng.uniform(6, 24 * 20))

    def _agency(self) -> str:
        roll, total = self.random.random(), 0.0
        for agency, share in AGENCIES:
            total += share
            if roll < total:
                return agency
        return AGENCIES[0][0]

    def _charge(self, facility: Facility, number: int) -> dict[str, Any]:
        statute = self.random.choice(facility.statutes)
        return {
            "charge_id": f"c{number}",
            "statute": statute,
            "description": f"charge under {statute}",
            "level": self.random.choice(LEVELS),
        }

    def _event(
        self,
        topic: str,
        facility: Facility,
        booking_id: str,
        kind: str,
        data: dict[str, Any],
        at: datetime,
        sequence: int | None,
    ) -> Outgoing:
        self._event_ids += 1
        document: dict[str, Any] = {
            "event_id": f"sim-{facility.id}:{self._event_ids:08d}",
            "type": kind,
            "occurred_at": at.astimezone(ZoneInfo(facility.timezone)).isoformat(),
            "jurisdiction": facility.jurisdiction,
            "booking_id": booking_id,
            "data": data,
        }
        if sequence is not None:
            document["sequence"] = sequence
        key = booking_key(facility.jurisdiction, booking_id).encode()
        return Outgoing(topic, key, json.dumps(document).encode(), kind)

    def _bad(self, facility: Facility, booking_id: str, now: datetime) -> Outgoing:
        choice = self.random.choice(bad.KINDS)
        if choice == "invalid_json":
            return bad.broken_json(booking_key(facility.jurisdiction, booking_id).encode())
        base = self._event(
            JAIL_BOOKING.name, facility, booking_id, "charges.updated", {"charges": []}, now, None
        )
        return bad.spoil(base, choice, facility.timezone, now)
