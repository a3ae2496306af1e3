"""A jail's roster file (CSV) turned into events by comparing it with the last one (#45). Pure:
text, the mapping and the last snapshot in; rows, problems, events and the next snapshot out.

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

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.jail_booking import Facility
from services.core.localtime import NonexistentLocalTime, to_utc

COLUMNS = ("booking_id", "first_name", "last_name", "date_of_birth", "booked_at", "release_at")


class Columns(BaseModel):
    """Which column of the CSV (its header's text) holds each field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    booking_id: str
    first_name: str
    last_name: str
    date_of_birth: str
    booked_at: str
    release_at: str = Field(description="empty in a row: no date known")
    person_id: str | None = None  # e.g. the state id (SID); else booking:<booking_id>


class Mapping(BaseModel):
    """A roster's layout (``deploy/roster-mapping.yaml`` is a sample)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    jurisdiction: str
    facility: Facility
    columns: Columns
    date_format: str = "%Y-%m-%d"  # strptime: for date_of_birth
    datetime_format: str = "%Y-%m-%d %H:%M"  # strptime, local time: booked_at, release_at
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    # A roster is held when more than this share of the last one's bookings is gone, and at
    # least shrink_guard_min of them (a small jail's one release is not a mass release); an
    # empty roster after a listed one is always held (the classic broken export).
    shrink_guard: float = Field(default=0.30, gt=0, le=1)
    shrink_guard_min: int = Field(default=3, ge=1)


@dataclass(frozen=True)
class Row:
    booking_id: str
    person_id: str
    first_name: str
    last_name: str
    date_of_birth: str  # ISO date
    booked_at: str  # ISO local date-time, no offset (the facility's wall clock)
    release_at: str | None


@dataclass(frozen=True)
class RowProblem:
    line: int  # in the file, the header being line 1
    message: str
    booking_id: str | None  # when it could be read
    text: str  # the row as it was


@dataclass(frozen=True)
class Reading:
    rows: dict[str, Row]
    problems: tuple[RowProblem, ...] = ()


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


def read(text: str, mapping: Mapping) -> Reading:
    """The rows of a roster, each malformed one a problem with its line number."""
    reader = csv.DictReader(io.StringIO(text), delimiter=mapping.delimiter)
    wanted = {name: getattr(mapping.columns, name) for name in (*COLUMNS, "person_id")}
    missing = [
        column
        for column in wanted.values()
        if column is not None and column not in (reader.fieldnames or ())
    ]
    if missing:
        return Reading({}, (RowProblem(1, f"no column {missing[0]!r} in the header", None, ""),))
    rows: dict[str, Row] = {}
    problems: list[RowProblem] = []
    for record in reader:
        line = reader.line_num
        raw = mapping.delimiter.join(str(v) for v in record.values() if v is not None)
        value = {
            name: (record.get(column) or "").strip() if column else ""
            for name, column in wanted.items()
        }
        booking_id = value["booking_id"] or None
        try:
            row = _row(value, mapping)
        except ValueError as exc:
            problems.append(RowProblem(line, str(exc), booking_id, raw))
            continue
        if row.booking_id in rows:
            problems.append(RowProblem(line, "booking listed twice", booking_id, raw))
            continue
        rows[row.booking_id] = row
    return Reading(rows, tuple(problems))


def _row(value: dict[str, str], mapping: Mapping) -> Row:
    for name in COLUMNS[:-1]:
        if not value[name]:
            raise ValueError(f"{getattr(mapping.columns, name)!r} is empty")
    zone = mapping.facility.timezone
    return Row(
        booking_id=value["booking_id"],
        person_id=value["person_id"] or f"booking:{value['booking_id']}",
        first_name=value["first_name"],
        last_name=value["last_name"],
        date_of_birth=_date(value["date_of_birth"], mapping, mapping.columns.date_of_birth),
        booked_at=_local(value["booked_at"], mapping, mapping.columns.booked_at, zone),
        release_at=(
            _local(value["release_at"], mapping, mapping.columns.release_at, zone)
            if value["release_at"]
            else None
        ),
    )


def _date(text: str, mapping: Mapping, column: str) -> str:
    try:
        return datetime.strptime(text, mapping.date_format).date().isoformat()
    except ValueError:
        raise ValueError(f"{column!r}: {text!r} is not a date ({mapping.date_format})") from None


def _local(text: str, mapping: Mapping, column: str, zone: str) -> str:
    try:
        moment = datetime.strptime(text, mapping.datetime_format)
    except ValueError:
        raise ValueError(
            f"{column!r}: {text!r} is not a date-time ({mapping.datetime_format})"
        ) from None
    try:
        to_utc(moment, zone)
    except NonexistentLocalTime as exc:
        raise ValueError(f"{column!r}: {exc}") from None
    return moment.isoformat()


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
