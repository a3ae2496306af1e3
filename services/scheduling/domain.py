"""The release schedule and the deadline rules (SPEC 3.3, 3.4). Pure: values in, values out.

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
from datetime import date, datetime, time, timedelta

from pydantic import BaseModel, ConfigDict

from schemas.agency_requests import AgencyRequest, NoticeRequestReceived
from schemas.audit import AuditRecord, AuditRecordData, AuditStep
from schemas.booking_state import (
    BookingState,
    BookingStateData,
    BookingStatus,
    ExplicitRelease,
    ProjectedRelease,
)
from schemas.deadletter import FieldError, RejectReason
from schemas.envelope import booking_key
from schemas.escalations import Escalation, EscalationData, EscalationReason
from schemas.notice_alerts import (
    LATE_AFTER_SECONDS,
    AlertBooking,
    AlertKind,
    NoticeAlert,
    NoticeAlertData,
)
from schemas.release_schedule import ReleaseSchedule, ReleaseScheduleData, ScheduleStatus
from services.core.localtime import NonexistentLocalTime, to_utc

HOUR = 3600.0


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
    first_notice_at: datetime | None = None
    # The release (or transfer) was reported; nothing more is owed.
    closed: bool = False

    @property
    def window(self) -> timedelta:
        return timedelta(hours=self.window_hours)


class SchedulingRecord(BaseModel):
    """What the scheduling service keeps per booking (table value)."""

    model_config = ConfigDict(frozen=True)

    jurisdiction: str
    booking_id: str
    booking: BookingStateData | None = None
    schedule: Schedule | None = None
    requests: dict[str, RequestState] = {}
    applied: dict[str, str] = {}  # request event_id -> position it was read from
    # The earliest armed deadline: kept in the record so the deadline index can be rebuilt
    # on partition assignment without decoding every record.
    next_due: datetime | None = None

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
    note: str = "applied"


@dataclass(frozen=True)
class Rejected:
    errors: tuple[FieldError, ...]


@dataclass
class _Owed:
    alerts: list[NoticeAlert] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)


# ---------------------------------------------------------------------------- schedule


def projected_release(plan: ProjectedRelease, timezone: str, release_hour: int) -> datetime:
    """A sentence ends on starts_on + term - credit, at the facility's release hour."""
    day: date = plan.starts_on + timedelta(days=plan.term_days - plan.credit_days)
    local = datetime.combine(day, time(hour=release_hour))
    try:
        return to_utc(local, timezone)
    except NonexistentLocalTime:
        # The release hour falls in a spring-forward gap: the first instant after it.
        return to_utc(local + timedelta(hours=1), timezone)


def derive_schedule(
    booking: BookingStateData, release_hour: int
) -> tuple[ScheduleStatus, datetime | None]:
    if booking.status is BookingStatus.RELEASED:
        return ScheduleStatus.RELEASED, booking.released_at
    if booking.status is BookingStatus.TRANSFERRED:
        return ScheduleStatus.TRANSFERRED, booking.transferred_at
    plan = booking.release_plan
    if isinstance(plan, ExplicitRelease):
        return ScheduleStatus.SCHEDULED, plan.release_at
    if isinstance(plan, ProjectedRelease):
        return ScheduleStatus.SCHEDULED, projected_release(
            plan, booking.facility.timezone, release_hour
        )
    return ScheduleStatus.UNSCHEDULED, None


def schedule_message(record: SchedulingRecord) -> ReleaseSchedule | None:
    schedule = record.schedule
    if schedule is None:
        return None
    return ReleaseSchedule(
        event_id=f"{record.key}#schedule@{schedule.revision}",
        occurred_at=schedule.occurred_at,
        jurisdiction=record.jurisdiction,
        booking_id=record.booking_id,
        data=ReleaseScheduleData(
            status=schedule.status,
            release_at=schedule.release_at,
            facility_timezone=schedule.facility_timezone,
            revision=schedule.revision,
            cause_event_id=schedule.cause_event_id,
        ),
    )


# ---------------------------------------------------------------------------- inputs


def empty_record(jurisdiction: str, booking_id: str) -> SchedulingRecord:
    return SchedulingRecord(jurisdiction=jurisdiction, booking_id=booking_id)


def on_booking_state(
    record: SchedulingRecord | None, message: BookingState, release_hour: int, now: datetime
) -> Outcome:
    """A new state of the booking: maybe a new schedule, maybe alerts."""
    record = record or empty_record(message.jurisdiction, message.booking_id)
    state = message.data
    if state.revision < record.booking_revision:
        return Outcome(record, note="stale")
    if state.revision == record.booking_revision:
        # Seen before (a redelivery): re-send the schedule, which may have been lost.
        return Outcome(record, schedule=schedule_message(record), note="duplicate")
    status, release_at = derive_schedule(state, release_hour)
    current = record.schedule
    changed = current is None or (current.status, current.release_at) != (status, release_at)
    schedule = current
    if changed:
        schedule = Schedule(
            status=status,
            release_at=release_at,
            revision=(current.revision + 1) if current else 1,
            cause_event_id=state.cause.event_id,
            occurred_at=state.cause.occurred_at,
            facility_timezone=state.facility.timezone,
        )
    updated = record.model_copy(update={"booking": state, "schedule": schedule})
    result = reconcile(updated, now, cause_event_id=state.cause.event_id)
    return Outcome(
        result.record,
        schedule=schedule_message(result.record) if changed else None,
        alerts=result.alerts,
        escalations=result.escalations,
        note="applied" if changed else "no_schedule_change",
    )


def on_request(
    record: SchedulingRecord | None,
    event: AgencyRequest,
    position: str,
    default_window_hours: int,
    now: datetime,
) -> Outcome | Rejected:
    """A notice request filed or withdrawn."""
    record = record or empty_record(event.jurisdiction, event.booking_id)
    if event.event_id in record.applied:
        return Outcome(record, note="duplicate")
    applied = {**record.applied, event.event_id: position}
    requests = dict(record.requests)
    request_id = event.data.request_id
    if isinstance(event, NoticeRequestReceived):
        data = event.data
        existing = requests.get(request_id)
        closed = record.schedule is not None and record.schedule.status in (
            ScheduleStatus.RELEASED,
            ScheduleStatus.TRANSFERRED,
        )
        fresh = RequestState(
            request_id=request_id,
            agency=data.agency,
            form=data.form,
            window_hours=data.notice_hours or default_window_hours,
            received_event_id=event.event_id,
            received_at=event.occurred_at,
            # A request for someone already gone: recorded, no alerts (not flagged at release).
            closed=closed,
            armed=not closed,
        )
        if existing is not None and existing.active:
            # Filed again: the new window and form apply; what was told stands.
            fresh = existing.model_copy(
                update={"window_hours": fresh.window_hours, "form": fresh.form}
            )
        elif existing is not None:
            fresh = fresh.model_copy(update={"filing": existing.filing + 1})
        requests[request_id] = fresh
        note = "request_received_after_release" if closed else "request_received"
    else:
        existing = requests.get(request_id)
        if existing is None:
            return Rejected(
                (
                    FieldError(
                        path="data.request_id",
                        reason=RejectReason.INCONSISTENT,
                        message=f"withdrawal of request {request_id!r}, which was never "
                        f"received for this booking",
                    ),
                )
            )
        requests[request_id] = existing.model_copy(
            update={"active": False, "armed": False, "withdrawn_at": event.occurred_at}
        )
        note = "request_withdrawn"
    updated = record.model_copy(update={"requests": requests, "applied": applied})
    result = reconcile(updated, now, cause_event_id=event.event_id)
    return Outcome(
        result.record,
        alerts=result.alerts,
        escalations=result.escalations,
        audit=(_request_audit(record, event, requests[request_id], note),),
        note=note,
    )


def _request_audit(
    record: SchedulingRecord, event: AgencyRequest, request: RequestState, note: str
) -> AuditRecord:
    """Every request received or withdrawn is a ledger record (Illinois, for one, reports
    each detainer received, with its date and outcome)."""
    withdrawn = note == "request_withdrawn"
    return AuditRecord(
        event_id=f"audit|{event.event_id}",
        occurred_at=event.occurred_at,
        jurisdiction=record.jurisdiction,
        booking_id=record.booking_id,
        data=AuditRecordData(
            step=AuditStep.REQUEST_WITHDRAWN if withdrawn else AuditStep.REQUEST_RECEIVED,
            at=event.occurred_at,
            agency=request.agency,
            request_id=request.request_id,
            detail={
                "form": request.form,
                "window_hours": request.window_hours,
                "filing": request.filing,
                "cause_event_id": event.event_id,
                "booking_known": record.booking is not None,
                "received_after_release": note == "request_received_after_release",
                **({"reason": getattr(event.data, "reason", "")} if withdrawn else {}),
            },
        ),
    )


def on_tick(record: SchedulingRecord, now: datetime) -> Outcome:
    """The timer says a deadline may be due."""
    cause = record.schedule.cause_event_id if record.schedule else None
    result = reconcile(record, now, cause_event_id=cause)
    return Outcome(
        result.record,
        alerts=result.alerts,
        escalations=result.escalations,
        note="fired" if result.alerts else "nothing_due",
    )


# ---------------------------------------------------------------------------- the rules


def reconcile(record: SchedulingRecord, now: datetime, cause_event_id: str | None) -> Outcome:
    """Every alert owed now, given the schedule and what each agency was told."""
    schedule, booking = record.schedule, record.booking
    if schedule is None or booking is None:
        return Outcome(record.model_copy(update={"next_due": None}))
    owed = _Owed()
    requests = {}
    for request_id, request in sorted(record.requests.items()):
        if request.active and not request.closed:
            request = _reconcile_one(record, booking, schedule, request, now, cause_event_id, owed)
        requests[request_id] = request
    updated = record.model_copy(update={"requests": requests})
    updated = updated.model_copy(update={"next_due": next_deadline(updated)})
    return Outcome(updated, alerts=tuple(owed.alerts), escalations=tuple(owed.escalations))


def _reconcile_one(
    record: SchedulingRecord,
    booking: BookingStateData,
    schedule: Schedule,
    request: RequestState,
    now: datetime,
    cause_event_id: str | None,
    owed: _Owed,
) -> RequestState:
    def alert(
        kind: AlertKind,
        release_at: datetime | None,
        notice_given: bool | None = None,
        notice_lead_hours: float | None = None,
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
        )

    if schedule.status in (ScheduleStatus.RELEASED, ScheduleStatus.TRANSFERRED):
        given = request.first_notice_at is not None
        released_at = schedule.release_at or now
        lead = _hours(released_at - request.first_notice_at) if request.first_notice_at else None
        released = alert(
            AlertKind.RELEASED,
            release_at=released_at,
            notice_given=given,
            notice_lead_hours=lead,
        )
        owed.alerts.append(released)
        if not given:
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
                "first_notice_at": request.first_notice_at or now,
            }
        )
    return request


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
    booking: BookingStateData,
    schedule: Schedule,
    request: RequestState,
    kind: AlertKind,
    now: datetime,
    cause_event_id: str | None,
    *,
    release_at: datetime | None,
    notice_given: bool | None = None,
    notice_lead_hours: float | None = None,
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
            booking=AlertBooking(
                facility=booking.facility, person=booking.person, charges=booking.charges
            ),
        ),
    )


def _released_without_notice(
    record: SchedulingRecord, request: RequestState, released: NoticeAlert, now: datetime
) -> Escalation:
    identifier = f"{released.data.alert_id}|escalation"
    return Escalation(
        event_id=identifier,
        occurred_at=now,
        jurisdiction=record.jurisdiction,
        booking_id=record.booking_id,
        data=EscalationData(
            escalation_id=identifier,
            reason=EscalationReason.RELEASED_WITHOUT_NOTICE,
            agency=request.agency,
            request_id=request.request_id,
            at=now,
            detail=f"booking {record.booking_id} left custody without any notice to "
            f"{request.agency} (request {request.request_id})",
        ),
    )
