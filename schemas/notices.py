"""``notices.<agency>.v1`` and ``notices.subject-copies.v1``: what agencies receive (SPEC 3.5)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from schemas.envelope import Envelope, EventId, Instant, Payload
from schemas.jail_booking import Facility
from schemas.notice_alerts import AlertKind


class Subject(Payload):
    booking_id: str
    person_id: str
    first_name: str
    last_name: str
    date_of_birth: date


class NoticeData(Payload):
    notice_id: EventId
    kind: AlertKind
    request_id: str
    agency: str
    subject: Subject
    facility: Facility
    release_at: Instant | None
    release_at_local: Instant | None
    lead_hours: float | None
    late: bool
    issued_at: Instant
    attempt: int = 1
    alert_id: EventId


class Notice(Envelope):
    type: Literal["notice"] = "notice"
    data: NoticeData
