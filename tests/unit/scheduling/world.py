"""A small world for the deadline rules: the real booking rules feed the real scheduling
rules, with a clock the test drives and a timer that fires exactly at each deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.agency_requests import AGENCY_REQUEST
from schemas.booking_state import BookingState
from schemas.escalations import Escalation
from schemas.notice_alerts import NoticeAlert
from services.booking import domain as booking_rules
from services.core.policy import Policy
from services.notification import domain as notification_rules
from services.scheduling import domain as rules
from tests import factories as f

START = datetime(2027, 3, 2, 0, 0, tzinfo=UTC)  # the booking opened on 2027-03-01


Decision = rules.Outcome | rules.Duplicate | rules.Rejected | rules.Stale | rules.Forget


class World:
    def __init__(
        self, booking_id: str = "2027-000123", release_hour: int = 9, policy: Policy | None = None
    ) -> None:
        self.booking_id = booking_id
        self.release_hour = release_hour
        self.policy = policy or Policy()
        self.now = START
        self.offset = 0
        self.booking: booking_rules.BookingRecord | None = None
        self.record: rules.SchedulingRecord | None = None
        self.alerts: list[NoticeAlert] = []
        self.states: list[BookingState] = []
        self.escalations: list[Escalation] = []
        self.schedules: list[Any] = []
        self.outcomes: list[Decision] = []

    def notification_record(self) -> notification_rules.NotificationRecord:
        """What the notification service holds for this booking once it has read the
        booking's latest state: the copy notices are rendered from."""
        outcome = notification_rules.on_booking_state(None, self.states[-1], self.policy, self.now)
        assert isinstance(outcome, notification_rules.Outcome), outcome
        return outcome.record

    # -- inputs
    def jail(self, document: dict[str, Any]) -> rules.Outcome:
        self.offset += 1
        decision = booking_rules.apply(
            self.booking, f.typed(document), f"jail.booking.v1:0:{self.offset}"
        )
        assert isinstance(decision, booking_rules.Accepted), decision
        self.booking = decision.record
        self.states.append(decision.message)
        outcome = rules.on_booking_state(
            self.record, decision.message, self.release_hour, self.now, self.policy
        )
        assert isinstance(outcome, rules.Outcome), outcome
        self._take(outcome)
        return outcome

    def open(self, **kwargs: Any) -> rules.Outcome:
        return self.jail(f.opened(booking_id=self.booking_id, **kwargs))

    def schedule(self, release_at: datetime | str) -> rules.Outcome:
        text = release_at if isinstance(release_at, str) else release_at.isoformat()
        return self.jail(f.scheduled(text, booking_id=self.booking_id))

    def unschedule(self) -> rules.Outcome:
        return self.jail(f.unscheduled(booking_id=self.booking_id))

    def release(self, at: datetime | None = None) -> rules.Outcome:
        return self.jail(f.released((at or self.now).isoformat(), booking_id=self.booking_id))

    def transfer(self, at: datetime | None = None) -> rules.Outcome:
        return self.jail(f.transferred((at or self.now).isoformat(), booking_id=self.booking_id))

    def request(
        self,
        request_id: str = "r1",
        agency: str = "dhs-ice",
        hours: int | None = None,
        event_id: str | None = None,
    ) -> Decision:
        data: dict[str, Any] = {"request_id": request_id, "agency": agency, "form": "I-247A"}
        if hours is not None:
            data["notice_hours"] = hours
        document = f.envelope(
            "notice_request.received",
            data,
            booking_id=self.booking_id,
            event_id=event_id,
            occurred_at=self.now.isoformat(),
        )
        return self._request(document)

    def withdraw(self, request_id: str = "r1") -> Decision:
        document = f.envelope(
            "notice_request.withdrawn",
            {"request_id": request_id, "reason": "no longer sought"},
            booking_id=self.booking_id,
            occurred_at=self.now.isoformat(),
        )
        return self._request(document)

    def _request(self, document: dict[str, Any]) -> Decision:
        self.offset += 1
        event = AGENCY_REQUEST.validate_python(document)
        outcome = rules.on_request(
            self.record, event, f"agency.requests.v1:0:{self.offset}", 48, self.now, self.policy
        )
        if isinstance(outcome, rules.Outcome):
            self._take(outcome)
        else:
            self.outcomes.append(outcome)
        return outcome

    # -- time
    def advance(self, delta: timedelta) -> list[NoticeAlert]:
        """Move the clock; the timer fires at each deadline on the way, to the second."""
        target = self.now + delta
        before = len(self.alerts)
        while self.record and self.record.next_due and self.record.next_due <= target:
            self.now = max(self.now, self.record.next_due)
            outcome = rules.on_tick(self.record, self.now, self.policy)
            self._take(outcome)
            if isinstance(outcome, rules.Forget) or not outcome.alerts:
                break
        self.now = target
        if self.record:
            self._take(rules.on_tick(self.record, self.now, self.policy))
        return self.alerts[before:]

    def _take(self, outcome: rules.Outcome | rules.Forget) -> None:
        self.outcomes.append(outcome)
        if isinstance(outcome, rules.Forget):
            self.record = None
            return
        self.record = outcome.record
        self.alerts.extend(outcome.alerts)
        self.escalations.extend(outcome.escalations)
        if outcome.schedule:
            self.schedules.append(outcome.schedule)

    # -- looking
    def kinds(self) -> list[str]:
        return [a.data.kind.value for a in self.alerts]

    def of_kind(self, kind: str) -> list[NoticeAlert]:
        return [a for a in self.alerts if a.data.kind.value == kind]


def flagged(hours: int | None = None) -> World:
    world = World()
    world.open()
    world.request(hours=hours)
    return world
