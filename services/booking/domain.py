"""The booking rules: dedupe, ordering, consistency, local time -> UTC, the state after each event.

Pure: plain values in, a decision out. No faust, no I/O, no clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from schemas.booking_state import (
    BookingState,
    BookingStateData,
    BookingStatus,
    Cause,
    ExplicitRelease,
    ProjectedRelease,
    Transfer,
    UnknownRelease,
    state_event_id,
)
from schemas.deadletter import FieldError, RejectReason
from schemas.jail_booking import (
    BookingOpened,
    ChargesUpdated,
    InmateReleased,
    InmateTransferred,
    JailEvent,
    ReleaseScheduled,
    ReleaseUnscheduled,
    SentenceImposed,
)
from schemas.sealed import SealedMessage
from services.booking.records import Accepted, BookingRecord, BookingStub, Resend, Retired
from services.core.localtime import NonexistentLocalTime, to_local, to_utc
from services.core.outcomes import Duplicate, Forget, Rejected, StaleSequence, retired
from services.core.policy import Policy

__all__ = [
    "Accepted",
    "BookingRecord",
    "BookingStub",
    "Decision",
    "Duplicate",
    "Forget",
    "Rejected",
    "Resend",
    "Retired",
    "StaleSequence",
    "apply",
    "message_for",
    "on_tick",
    "states_to_republish",
]

DEFAULT_RETIRE_AFTER = Policy().retire_after


Decision = Accepted | Resend | Retired | Duplicate | StaleSequence | Rejected | Forget


class _Refused(Exception):
    def __init__(self, path: str, reason: RejectReason, message: str) -> None:
        super().__init__(message)
        self.error = FieldError(path=path, reason=reason, message=message)


def message_for(record: BookingRecord, event_key: tuple[str, str]) -> BookingState:
    """The ``booking.state.v1`` message for a record's current revision."""
    jurisdiction, booking_id = event_key
    state = record.state
    assert state is not None, "a retired booking has no state"
    return BookingState(
        event_id=state_event_id(f"{jurisdiction}/{booking_id}", state.revision),
        occurred_at=state.cause.occurred_at,
        jurisdiction=jurisdiction,
        booking_id=booking_id,
        data=state,
    )


def states_to_republish(latest: dict[str, BookingRecord | None]) -> list[BookingState]:
    """The current state of every booking the service still holds (its table as the
    changelog has it: the last record per key, None for a deleted one), for readers that
    need one message per booking again. A retired booking (a stub) has no state to send."""
    states = []
    for key, record in sorted(latest.items()):
        if record is None or record.state is None:
            continue
        jurisdiction, booking_id = key.split("/", 1)
        states.append(message_for(record, (jurisdiction, booking_id)))
    return states


def apply(
    record: BookingRecord | None,
    event: JailEvent,
    position: str,
    retire_after: timedelta = DEFAULT_RETIRE_AFTER,
) -> Decision:
    """Decide what one jail event does to a booking. A release or transfer also sets when
    the booking is retired: ``retire_after`` after it happened."""
    key = (event.jurisdiction, event.booking_id)
    if record is not None and record.stub is not None:
        return _after_retirement(record, record.stub, event)
    if record is not None and event.event_id in record.applied:
        if record.applied[event.event_id] == position:
            return Resend(record, message_for(record, key))
        return Duplicate()  # a publisher's duplicate
    if record is None and not isinstance(event, BookingOpened):
        return Rejected(
            (
                FieldError(
                    path="booking_id",
                    reason=RejectReason.INCONSISTENT,
                    message=f"{event.type} for booking {event.booking_id!r}, which was never "
                    f"opened in {event.jurisdiction} (no booking.opened seen)",
                ),
            )
        )
    if record is not None:
        assert record.state is not None  # not a stub
        last = record.state.last_sequence
        if event.sequence is not None and last is not None and event.sequence <= last:
            return StaleSequence(sequence=event.sequence, last_sequence=last)
        if record.state.status is not BookingStatus.IN_CUSTODY:
            return Rejected(
                (
                    FieldError(
                        path="type",
                        reason=RejectReason.INCONSISTENT,
                        message=f"{event.type} after the booking was closed "
                        f"({record.state.status.value})",
                    ),
                )
            )
    try:
        state = _next_state(record.state if record else None, event, position)
    except _Refused as refused:
        return Rejected((refused.error,))
    applied = {**(record.applied if record else {}), event.event_id: position}
    retire_at = _retire_at(state, retire_after)
    new_record = BookingRecord(
        jurisdiction=event.jurisdiction,
        state=state,
        applied=applied,
        retire_at=retire_at,
        data_keys=record.data_keys if record else (),
    )
    return Accepted(record=new_record, message=message_for(new_record, key))


# ---------------------------------------------------------------------------- retirement


def _retire_at(state: BookingStateData, retire_after: timedelta) -> datetime | None:
    closed = state.released_at or state.transferred_at
    return closed + retire_after if closed is not None else None


def on_tick(record: BookingRecord, now: datetime, forget_after: timedelta) -> Decision:
    """The timer says the booking's retirement may be due: the record shrinks to a stub kept
    ``forget_after``; when that is over too, the stub is deleted and the booking is one this
    service never saw (an event for it is then refused as for a booking never opened)."""
    if record.retire_at is None or now < record.retire_at:
        return Duplicate()  # a tick for something no longer due
    if record.stub is not None:
        return Forget()
    state = record.state
    assert state is not None
    stub = BookingStub(
        revision=state.revision, status=state.status, last_sequence=state.last_sequence
    )
    applied = dict.fromkeys(record.applied, "")  # the ids; where they were read is moot now
    return Retired(
        BookingRecord(
            jurisdiction=record.jurisdiction,
            applied=applied,
            retire_at=now + forget_after,
            stub=stub,
        )
    )


def _after_retirement(record: BookingRecord, stub: BookingStub, event: JailEvent) -> Decision:
    if event.event_id in record.applied:
        return Duplicate()  # a late repeat: its state went out long ago
    last = stub.last_sequence
    if event.sequence is not None and last is not None and event.sequence <= last:
        return StaleSequence(sequence=event.sequence, last_sequence=last)
    return retired(event.booking_id, "type", event.type)


def _utc(value: datetime, timezone: str, path: str) -> datetime:
    try:
        return to_utc(value, timezone)
    except NonexistentLocalTime as exc:
        raise _Refused(path, RejectReason.NONEXISTENT_LOCAL_TIME, str(exc)) from exc


def _not_before_booking(instant: datetime, booked_at: datetime, path: str, what: str) -> None:
    if instant < booked_at:
        raise _Refused(
            path,
            RejectReason.INCONSISTENT,
            f"{what} {instant.isoformat()} is before the booking ({booked_at.isoformat()})",
        )


def _next_state(
    current: BookingStateData | None, event: JailEvent, position: str
) -> BookingStateData:
    topic, partition, offset = position.rsplit(":", 2)
    cause = Cause(
        event_id=event.event_id,
        type=event.type,
        occurred_at=event.occurred_at,
        topic=topic,
        partition=int(partition),
        offset=int(offset),
    )
    sequence = event.sequence
    if current is not None and sequence is None:
        sequence = current.last_sequence
    revision = current.revision + 1 if current else 1

    if isinstance(event, BookingOpened):
        data = event.data
        if isinstance(person := data.person, SealedMessage):  # the wiring opens it (#46)
            raise _Refused("data.person", RejectReason.INTERNAL_ERROR, "the person is sealed")
        booked_at = _utc(data.booked_at, data.facility.timezone, "data.booked_at")
        if current is None:
            return BookingStateData(
                revision=revision,
                status=BookingStatus.IN_CUSTODY,
                facility=data.facility,
                person=person,
                booked_at=booked_at,
                charges=data.charges,
                last_sequence=sequence,
                cause=cause,
            )
        # A second booking.opened with a new event_id corrects the booking's details.
        return current.model_copy(
            update={
                "facility": data.facility,
                "person": person,
                "booked_at": booked_at,
                "charges": data.charges,
                "revision": revision,
                "last_sequence": sequence,
                "cause": cause,
            }
        )

    assert current is not None  # checked by apply()
    timezone = current.facility.timezone
    update: dict[str, object] = {"revision": revision, "last_sequence": sequence, "cause": cause}
    if isinstance(event, ChargesUpdated):
        update["charges"] = event.data.charges
    elif isinstance(event, SentenceImposed):
        sentence = event.data
        ends_on = sentence.starts_on + timedelta(days=sentence.term_days - sentence.credit_days)
        booked_on = to_local(current.booked_at, timezone).date()
        if ends_on < booked_on:
            raise _Refused(
                "data.term_days",
                RejectReason.INCONSISTENT,
                f"the sentence ends on {ends_on.isoformat()}, before the booking "
                f"({booked_on.isoformat()})",
            )
        update["release_plan"] = ProjectedRelease(
            starts_on=sentence.starts_on,
            term_days=sentence.term_days,
            credit_days=sentence.credit_days,
        )
    elif isinstance(event, ReleaseScheduled):
        release_at = _utc(event.data.release_at, timezone, "data.release_at")
        _not_before_booking(release_at, current.booked_at, "data.release_at", "release_at")
        update["release_plan"] = ExplicitRelease(release_at=release_at, basis=event.data.basis)
    elif isinstance(event, ReleaseUnscheduled):
        update["release_plan"] = UnknownRelease(reason=event.data.reason)
    elif isinstance(event, InmateReleased):
        released_at = _utc(event.data.released_at, timezone, "data.released_at")
        _not_before_booking(released_at, current.booked_at, "data.released_at", "released_at")
        update |= {
            "status": BookingStatus.RELEASED,
            "released_at": released_at,
            "release_type": event.data.release_type,
        }
    elif isinstance(event, InmateTransferred):
        moved_at = _utc(event.data.transferred_at, timezone, "data.transferred_at")
        _not_before_booking(moved_at, current.booked_at, "data.transferred_at", "transferred_at")
        update |= {
            "status": BookingStatus.TRANSFERRED,
            "transferred_at": moved_at,
            "transferred_to": Transfer(
                agency=event.data.to.agency, facility=event.data.to.facility
            ),
        }
    return current.model_copy(update=update)
