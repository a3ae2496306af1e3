"""The release schedule and what each input means for a booking (SPEC 3.3, 3.4): a new
booking state, a notice request filed or withdrawn, a deadline tick. Pure: values in, values
out. The deadline rules themselves (the 48-hour window) are in ``services.scheduling.rules``.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

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
from schemas.release_schedule import ReleaseSchedule, ReleaseScheduleData, ScheduleStatus
from services.core.localtime import NonexistentLocalTime, to_utc
from services.core.outcomes import Duplicate, Forget, Rejected, Stale, retired
from services.core.policy import Policy
from services.scheduling.records import (
    BookingFacts,
    Outcome,
    RequestState,
    Schedule,
    SchedulingRecord,
    empty_record,
)
from services.scheduling.rules import DEFAULT_POLICY, reconcile

__all__ = [
    "Duplicate",
    "Forget",
    "Outcome",
    "Rejected",
    "SchedulingRecord",
    "Stale",
    "derive_schedule",
    "on_booking_state",
    "on_request",
    "on_tick",
    "projected_release",
    "reconcile",
    "schedule_message",
]


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


def on_booking_state(
    record: SchedulingRecord | None,
    message: BookingState,
    release_hour: int,
    now: datetime,
    policy: Policy = DEFAULT_POLICY,
) -> Outcome | Stale | Duplicate | Rejected:
    """A new state of the booking: maybe a new schedule, maybe alerts."""
    record = record or empty_record(message.jurisdiction, message.booking_id)
    state = message.data
    if state.revision < record.booking_revision:
        return Stale(state.revision, record.booking_revision)
    if record.retired:
        if state.revision == record.booking_revision:
            return Duplicate()  # a late repeat: the schedule it caused went out long ago
        return retired(record.booking_id, "data.revision", f"booking state {state.revision}")
    if state.revision == record.booking_revision:
        # Seen before (a redelivery): re-send the schedule, which may have been lost.
        return Outcome(record, schedule=schedule_message(record), schedule_changed=False)
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
    updated = record.model_copy(update={"booking": BookingFacts.of(state), "schedule": schedule})
    result = reconcile(updated, now, state.cause.event_id, policy)
    return Outcome(
        result.record,
        schedule=schedule_message(result.record) if changed else None,
        alerts=result.alerts,
        escalations=result.escalations,
        schedule_changed=changed,
    )


def on_request(
    record: SchedulingRecord | None,
    event: AgencyRequest,
    position: str,
    default_window_hours: int,
    now: datetime,
    policy: Policy = DEFAULT_POLICY,
) -> Outcome | Duplicate | Rejected:
    """A notice request filed or withdrawn."""
    record = record or empty_record(event.jurisdiction, event.booking_id)
    if event.event_id in record.applied:
        return Duplicate()
    if record.retired:
        if isinstance(event, NoticeRequestReceived):
            # Filed for someone long gone: on the ledger, as any request after a release.
            filed = _filed(event, default_window_hours, closed=True)
            return Outcome(record, audit=(_request_audit(record, event, filed, True),))
        return retired(record.booking_id, "data.request_id", "a withdrawal")
    applied = {**record.applied, event.event_id: position}
    requests = dict(record.requests)
    request_id = event.data.request_id
    if isinstance(event, NoticeRequestReceived):
        existing = requests.get(request_id)
        closed = record.schedule is not None and record.schedule.status in (
            ScheduleStatus.RELEASED,
            ScheduleStatus.TRANSFERRED,
        )
        # A request for someone already gone: recorded, no alerts (not flagged at release).
        fresh = _filed(event, default_window_hours, closed)
        if existing is not None and existing.active:
            # Filed again: the new window and form apply; what was told stands.
            fresh = existing.model_copy(
                update={"window_hours": fresh.window_hours, "form": fresh.form}
            )
        elif existing is not None:
            fresh = fresh.model_copy(update={"filing": existing.filing + 1})
        requests[request_id] = fresh
        after_release = closed
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
        after_release = False
    updated = record.model_copy(update={"requests": requests, "applied": applied})
    result = reconcile(updated, now, event.event_id, policy)
    return Outcome(
        result.record,
        alerts=result.alerts,
        escalations=result.escalations,
        audit=(_request_audit(record, event, requests[request_id], after_release),),
    )


def _request_audit(
    record: SchedulingRecord, event: AgencyRequest, request: RequestState, after_release: bool
) -> AuditRecord:
    """Every request received or withdrawn is a ledger record (Illinois, for one, reports
    each detainer received, with its date and outcome)."""
    withdrawn = not isinstance(event, NoticeRequestReceived)
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
                "received_after_release": after_release,
                **({"reason": getattr(event.data, "reason", "")} if withdrawn else {}),
            },
        ),
    )


def on_tick(
    record: SchedulingRecord, now: datetime, policy: Policy = DEFAULT_POLICY
) -> Outcome | Forget:
    """The timer says a deadline (or the booking's retirement) may be due."""
    if record.retire_at is not None and record.next_due is None and now >= record.retire_at:
        return retire(record, now, policy)
    cause = record.schedule.cause_event_id if record.schedule else None
    result = reconcile(record, now, cause, policy)
    return Outcome(
        result.record,
        alerts=result.alerts,
        escalations=result.escalations,
    )


def _filed(event: NoticeRequestReceived, default_window_hours: int, closed: bool) -> RequestState:
    """A request as filed; ``closed``: for someone already gone (recorded, never armed)."""
    data = event.data
    return RequestState(
        request_id=data.request_id,
        agency=data.agency,
        form=data.form,
        window_hours=data.notice_hours or default_window_hours,
        received_event_id=event.event_id,
        received_at=event.occurred_at,
        closed=closed,
        armed=not closed,
    )


# ---------------------------------------------------------------------------- retirement


def retire(record: SchedulingRecord, now: datetime, policy: Policy) -> Outcome | Forget:
    """Released or transferred, nothing owed, the grace period over: the record shrinks to a
    stub (the booking's revision: a late repeat of its last state is dropped, an older one is
    stale) kept ``policy.forget_after``; then the stub goes too."""
    if record.retired:
        return Forget()
    revision = record.booking.revision if record.booking else 0
    stub = SchedulingRecord(
        jurisdiction=record.jurisdiction,
        booking_id=record.booking_id,
        booking=BookingFacts(revision=revision),
        retired=True,
        retire_at=now + policy.forget_after,
    )
    return Outcome(stub, retired=True)
