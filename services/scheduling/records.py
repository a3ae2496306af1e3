"""What the scheduling service keeps per booking, and what a rule returns when it changed.
Pure values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from schemas.audit import AuditRecord
from schemas.booking_state import BookingStateData
from schemas.envelope import booking_key
from schemas.escalations import Escalation
from schemas.notice_alerts import NoticeAlert
from schemas.release_schedule import ReleaseSchedule, ScheduleStatus


class Schedule(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: ScheduleStatus
    release_at: datetime | None
    revision: int
    cause_event_id: str
    occurred_at: datetime
    facility_timezone: str


class RequestState(BaseModel):
    """One notice request and what its agency has been told."""

    model_config = ConfigDict(frozen=True)

    request_id: str
    agency: str
    form: str
    window_hours: int
    received_event_id: str
    received_at: datetime
    # Filed again after a withdrawal: a new filing, whose alerts are new alerts.
    filing: int = 1
    active: bool = True
    withdrawn_at: datetime | None = None
    # A notice_due is owed when the release enters the window.
    armed: bool = True
    # The release time the agency currently believes, and the schedule revision it came from.
    told_release_at: datetime | None = None
    told_revision: int | None = None
    first_notice_at: datetime | None = None  # the first notice the policy let through
    withheld_by: str | None = None  # the policy rule that withheld the notice_due, if any
    # The release (or transfer) was reported; nothing more is owed.
    closed: bool = False

    @property
    def window(self) -> timedelta:
        return timedelta(hours=self.window_hours)


class BookingFacts(BaseModel):
    """What the deadline rules need of a booking: its revision and the statutes it is held
    on (a jurisdiction's policy decides by statute). Not who the person is: the notification
    service keeps that, from ``booking.state.v1``, for the bookings it writes notices about."""

    model_config = ConfigDict(frozen=True)

    revision: int
    statutes: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _from_full_booking(cls, value: Any) -> Any:
        """Records stored before they were slimmed held the whole booking: keep its facts."""
        if isinstance(value, dict) and "charges" in value and "statutes" not in value:
            statutes = tuple(charge["statute"] for charge in value["charges"])
            return {"revision": value["revision"], "statutes": statutes}
        return value

    @classmethod
    def of(cls, booking: BookingStateData) -> BookingFacts:
        return cls(
            revision=booking.revision,
            statutes=tuple(charge.statute for charge in booking.charges),
        )


class SchedulingRecord(BaseModel):
    """What the scheduling service keeps per booking (table value)."""

    model_config = ConfigDict(frozen=True)

    jurisdiction: str
    booking_id: str
    booking: BookingFacts | None = None
    schedule: Schedule | None = None
    requests: dict[str, RequestState] = {}
    applied: dict[str, str] = {}  # request event_id -> position it was read from
    # The earliest armed deadline: kept in the record so the deadline index can be rebuilt
    # on partition assignment without decoding every record.
    next_due: datetime | None = None
    # Released or transferred with nothing owed: when the record shrinks to a stub, and for a
    # stub (``retired``), when it is deleted.
    retire_at: datetime | None = None
    retired: bool = False

    @property
    def key(self) -> str:
        return booking_key(self.jurisdiction, self.booking_id)

    @property
    def booking_revision(self) -> int:
        return self.booking.revision if self.booking else 0


@dataclass(frozen=True)
class Outcome:
    record: SchedulingRecord
    schedule: ReleaseSchedule | None = None  # to publish: a change, or a re-send
    alerts: tuple[NoticeAlert, ...] = ()
    escalations: tuple[Escalation, ...] = ()
    audit: tuple[AuditRecord, ...] = ()  # the ledger's record of a request filed or withdrawn
    # False when ``schedule`` is the current one sent again (after a redelivery).
    schedule_changed: bool = True
    retired: bool = False  # the record just became a stub


def empty_record(jurisdiction: str, booking_id: str) -> SchedulingRecord:
    return SchedulingRecord(jurisdiction=jurisdiction, booking_id=booking_id)
