"""The deadline rules (SPEC 3.4). Pure: values in, values out.

Where is the 48-hour window decided? Here: ``reconcile`` compares, for every active notice
request of a booking, what the agency has been told with the booking's current schedule
and the time ``now``, and returns the alerts owed. It is level-triggered: calling it again
with the same state and time owes nothing new, so a repeated input, a repeated timer tick
or a replay after a crash can never produce a second, different alert. Each alert's id is
derived from the situation (booking, request, kind, schedule revision), so a repeat after a
crash carries the same id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas.escalations import Escalation, EscalationReason
from schemas.notice_alerts import (
    LATE_AFTER_SECONDS,
    AlertKind,
    NoticeAlert,
    NoticeAlertData,
)
from schemas.release_schedule import ScheduleStatus
from services.core.escalations import escalation
from services.core.policy import Decision, Policy
from services.scheduling.records import (
    BookingFacts,
    Outcome,
    RequestState,
    Schedule,
    SchedulingRecord,
)

HOUR = 3600.0
DEFAULT_POLICY = Policy()  # notices: all, as when a jurisdiction has no policy of its own


@dataclass
class _Owed:
    alerts: list[NoticeAlert] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)


def reconcile(
    record: SchedulingRecord,
    now: datetime,
    cause_event_id: str | None,
    policy: Policy = DEFAULT_POLICY,
) -> Outcome:
    """Every alert owed now, given the schedule and what each agency was told. ``policy``
    (the jurisdiction's) says whether a notice may reach the agency at all: an alert is owed
    either way (the notification service records the suppression), but only a notice let
    through counts as given, and a release the policy withheld notice for is no failure."""
    schedule, booking = record.schedule, record.booking
    if record.retired:  # a stub: nothing is owed any more
        return Outcome(record)
    if schedule is None or booking is None:
        return Outcome(record.model_copy(update={"next_due": None}))
    owed = _Owed()
    requests = {}
    for request_id, request in sorted(record.requests.items()):
        if request.active and not request.closed:
            request = _reconcile_one(
                record, booking, schedule, request, now, cause_event_id, owed, policy
            )
        requests[request_id] = request
    updated = record.model_copy(update={"requests": requests})
    updated = updated.model_copy(
        update={"next_due": next_deadline(updated), "retire_at": retire_at(updated, now, policy)}
    )
    return Outcome(updated, alerts=tuple(owed.alerts), escalations=tuple(owed.escalations))


def retire_at(record: SchedulingRecord, now: datetime, policy: Policy) -> datetime | None:
    """A booking released or transferred owes nothing more once every request is closed:
    its record is retired ``policy.retire_after`` later (the first time this is so counts)."""
    schedule = record.schedule
    if schedule is None or schedule.status not in (
        ScheduleStatus.RELEASED,
        ScheduleStatus.TRANSFERRED,
    ):
        return None
    if any(request.active and not request.closed for request in record.requests.values()):
        return None
    return record.retire_at or now + policy.retire_after


def _reconcile_one(
    record: SchedulingRecord,
    booking: BookingFacts,
    schedule: Schedule,
    request: RequestState,
    now: datetime,
    cause_event_id: str | None,
    owed: _Owed,
    policy: Policy,
) -> RequestState:
    def alert(
        kind: AlertKind,
        release_at: datetime | None,
        notice_given: bool | None = None,
        notice_lead_hours: float | None = None,
        notice_withheld_by: str | None = None,
    ) -> NoticeAlert:
        return _alert(
            record,
            booking,
            schedule,
            request,
            kind,
            now,
            cause_event_id,
            release_at=release_at,
            notice_given=notice_given,
            notice_lead_hours=notice_lead_hours,
            notice_withheld_by=notice_withheld_by,
        )

    decision = policy.decide(booking.statutes)
    if schedule.status in (ScheduleStatus.RELEASED, ScheduleStatus.TRANSFERRED):
        given = request.first_notice_at is not None
        withheld = None if given else (request.withheld_by or _rule_if_forbidden(decision))
        released_at = schedule.release_at or now
        lead = _hours(released_at - request.first_notice_at) if request.first_notice_at else None
        released = alert(
            AlertKind.RELEASED,
            release_at=released_at,
            notice_given=given,
            notice_lead_hours=lead,
            notice_withheld_by=withheld,
        )
        owed.alerts.append(released)
        if not given and withheld is None:  # the law withheld no notice: nobody sent one
            owed.escalations.append(_released_without_notice(record, request, released, now))
        return request.model_copy(update={"closed": True, "armed": False})

    if schedule.status is ScheduleStatus.UNSCHEDULED:
        if request.told_release_at is not None:
            owed.alerts.append(alert(AlertKind.RELEASE_CANCELLED, release_at=None))
            return request.model_copy(
                update={"told_release_at": None, "told_revision": None, "armed": True}
            )
        return request

    # Scheduled.
    assert schedule.release_at is not None
    release_at = schedule.release_at
    due_at = release_at - request.window
    told = request.told_release_at
    if told is not None and request.told_revision != schedule.revision:
        if told != release_at:
            owed.alerts.append(alert(AlertKind.RELEASE_CHANGED, release_at=release_at))
            left_the_window = release_at > told and due_at > now
            request = request.model_copy(
                update={
                    "told_release_at": release_at,
                    "told_revision": schedule.revision,
                    "armed": request.armed or left_the_window,
                }
            )
        else:
            request = request.model_copy(update={"told_revision": schedule.revision})
    if request.armed and now >= due_at:
        owed.alerts.append(alert(AlertKind.NOTICE_DUE, release_at=release_at))
        request = request.model_copy(
            update={
                "armed": False,
                "told_release_at": release_at,
                "told_revision": schedule.revision,
                # Given only if the policy lets it reach the agency (else the ledger says
                # which rule withheld it).
                "first_notice_at": request.first_notice_at or (now if decision.allowed else None),
                "withheld_by": None if decision.allowed else decision.rule,
            }
        )
    return request


def _rule_if_forbidden(decision: Decision) -> str | None:
    return None if decision.allowed else decision.rule


def next_deadline(record: SchedulingRecord) -> datetime | None:
    """The earliest instant at which a notice_due becomes owed, if any is armed."""
    schedule = record.schedule
    if schedule is None or schedule.status is not ScheduleStatus.SCHEDULED:
        return None
    assert schedule.release_at is not None
    dues = [
        schedule.release_at - request.window
        for request in record.requests.values()
        if request.active and not request.closed and request.armed
    ]
    return min(dues, default=None)


def alert_id(key: str, request_id: str, kind: AlertKind, revision: int, filing: int = 1) -> str:
    """The same situation always yields the same id: booking, request (and its filing, when
    re-filed after a withdrawal), kind, and the schedule revision it is about."""
    request = request_id if filing == 1 else f"{request_id}#{filing}"
    if kind is AlertKind.RELEASED:
        return f"{key}|{request}|{kind.value}"
    return f"{key}|{request}|{kind.value}|r{revision}"


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / HOUR, 3)


def _alert(
    record: SchedulingRecord,
    booking: BookingFacts,
    schedule: Schedule,
    request: RequestState,
    kind: AlertKind,
    now: datetime,
    cause_event_id: str | None,
    *,
    release_at: datetime | None,
    notice_given: bool | None = None,
    notice_lead_hours: float | None = None,
    notice_withheld_by: str | None = None,
) -> NoticeAlert:
    timed = kind in (AlertKind.NOTICE_DUE, AlertKind.RELEASE_CHANGED) and release_at is not None
    due_at = release_at - request.window if timed and release_at else None
    late = due_at is not None and (now - due_at).total_seconds() > LATE_AFTER_SECONDS
    identifier = alert_id(record.key, request.request_id, kind, schedule.revision, request.filing)
    return NoticeAlert(
        event_id=identifier,
        occurred_at=now,
        jurisdiction=record.jurisdiction,
        booking_id=record.booking_id,
        data=NoticeAlertData(
            alert_id=identifier,
            kind=kind,
            request_id=request.request_id,
            agency=request.agency,
            release_at=release_at,
            window_hours=request.window_hours,
            due_at=due_at,
            emitted_at=now,
            lead_hours=_hours(release_at - now) if timed and release_at else None,
            late=late,
            schedule_revision=schedule.revision,
            cause_event_id=cause_event_id,
            notice_given=notice_given,
            notice_lead_hours=notice_lead_hours,
            notice_withheld_by=notice_withheld_by,
            booking_revision=booking.revision,
            facility_timezone=schedule.facility_timezone,
        ),
    )


def _released_without_notice(
    record: SchedulingRecord, request: RequestState, released: NoticeAlert, now: datetime
) -> Escalation:
    return escalation(
        released.data.alert_id,
        EscalationReason.RELEASED_WITHOUT_NOTICE,
        jurisdiction=record.jurisdiction,
        booking_id=record.booking_id,
        agency=request.agency,
        request_id=request.request_id,
        at=now,
        detail=f"booking {record.booking_id} left custody without any notice to "
        f"{request.agency} (request {request.request_id})",
    )
