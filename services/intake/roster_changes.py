"""A jail's roster turned into events by comparing it with the last one (#45). Pure: the rows
read (``services.intake.roster``), the mapping and the last snapshot in; events and the next
snapshot out.

Smaller jails publish an inmate roster every few minutes instead of events. Between two
rosters: a new booking number is ``booking.opened`` (with ``release.scheduled`` when it has a
date); a release date set or moved is ``release.scheduled``, cleared ``release.unscheduled``;
a booking no longer listed is ``inmate.released`` (type ``other``, ``inferred: true``: no one
said so, the roster stopped listing the person; its time: when the roster was read). A booking
listed again after that is reported (``reappeared``), not opened again.

Guards, because bad jail data feeds have sent thousands of false release alerts before:
- a roster listing fewer than ``1 - shrink_guard`` of the last one's bookings (and at least
  ``shrink_guard_min`` gone), or none at all, is **held**: no event, the snapshot stays, the
  operators are told; it goes through only when a roster looks normal again, or an operator
  accepts it;
- a malformed row is refused with its line number, and the rest still counts; its booking,
  if its number could be read, is left as it was (not taken for a release); if a number could
  not be read, no release is inferred from that roster at all.

Event ids are deterministic: ``roster:<jurisdiction>:<booking>:<n>:<type>``, ``n`` counting the
booking's changes in the snapshot. A roster read again after a crash (events sent, snapshot
not yet saved) gives the same ids: duplicates, dropped by the booking service. A date moved
back to an earlier value is a new change (a new ``n``), never a repeat.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from services.core.localtime import to_utc
from services.intake.roster import Mapping, Reading, Row


@dataclass(frozen=True)
class Listed:
    """What the snapshot keeps of one booking: its release date and how many changes."""

    release_at: str | None
    changes: int = 0


@dataclass(frozen=True)
class Snapshot:
    bookings: dict[str, Listed] = field(default_factory=dict)
    roster_sha256: str = ""  # of the last roster applied
    released: frozenset[str] = frozenset()  # inferred released: listed again, only reported

    def to_json(self) -> dict[str, Any]:
        return {
            "roster_sha256": self.roster_sha256,
            "bookings": {
                booking: {"release_at": listed.release_at, "changes": listed.changes}
                for booking, listed in sorted(self.bookings.items())
            },
            "released": sorted(self.released),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Snapshot:
        return cls(
            {
                booking: Listed(value["release_at"], int(value["changes"]))
                for booking, value in raw.get("bookings", {}).items()
            },
            str(raw.get("roster_sha256", "")),
            frozenset(raw.get("released", ())),
        )


@dataclass(frozen=True)
class Held:
    """The roster was not applied: why, for the operators."""

    reason: str
    listed: int
    last_listed: int


@dataclass(frozen=True)
class Applied:
    events: tuple[dict[str, Any], ...]
    snapshot: Snapshot
    inferred_releases: int = 0
    # listed again after a release was inferred: the inference was wrong, or the number was
    # reused; no event (the booking is closed), the operators confirm with the jail
    reappeared: tuple[str, ...] = ()


def compare(
    reading: Reading,
    last: Snapshot,
    mapping: Mapping,
    now: datetime,
    roster_sha256: str,
    accept_shrink: bool = False,
) -> Held | Applied:
    """The events from ``last`` to this roster and the snapshot after them, or why not."""
    unreadable = [p for p in reading.problems if p.booking_id is None]
    kept = {p.booking_id for p in reading.problems if p.booking_id is not None}
    listed = set(reading.rows) | kept
    gone = [] if unreadable else sorted(set(last.bookings) - listed)
    mass = len(gone) > mapping.shrink_guard * len(last.bookings)
    emptied = not listed and not reading.problems
    suspect = (mass and len(gone) >= mapping.shrink_guard_min) or emptied
    if last.bookings and suspect and not accept_shrink:
        share = len(gone) / len(last.bookings)
        return Held(
            f"the roster lists {len(listed)} bookings where the last listed "
            f"{len(last.bookings)}: {share:.0%} gone, over the {mapping.shrink_guard:.0%} "
            "guard; held as suspect, no releases inferred",
            len(listed),
            len(last.bookings),
        )
    events: list[dict[str, Any]] = []
    bookings = dict(last.bookings)
    at = now.isoformat()

    def event(booking: str, changes: int, kind: str, data: dict[str, Any], when: str) -> None:
        events.append(
            {
                "event_id": f"roster:{mapping.jurisdiction}:{booking}:{changes}:{kind}",
                "type": kind,
                "occurred_at": when,
                "jurisdiction": mapping.jurisdiction,
                "booking_id": booking,
                "data": data,
            }
        )

    reappeared = tuple(sorted(set(reading.rows) & last.released))
    for booking, row in sorted(reading.rows.items()):
        if booking in last.released:
            continue
        before = bookings.get(booking)
        if before is None:
            event(
                booking, 0, "booking.opened", _opened(row, mapping), _zoned(row.booked_at, mapping)
            )
            before = Listed(None, 0)
        if row.release_at == before.release_at:
            bookings[booking] = before
            continue
        changes = before.changes + 1
        if row.release_at is None:
            reason = "the roster no longer gives a release date"
            event(booking, changes, "release.unscheduled", {"reason": reason}, at)
        else:
            data = {"release_at": row.release_at, "basis": "other"}
            event(booking, changes, "release.scheduled", data, at)
        bookings[booking] = Listed(row.release_at, changes)
    for booking in gone:
        changes = bookings[booking].changes + 1
        inferred = {"released_at": at, "release_type": "other", "inferred": True}
        event(booking, changes, "inmate.released", inferred, at)
        del bookings[booking]
    snapshot = Snapshot(bookings, roster_sha256, last.released | set(gone))
    return Applied(tuple(events), snapshot, len(gone), reappeared)


def _zoned(local: str, mapping: Mapping) -> str:
    """A local wall-clock time as an instant (``occurred_at`` needs an offset)."""
    return to_utc(datetime.fromisoformat(local), mapping.facility.timezone).isoformat()


def _opened(row: Row, mapping: Mapping) -> dict[str, Any]:
    return {
        "facility": mapping.facility.model_dump(),
        "person": {
            "person_id": row.person_id,
            "first_name": row.first_name,
            "last_name": row.last_name,
            "date_of_birth": date.fromisoformat(row.date_of_birth).isoformat(),
        },
        "booked_at": row.booked_at,
        "charges": [],
    }


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def unchanged(snapshot: Snapshot, text: str) -> bool:
    """The very roster already applied: nothing to compare."""
    return snapshot.roster_sha256 == digest(text)
