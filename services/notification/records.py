"""What the notification service keeps per booking (a notice per alert, with its
acknowledgement and resends), and what a rule returns when it changed. Pure values."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from schemas.audit import AuditRecord, DeliveryAttempt
from schemas.escalations import Escalation
from schemas.jail_booking import Facility, Person
from schemas.notice_alerts import AlertKind, NoticeAlert
from schemas.notices import Notice
from schemas.sealed import SealedValue, WrappedDataKey
from services.notification.delivery import Attempt, Delivery, due


class NoticeState(BaseModel):
    model_config = ConfigDict(frozen=True)

    notice_id: str
    alert_id: str
    kind: AlertKind
    agency: str
    request_id: str
    suppressed_rule: str | None = None
    attempt: int = 1
    issued_at: datetime
    ack_due_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    escalated: bool = False
    # The last message sent, to resend it with attempt + 1.
    last: Notice | None = None
    # Its deliveries beyond Kafka, one per channel the agency has (``delivery``).
    deliveries: tuple[Delivery, ...] = ()

    @property
    def due_at(self) -> datetime | None:
        """The earliest of the acknowledgement deadline and the next delivery attempts."""
        times = [self.ack_due_at, *(d.next_at for d in self.deliveries)]
        return min((t for t in times if t is not None), default=None)


class BookingCopy(BaseModel):
    """Who a notice is about and where they are held, copied from ``booking.state.v1``: the
    scheduling service decides alerts without it, a notice is rendered from it."""

    model_config = ConfigDict(frozen=True)

    revision: int
    facility: Facility
    person: Person | SealedValue  # sealed until the booking's data key is here (#46)
    statutes: tuple[str, ...] = ()
    closed: bool = False  # released or transferred


class NotificationRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    jurisdiction: str
    booking_id: str
    booking: BookingCopy | None = None
    notices: dict[str, NoticeState] = {}
    # Alerts read before the booking state they were decided on (or before the data key that
    # opens its person): rendered when it arrives.
    waiting: dict[str, NoticeAlert] = {}
    # When a waiting alert is escalated if still waiting (held an acknowledgement timeout: its
    # notice cannot have been acknowledged in time); gone once rendered or escalated.
    held_due: dict[str, datetime] = {}
    next_due: datetime | None = None
    # Closed with no acknowledgement pending: when the record shrinks to a stub, and for a
    # stub (``retired``: the booking's last revision and the ids of its notices), when it goes.
    retire_at: datetime | None = None
    retired: bool = False
    revision: int = 0  # a stub's: the booking state it had
    issued: tuple[str, ...] = ()  # a stub's: its notices' ids, so a late repeat is dropped
    # The booking's data keys, wrapped, from booking.keys.v1 (#46): what opens its person;
    # the table seals the record's personal values with the last (``services.streams.sealing``)
    data_keys: tuple[WrappedDataKey, ...] = ()


@dataclass(frozen=True)
class Outcome:
    record: NotificationRecord
    notices: tuple[Notice, ...] = ()  # to notices.<agency>.v1
    copies: tuple[Notice, ...] = ()  # to notices.subject-copies.v1
    audit: tuple[AuditRecord, ...] = ()
    escalations: tuple[Escalation, ...] = ()
    held: tuple[str, ...] = ()  # alert ids now waiting for their booking state
    attempts: tuple[Attempt, ...] = ()  # deliveries to make now (their answers: ``answered``)
    deliveries: tuple[DeliveryAttempt, ...] = ()  # to notice.audit.v1, one per answer
    retired: bool = False  # the record just became a stub


def with_notice(record: NotificationRecord, state: NoticeState) -> NotificationRecord:
    """The record with this notice's new state, due again at its earliest time."""
    return due_again(
        record.model_copy(update={"notices": {**record.notices, state.notice_id: state}})
    )


def due_again(record: NotificationRecord) -> NotificationRecord:
    """The record due at the earliest of its notices' times and its held alerts' limits."""
    dues = [s.due_at for s in record.notices.values() if s.due_at is not None]
    dues.extend(record.held_due.values())
    return record.model_copy(update={"next_due": min(dues, default=None)})


def attempts_due(states: Iterable[NoticeState], now: datetime) -> tuple[Attempt, ...]:
    """The delivery attempts due now among these notices, in notice order."""
    found = (due(d, state.notice_id, now) for state in states for d in state.deliveries)
    return tuple(sorted((a for a in found if a), key=lambda a: (a.notice_id, a.channel)))
