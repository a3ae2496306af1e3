"""When a notification record is retired: a closed booking with nothing owed shrinks to a stub
after ``retire_after``, and the stub is forgotten after ``forget_after``. Pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from services.core.outcomes import Forget
from services.core.policy import Policy
from services.notification.records import NotificationRecord, Outcome


def retire_at(record: NotificationRecord, now: datetime, policy: Policy) -> datetime | None:
    """Released or transferred, no alert waiting, no acknowledgement pending, resend or
    delivery attempt due: the record is retired ``policy.retire_after`` after the first time
    this is so."""
    if record.retired:
        return record.retire_at
    booking = record.booking
    if booking is None or not booking.closed or record.waiting:
        return None
    if any(state.due_at is not None for state in record.notices.values()):
        return None
    return record.retire_at or now + policy.retire_after


def retire(record: NotificationRecord, now: datetime, policy: Policy) -> Outcome | Forget:
    """The grace period over: the record shrinks to a stub (the booking's last revision and
    its notices' ids, so a late repeat of a state, an alert or an ack is dropped), kept
    ``policy.forget_after``; then the stub goes too."""
    if record.retired:
        return Forget()
    stub = NotificationRecord(
        jurisdiction=record.jurisdiction,
        booking_id=record.booking_id,
        retired=True,
        retire_at=now + policy.forget_after,
        revision=record.booking.revision if record.booking else 0,
        issued=tuple(sorted(record.notices)),
    )
    return Outcome(stub, retired=True)


def retiring(outcome: Outcome, now: datetime, policy: Policy) -> Outcome:
    record = outcome.record
    when = retire_at(record, now, policy)
    if when == record.retire_at:
        return outcome
    return replace(outcome, record=record.model_copy(update={"retire_at": when}))
