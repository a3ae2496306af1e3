"""What an agency receives: the notice rendered from the booking copy this service keeps (or
the one an older alert carries), its id fixed by the alert's. Pure."""

from __future__ import annotations

from datetime import datetime

from schemas.booking_state import BookingState, BookingStatus
from schemas.notice_alerts import NoticeAlert
from schemas.notices import Notice, NoticeData, Subject
from schemas.sealed import SealedValue
from services.core.localtime import to_local
from services.notification.records import BookingCopy, NotificationRecord


def notice_id_for(alert_id: str) -> str:
    return f"notice|{alert_id}"


def copy_of(message: BookingState) -> BookingCopy:
    state = message.data
    return BookingCopy(
        revision=state.revision,
        facility=state.facility,
        person=state.person,
        statutes=tuple(charge.statute for charge in state.charges),
        closed=state.status in (BookingStatus.RELEASED, BookingStatus.TRANSFERRED),
    )


def booking_for(alert: NoticeAlert, record: NotificationRecord) -> BookingCopy | None:
    """The booking a notice is rendered from: the one the alert carries (alerts written before
    records were slimmed), else this service's copy once it has reached the revision the
    alert was decided on, and opened. None: the alert must wait for its booking state, or for
    the data key that opens its person."""
    data = alert.data
    if data.booking is not None:
        return BookingCopy(
            revision=data.booking_revision or 0,
            facility=data.booking.facility,
            person=data.booking.person,
            statutes=tuple(charge.statute for charge in data.booking.charges),
        )
    copy = record.booking
    if copy is None or copy.revision < (data.booking_revision or 1):
        return None
    if isinstance(copy.person, SealedValue):  # its data key has not come yet
        return None
    return copy


def held_because(record: NotificationRecord, alert: NoticeAlert) -> str:
    """Why ``alert`` still waits (``booking_for`` gave None), as jail staff read it."""
    wanted = alert.data.booking_revision or 1
    copy = record.booking
    if copy is None or copy.revision < wanted:
        return f"its booking state (revision {wanted}) has not come on booking.state.v1"
    return (
        "the person's data key has not come on booking.keys.v1, or does not open with this "
        "service's key-encryption keys (RELEASEWATCH_KEK_FILE)"
    )


def render(
    alert: NoticeAlert, booking: BookingCopy, notice_id: str, attempt: int, now: datetime
) -> Notice:
    data = alert.data
    person = booking.person
    assert not isinstance(person, SealedValue), "rendered only once opened (booking_for)"
    release_local = (
        to_local(data.release_at, booking.facility.timezone) if data.release_at else None
    )
    return Notice(
        event_id=f"{notice_id}#{attempt}",
        occurred_at=now,
        jurisdiction=alert.jurisdiction,
        booking_id=alert.booking_id,
        data=NoticeData(
            notice_id=notice_id,
            kind=data.kind,
            request_id=data.request_id,
            agency=data.agency,
            subject=Subject(
                booking_id=alert.booking_id,
                person_id=person.person_id,
                first_name=person.first_name,
                last_name=person.last_name,
                date_of_birth=person.date_of_birth,
            ),
            facility=booking.facility,
            release_at=data.release_at,
            release_at_local=release_local,
            lead_hours=data.lead_hours,
            late=data.late,
            issued_at=now,
            attempt=attempt,
            alert_id=data.alert_id,
        ),
    )
