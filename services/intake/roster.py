"""A jail's roster file (CSV) read into rows (#45). Pure: the text and its mapping in; the rows
and each malformed row's problem, with its line number, out. What changed since the last
roster, and the guards: ``services.intake.roster_changes``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

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

    jurisdiction: str = ""  # given on the command line (--jurisdiction), not in the file
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
