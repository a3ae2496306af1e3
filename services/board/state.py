"""What the board shows, folded from the topics (a global view over every partition).

Pure: ``apply(topic, key, value)`` for each message, ``view(now, filters)`` for the page.
No names or dates of birth are kept: booking ids, facilities and times only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schemas.topics import (
    AGENCY_REQUESTS,
    AUDIT,
    BOOKING_STATE,
    DEADLETTER,
    ESCALATIONS,
    NOTICE_ALERTS,
    RELEASE_SCHEDULE,
    is_agency_topic,
)

# The topics the board folds (with every agency's notices): its app follows these.
FOLDED = (
    BOOKING_STATE,
    RELEASE_SCHEDULE,
    AGENCY_REQUESTS,
    NOTICE_ALERTS,
    AUDIT,
    ESCALATIONS,
    DEADLETTER,
)
UPCOMING = timedelta(days=7)
DEFAULT_WINDOW_HOURS = 48


@dataclass
class Booking:
    key: str
    jurisdiction: str
    booking_id: str
    facility_id: str = ""
    facility_name: str = ""
    timezone: str = "UTC"
    status: str = "unscheduled"
    release_at: datetime | None = None
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)  # request_id -> info


@dataclass
class AwaitingAck:
    notice_id: str
    key: str
    agency: str
    kind: str
    issued_at: datetime
    attempt: int
    late: bool


@dataclass
class BoardState:
    bookings: dict[str, Booking] = field(default_factory=dict)
    awaiting: dict[str, AwaitingAck] = field(default_factory=dict)
    late_notices: dict[str, dict[str, Any]] = field(default_factory=dict)
    escalations: dict[str, dict[str, Any]] = field(default_factory=dict)
    dead_letters: Counter[str] = field(default_factory=Counter)
    closed: set[str] = field(default_factory=set)  # notices acknowledged or escalated
    _seen_dead: set[str] = field(default_factory=set)

    def booking(self, key: str) -> Booking:
        if key not in self.bookings:
            jurisdiction, _, booking_id = key.partition("/")
            self.bookings[key] = Booking(key, jurisdiction, booking_id)
        return self.bookings[key]

    def apply(self, topic: str, key: str | None, value: Any) -> None:
        if not isinstance(value, dict):
            return
        data: dict[str, Any] = value["data"] if isinstance(value.get("data"), dict) else {}
        if topic == DEADLETTER.name:
            ident = str(value.get("deadletter_id"))
            if ident not in self._seen_dead:
                self._seen_dead.add(ident)
                self.dead_letters[str(value.get("reason"))] += 1
            return
        if not key:
            return
        if topic == BOOKING_STATE.name:
            facility = data.get("facility") or {}
            booking = self.booking(key)
            booking.facility_id = facility.get("id", "")
            booking.facility_name = facility.get("name", "")
            booking.timezone = facility.get("timezone", "UTC")
        elif topic == RELEASE_SCHEDULE.name:
            booking = self.booking(key)
            booking.status = data.get("status", booking.status)
            release = data.get("release_at")
            booking.release_at = datetime.fromisoformat(release) if release else None
            booking.timezone = data.get("facility_timezone") or booking.timezone
        elif topic == AGENCY_REQUESTS.name:
            booking = self.booking(key)
            request_id = data.get("request_id")
            if value.get("type") == "notice_request.received" and request_id:
                booking.requests[request_id] = {
                    "agency": data.get("agency"),
                    "window_hours": data.get("notice_hours") or DEFAULT_WINDOW_HOURS,
                }
            elif value.get("type") == "notice_request.withdrawn":
                booking.requests.pop(str(request_id), None)
        elif topic == NOTICE_ALERTS.name:
            request = self.booking(key).requests.get(str(data.get("request_id")))
            if request is not None and data.get("window_hours"):
                request["window_hours"] = data["window_hours"]  # the policy's, when defaulted
        elif is_agency_topic(topic):
            notice_id = data.get("notice_id")
            if not notice_id:
                return
            if data.get("kind") != "released" and notice_id not in self.closed:
                self.awaiting[notice_id] = AwaitingAck(
                    notice_id,
                    key,
                    data.get("agency", ""),
                    data.get("kind", ""),
                    datetime.fromisoformat(data["issued_at"]),
                    int(data.get("attempt", 1)),
                    bool(data.get("late")),
                )
            if data.get("late") and data.get("kind") == "notice_due":
                self.late_notices[notice_id] = {
                    "key": key,
                    "agency": data.get("agency"),
                    "lead_hours": data.get("lead_hours"),
                    "issued_at": data.get("issued_at"),
                }
        elif topic == AUDIT.name:
            if data.get("step") in ("acknowledged", "escalated") and data.get("notice_id"):
                self.awaiting.pop(data["notice_id"], None)
                self.closed.add(data["notice_id"])
        elif topic == ESCALATIONS.name:
            self.escalations[str(data.get("escalation_id"))] = {
                "key": key,
                "reason": data.get("reason"),
                "agency": data.get("agency"),
                "at": data.get("at"),
                "detail": data.get("detail"),
            }

    def view(
        self, now: datetime, jurisdiction: str | None = None, facility: str | None = None
    ) -> dict[str, Any]:
        def wanted(key: str) -> bool:
            booking = self.bookings.get(key)
            if booking is None:
                return jurisdiction is None and facility is None
            return (jurisdiction is None or booking.jurisdiction == jurisdiction) and (
                facility is None or booking.facility_id == facility
            )

        upcoming = []
        for booking in self.bookings.values():
            if not booking.requests or booking.status != "scheduled" or not booking.release_at:
                continue
            if not (now - timedelta(hours=1) <= booking.release_at <= now + UPCOMING):
                continue
            if not wanted(booking.key):
                continue
            for request_id, request in sorted(booking.requests.items()):
                due_at = booking.release_at - timedelta(hours=request["window_hours"])
                upcoming.append(
                    {
                        "key": booking.key,
                        "jurisdiction": booking.jurisdiction,
                        "facility": booking.facility_name or booking.facility_id,
                        "timezone": booking.timezone,
                        "agency": request["agency"],
                        "request_id": request_id,
                        "release_at": booking.release_at.isoformat(),
                        "due_at": due_at.isoformat(),
                        "seconds_to_due": round((due_at - now).total_seconds()),
                        "seconds_to_release": round((booking.release_at - now).total_seconds()),
                    }
                )
        upcoming.sort(key=lambda row: row["due_at"])

        def zone(key: str) -> str:
            booking = self.bookings.get(key)
            return booking.timezone if booking else "UTC"

        awaiting = [
            {
                "notice_id": a.notice_id,
                "key": a.key,
                "agency": a.agency,
                "kind": a.kind,
                "issued_at": a.issued_at.isoformat(),
                "attempt": a.attempt,
                "late": a.late,
                "timezone": zone(a.key),
            }
            for a in sorted(self.awaiting.values(), key=lambda a: a.issued_at)
            if wanted(a.key)
        ]
        late = [
            {"notice_id": notice_id, **row, "timezone": zone(row["key"])}
            for notice_id, row in self.late_notices.items()
            if wanted(row["key"])
        ]
        escalations = [
            {**row, "timezone": zone(row["key"])}
            for row in self.escalations.values()
            if wanted(row["key"])
        ]
        return {
            "now": now.isoformat(),
            "upcoming": upcoming,
            "awaiting_ack": awaiting,
            "late_notices": late,
            "escalations": escalations,
            "dead_letters": dict(sorted(self.dead_letters.items())),
            "jurisdictions": sorted({b.jurisdiction for b in self.bookings.values()}),
            "facilities": sorted({b.facility_id for b in self.bookings.values() if b.facility_id}),
        }
