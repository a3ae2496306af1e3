"""``notice.alerts.v1``: the deadline agent's alerts (SPEC 3.4)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from schemas.envelope import Envelope, EventId, Instant, Payload
from schemas.jail_booking import Charge, Facility, Person

LATE_AFTER_SECONDS = 60


class AlertKind(StrEnum):
    NOTICE_DUE = "notice_due"
    RELEASE_CHANGED = "release_changed"
    RELEASE_CANCELLED = "release_cancelled"
    RELEASED = "released"


class AlertBooking(Payload):
    """The booking as it stood when the alert was emitted. Alerts written before records were
    slimmed carry it; the scheduling service no longer keeps who the person is, so new
    alerts name ``booking_revision`` instead and the notification service renders from its
    own copy of ``booking.state.v1``. Personal fields never reach a log line."""

    facility: Facility
    person: Person
    charges: list[Charge]


class NoticeAlertData(Payload):
    alert_id: EventId
    kind: AlertKind
    request_id: str
    agency: str
    release_at: Instant | None
    window_hours: int
    due_at: Instant | None
    emitted_at: Instant
    lead_hours: float | None
    late: bool
    schedule_revision: int
    cause_event_id: EventId | None = None  # the input event that led to this alert
    # The booking.state revision the alert was decided on: the notification service renders
    # the notice from its copy of that revision (or a later one), holding the alert until then.
    booking_revision: int | None = None
    facility_timezone: str | None = None  # to read release_at on the facility's wall clock
    booking: AlertBooking | None = None  # only on alerts written before slim records
    # Only on kind == released. Given: the agency received a notice (one suppressed by the
    # jurisdiction's policy was not given); withheld_by: the policy rule that forbade it.
    notice_given: bool | None = None
    notice_lead_hours: float | None = None
    notice_withheld_by: str | None = None


class NoticeAlert(Envelope):
    type: Literal["notice.alert"] = "notice.alert"
    data: NoticeAlertData
