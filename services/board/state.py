"""What the board shows, folded from the topics (a global view over every partition).

Pure: ``apply(topic, key, value)`` for each message, ``view(now, filters)`` for the page.
No names or dates of birth are kept: booking ids, facilities and times only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
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
from services.board.statuses import (
    Facts,
    Sent,
    delivery_text,
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
DEFAULT_WINDOW_HOURS = 48
LEFT_CUSTODY = ("released", "transferred")
# An alert waiting this long for its notice is not a burst in progress: the statuses tell it
# (overdue, escalated), and the board stops counting it here.
WAITING_AT_MOST = timedelta(hours=1)


@dataclass
class Request:
    agency: str
    window_hours: int


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
    requests: dict[str, Request] = field(default_factory=dict)  # by request_id


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
    """Topics arrive in any order between them, so facts about a request are kept by
    (booking key, request id) and joined when the page asks."""

    bookings: dict[str, Booking] = field(default_factory=dict)
    awaiting: dict[str, AwaitingAck] = field(default_factory=dict)
    sent: dict[tuple[str, str], Sent] = field(default_factory=dict)  # latest notice_due
    acks: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # notice -> by, at
    # notice -> (attempt, what its latest delivery attempt beyond Kafka said)
    deliveries: dict[str, tuple[int, str]] = field(default_factory=dict)
    withheld: dict[tuple[str, str], str] = field(default_factory=dict)  # -> the rule
    escalations: dict[str, dict[str, Any]] = field(default_factory=dict)  # by escalation id
    escalated: dict[tuple[str, str], str] = field(default_factory=dict)  # request -> its id
    dead_letters: Counter[str] = field(default_factory=Counter)
    closed: set[str] = field(default_factory=set)  # notices acknowledged or escalated
    # alerts read with no notice (or withheld one) yet: alert_id -> emitted_at (a burst, #47)
    waiting: dict[str, datetime] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)  # alert ids whose notice came first
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
        read = self._readers.get(topic) or (self._notice if is_agency_topic(topic) else None)
        if read is not None:
            read(key, value, data)

    @cached_property  # built once: apply runs for every message the board reads
    def _readers(self) -> dict[str, Callable[[str, dict[str, Any], dict[str, Any]], None]]:
        """What each topic's message changes on the board, by the registry's names."""
        return {
            BOOKING_STATE.name: self._booking_state,
            RELEASE_SCHEDULE.name: self._schedule,
            AGENCY_REQUESTS.name: self._request,
            NOTICE_ALERTS.name: self._alert,
            AUDIT.name: self._ledger,
            ESCALATIONS.name: self._escalation,
        }

    def _booking_state(self, key: str, value: dict[str, Any], data: dict[str, Any]) -> None:
        facility = data.get("facility") or {}
        booking = self.booking(key)
        booking.facility_id = facility.get("id", "")
        booking.facility_name = facility.get("name", "")
        booking.timezone = facility.get("timezone", "UTC")

    def _schedule(self, key: str, value: dict[str, Any], data: dict[str, Any]) -> None:
        booking = self.booking(key)
        booking.status = data.get("status", booking.status)
        release = data.get("release_at")
        booking.release_at = datetime.fromisoformat(release) if release else None
        booking.timezone = data.get("facility_timezone") or booking.timezone

    def _alert(self, key: str, value: dict[str, Any], data: dict[str, Any]) -> None:
        alert_id, emitted = data.get("alert_id"), data.get("emitted_at")
        if alert_id and emitted and alert_id not in self.answered:
            self.waiting[str(alert_id)] = datetime.fromisoformat(emitted)
        request = self.booking(key).requests.get(str(data.get("request_id")))
        if request is not None and data.get("window_hours"):
            request.window_hours = data["window_hours"]  # the policy's, when defaulted

    def _escalation(self, key: str, value: dict[str, Any], data: dict[str, Any]) -> None:
        escalation_id = str(data.get("escalation_id"))
        self.escalated.setdefault((key, str(data.get("request_id"))), escalation_id)
        self.escalations[escalation_id] = {
            "key": key,
            "reason": data.get("reason"),
            "agency": data.get("agency"),
            "request_id": data.get("request_id"),
            "at": data.get("at"),
            "detail": data.get("detail"),
        }

    def _request(self, key: str, value: dict[str, Any], data: dict[str, Any]) -> None:
        kind = value.get("type")
        booking, request_id = self.booking(key), data.get("request_id")
        if kind == "notice_request.received" and request_id:
            window = data.get("notice_hours") or DEFAULT_WINDOW_HOURS
            booking.requests[request_id] = Request(str(data.get("agency")), window)
        elif kind == "notice_request.withdrawn":
            booking.requests.pop(str(request_id), None)

    def _answer(self, alert_id: object) -> None:
        """The alert has its notice (or the policy withheld it): no longer waiting."""
        if alert_id:
            self.waiting.pop(str(alert_id), None)
            self.answered.add(str(alert_id))

    def waiting_now(self, now: datetime) -> tuple[int, float]:
        """Alerts waiting for their notice, and the oldest one's wait in seconds."""
        for alert_id, emitted in list(self.waiting.items()):
            if now - emitted > WAITING_AT_MOST:
                del self.waiting[alert_id]
        if not self.waiting:
            return 0, 0.0
        return len(self.waiting), (now - min(self.waiting.values())).total_seconds()

    def _notice(self, key: str, value: dict[str, Any], data: dict[str, Any]) -> None:
        self._answer(data.get("alert_id"))
        notice_id = data.get("notice_id")
        if not notice_id:
            return
        issued_at = datetime.fromisoformat(data["issued_at"])
        attempt = int(data.get("attempt", 1))
        if data.get("kind") != "released" and notice_id not in self.closed:
            self.awaiting[notice_id] = AwaitingAck(
                notice_id,
                key,
                data.get("agency", ""),
                data.get("kind", ""),
                issued_at,
                attempt,
                bool(data.get("late")),
            )
        if data.get("kind") == "notice_due":
            lead = data.get("lead_hours")
            sent = Sent(notice_id, issued_at, lead, bool(data.get("late")), attempt)
            known = self.sent.get((key, str(data.get("request_id"))))
            if known is None or (known.issued_at, known.attempt) <= (issued_at, attempt):
                self.sent[(key, str(data.get("request_id")))] = sent

    def _ledger(self, key: str, value: dict[str, Any], data: dict[str, Any]) -> None:
        step, notice_id = data.get("step"), data.get("notice_id")
        if value.get("type") == "notice.delivery" and notice_id:
            latest = self.deliveries.get(notice_id)
            if latest is None or latest[0] <= int(data.get("attempt", 0)):
                self.deliveries[notice_id] = (int(data.get("attempt", 0)), delivery_text(data))
            return
        if step in ("acknowledged", "escalated") and notice_id:
            self.awaiting.pop(notice_id, None)
            self.closed.add(notice_id)
        if step == "acknowledged" and notice_id:
            by = str((data.get("detail") or {}).get("by") or "the agency")
            self.acks[notice_id] = (by, datetime.fromisoformat(data["at"]))
        elif step == "suppressed" and (data.get("detail") or {}).get("kind") == "notice_due":
            self.withheld[(key, str(data.get("request_id")))] = str(data.get("rule"))
        if step == "suppressed":
            self._answer(data.get("alert_id"))

    def facts(self, booking: Booking, request_id: str) -> Facts:
        request = booking.requests[request_id]
        sent = self.sent.get((booking.key, request_id))
        if sent is not None and sent.notice_id in self.acks:
            by, at = self.acks[sent.notice_id]
            sent = replace(sent, acknowledged_by=by, acknowledged_at=at)
        if sent is not None and sent.notice_id in self.deliveries:
            sent = replace(sent, delivery=self.deliveries[sent.notice_id][1])
        escalation_id = self.escalated.get((booking.key, request_id))
        escalation = self.escalations[escalation_id] if escalation_id else None
        return Facts(
            window_hours=request.window_hours,
            booking_status="released" if booking.status in LEFT_CUSTODY else booking.status,
            release_at=booking.release_at,
            timezone=booking.timezone,
            notice=sent,
            withheld_by=self.withheld.get((booking.key, request_id)),
            escalation=escalation["reason"] if escalation else None,
            escalation_detail=str(escalation.get("detail") or "") if escalation else "",
        )
