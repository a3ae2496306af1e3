"""What happened to each flagged release, as the board says it (pure).

One row per booking and agency request. Its status is the one fact that matters most to the
person watching, in this order: an escalation, the release itself, a notice the policy
withheld, the notice the agency received (late, acknowledged, or awaiting acknowledgement),
and, when none was sent, whether its deadline has passed (overdue) or not (upcoming).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from schemas.notice_alerts import LATE_AFTER_SECONDS, AlertKind
from services.core.localtime import to_local

# A deadline is overdue once it is late by the SPEC's measure (SPEC 3.4: over 60 s).
OVERDUE_AFTER = timedelta(seconds=LATE_AFTER_SECONDS)


class Status(StrEnum):
    OVERDUE = "overdue"
    ESCALATED = "escalated"
    LATE = "late"
    UPCOMING = "upcoming"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    SUPPRESSED = "suppressed"
    RELEASED = "released"


# Rows that need action first, then the rest by how soon they matter.
ORDER = tuple(Status)
NEEDS_ACTION = frozenset({Status.OVERDUE, Status.ESCALATED})
LABELS = {
    Status.OVERDUE: "Overdue: no notice",
    Status.ESCALATED: "Escalated",
    Status.LATE: "Sent late",
    Status.UPCOMING: "Upcoming",
    Status.SENT: "Sent, awaiting ack",
    Status.ACKNOWLEDGED: "Acknowledged",
    Status.SUPPRESSED: "Withheld by policy",
    Status.RELEASED: "Released",
}
KIND_NAMES = {
    AlertKind.NOTICE_DUE: "Release notice",
    AlertKind.RELEASE_CHANGED: "Release change",
    AlertKind.RELEASE_CANCELLED: "Release cancellation",
    AlertKind.RELEASED: "Release confirmation",
}


@dataclass
class Sent:
    """A notice the agency received (the latest of its kind for the request)."""

    notice_id: str
    issued_at: datetime
    lead_hours: float | None
    late: bool
    attempt: int = 1
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    delivery: str = ""  # each channel beyond Kafka: "webhook: delivered (HTTP 200)"


@dataclass
class Facts:
    """What the topics said about one request on one booking."""

    window_hours: int
    booking_status: str
    release_at: datetime | None
    timezone: str
    notice: Sent | None = None
    withheld_by: str | None = None
    escalation: str | None = None  # its reason
    escalation_detail: str = ""
    release_notice_given: bool | None = None  # from the released alert


def due_at(facts: Facts) -> datetime | None:
    return facts.release_at - timedelta(hours=facts.window_hours) if facts.release_at else None


def status_of(facts: Facts, now: datetime) -> Status:
    if facts.escalation:
        return Status.ESCALATED
    if facts.booking_status == "released":
        return Status.RELEASED
    if facts.withheld_by:
        return Status.SUPPRESSED
    if facts.notice is not None:
        if facts.notice.late:
            return Status.LATE
        return Status.ACKNOWLEDGED if facts.notice.acknowledged_by else Status.SENT
    due = due_at(facts)
    if due is not None and now - due > OVERDUE_AFTER:
        return Status.OVERDUE
    return Status.UPCOMING


def local_text(instant: datetime | None, timezone: str) -> str:
    """``Mar 02 09:00 CST``: facility-local, with its zone in text."""
    if instant is None:
        return "-"
    return to_local(instant, timezone).strftime("%b %d %H:%M %Z")


def hours_text(hours: float) -> str:
    whole = int(hours)
    minutes = round((hours - whole) * 60)
    if minutes == 60:
        whole, minutes = whole + 1, 0
    return f"{whole} h {minutes:02d} min" if minutes else f"{whole} h"


def notice_text(sent: Sent, timezone: str) -> str:
    lead = f"{hours_text(sent.lead_hours)} ahead" if sent.lead_hours is not None else "sent"
    text = f"sent {local_text(sent.issued_at, timezone)}, {lead}, attempt {sent.attempt}"
    if sent.delivery:
        text = f"{text}; {sent.delivery}"
    if sent.acknowledged_by:
        at = local_text(sent.acknowledged_at, timezone)
        return f"{text}; acknowledged by {sent.acknowledged_by} at {at}"
    return f"{text}; awaiting acknowledgement"


def delivery_text(data: dict[str, object]) -> str:
    """One channel's latest attempt: ``webhook: retrying (HTTP 503), attempt 3``."""
    answer = f"HTTP {data['status']}" if data.get("status") is not None else data.get("error")
    result = str(data.get("result", "")).replace("_", " ")
    text = (
        f"{data.get('channel')}: {result} ({answer})"
        if answer
        else f"{data.get('channel')}: {result}"
    )
    attempt = data.get("attempt")
    return f"{text}, attempt {attempt}" if isinstance(attempt, int) and attempt > 1 else text


def detail(facts: Facts, status: Status, now: datetime) -> str:
    """One sentence saying what happened, in facility-local time."""
    zone = facts.timezone
    due = due_at(facts)
    if status is Status.ESCALATED:
        return f"{facts.escalation}: {facts.escalation_detail}".rstrip(": ")
    if status is Status.RELEASED:
        if facts.withheld_by:
            return f"released; no notice given, withheld by {facts.withheld_by}"
        if facts.notice is not None:
            return f"released; notice {notice_text(facts.notice, zone)}"
        return "released; no notice given"
    if status is Status.SUPPRESSED:
        return f"no notice sent: withheld by {facts.withheld_by}"
    if status is Status.LATE:
        assert facts.notice is not None
        by = facts.window_hours - (facts.notice.lead_hours or 0.0)
        return f"late by {hours_text(by)}: {notice_text(facts.notice, zone)}"
    if status in (Status.SENT, Status.ACKNOWLEDGED):
        assert facts.notice is not None
        return notice_text(facts.notice, zone)
    if status is Status.OVERDUE:
        assert due is not None
        past = hours_text((now - due).total_seconds() / 3600)
        return f"notice was due {local_text(due, zone)} ({past} ago) and none was sent"
    return f"{facts.window_hours} h notice due {local_text(due, zone)}"


def notice_name(kind: str, agency: str, booking_id: str, attempt: int = 1) -> str:
    """A name a person can read: ``Release notice to dhs-ice, booking 2026-000046``."""
    try:
        what = KIND_NAMES[AlertKind(kind)]
    except ValueError:
        what = "Notice"
    again = f" (attempt {attempt})" if attempt > 1 else ""
    return f"{what} to {agency}, booking {booking_id}{again}"
