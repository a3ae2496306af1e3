"""Notices: whether the jurisdiction allows one, what the agency receives, acknowledgements,
resends and escalation, and the ledger record of every step (SPEC 3.5, 3.6, 4). Pure.

Where is it decided that a California jail may not send a notice? ``decide``.
"""

from __future__ import annotations

from datetime import datetime

from schemas.audit import AuditStep
from schemas.booking_keys import BookingKey
from schemas.booking_state import BookingState
from schemas.deadletter import FieldError, RejectReason
from schemas.notice_acks import NoticeAck
from schemas.notice_alerts import AlertKind, NoticeAlert
from schemas.notices import Notice
from services.core.agencies import Registry
from services.core.outcomes import Duplicate, Forget, Rejected, Stale, retired
from services.core.policy import Decision, Policy
from services.notification.delivery import Delivery
from services.notification.delivery import start as start_delivery
from services.notification.ledger import ledger_record
from services.notification.notices import booking_for, copy_of, notice_id_for, render
from services.notification.records import (
    BookingCopy,
    NoticeState,
    NotificationRecord,
    Outcome,
    attempts_due,
    due_again,
    with_notice,
)
from services.notification.retirement import retire, retiring

# An agency acknowledges what it must act on; a "released" notice only closes the file.
NEEDS_ACK = frozenset(
    {AlertKind.NOTICE_DUE, AlertKind.RELEASE_CHANGED, AlertKind.RELEASE_CANCELLED}
)
DEFAULT_POLICY = Policy()
KAFKA_ONLY = Registry()  # no agency has a webhook (the overdue module's is the same)


def decide(policy: Policy, booking: BookingCopy) -> Decision:
    """May this alert become a notice to the agency, under the jurisdiction's policy?"""
    return policy.decide(booking.statutes)


def on_booking_state(
    record: NotificationRecord | None,
    message: BookingState,
    policy: Policy,
    now: datetime,
    agencies: Registry = KAFKA_ONLY,
) -> Outcome | Duplicate | Stale | Rejected:
    """A new state of the booking: the copy notices are rendered from, and the notices of any
    alert that was waiting for it."""
    record = record or NotificationRecord(
        jurisdiction=message.jurisdiction, booking_id=message.booking_id
    )
    known = record.booking.revision if record.booking else record.revision
    revision = message.data.revision
    if revision == known:
        return Duplicate()
    if revision < known:
        return Stale(revision, known)
    if record.retired:
        return retired(record.booking_id, "data.revision", f"booking state {revision}")
    updated = record.model_copy(update={"booking": copy_of(message)})
    return _waiting_rendered(Outcome(updated), policy, now, agencies)


def on_booking_key(
    record: NotificationRecord | None,
    message: BookingKey,
    policy: Policy,
    now: datetime,
    agencies: Registry = KAFKA_ONLY,
) -> Outcome | Duplicate | Forget:
    """The booking's data key (its person opened by the wiring with it), and the notices of
    any alert that was waiting for it; or the key destroyed, the booking retired upstream:
    the record shrinks to its stub at once, keeping nothing personal (#46)."""
    key = message.data.key
    if key is None:
        if record is None or record.retired:
            return Duplicate()
        return retire(record, now, policy)
    record = record or NotificationRecord(
        jurisdiction=message.jurisdiction, booking_id=message.booking_id
    )
    if record.retired or any(known.kid == key.kid for known in record.data_keys):
        return Duplicate()
    updated = record.model_copy(update={"data_keys": (*record.data_keys, key)})
    return _waiting_rendered(Outcome(updated), policy, now, agencies)


def _waiting_rendered(
    outcome: Outcome, policy: Policy, now: datetime, agencies: Registry
) -> Outcome:
    """The notices of the alerts that were waiting, for those the record can render now."""
    waiting = outcome.record.waiting
    for alert in sorted(waiting.values(), key=lambda a: a.data.alert_id):
        step = on_alert(outcome.record, alert, policy, now, agencies)
        if isinstance(step, Outcome) and not step.held:
            outcome = _then(outcome, step)
    return retiring(outcome, now, policy)


def _then(first: Outcome, second: Outcome) -> Outcome:
    return Outcome(
        second.record,
        notices=first.notices + second.notices,
        copies=first.copies + second.copies,
        audit=first.audit + second.audit,
        escalations=first.escalations + second.escalations,
        held=second.held,
        attempts=first.attempts + second.attempts,
    )


def on_alert(
    record: NotificationRecord | None,
    alert: NoticeAlert,
    policy: Policy,
    now: datetime,
    agencies: Registry = KAFKA_ONLY,
) -> Outcome | Duplicate | Rejected:
    record = record or NotificationRecord(
        jurisdiction=alert.jurisdiction, booking_id=alert.booking_id
    )
    notice_id = notice_id_for(alert.data.alert_id)
    if notice_id in record.notices or notice_id in record.issued:
        return Duplicate()
    if record.retired:
        return retired(record.booking_id, "data.alert_id", f"alert {alert.data.alert_id!r}")
    data = alert.data
    booking = booking_for(alert, record)
    if booking is None:
        if data.alert_id in record.waiting:
            return Duplicate()
        waiting = {**record.waiting, data.alert_id: alert}
        held_due = {**record.held_due, data.alert_id: now + policy.ack_timeout}
        held = record.model_copy(update={"waiting": waiting, "held_due": held_due})
        return Outcome(due_again(held), held=(data.alert_id,))
    record = due_again(
        record.model_copy(
            update={
                "waiting": {k: a for k, a in record.waiting.items() if k != data.alert_id},
                "held_due": {k: t for k, t in record.held_due.items() if k != data.alert_id},
            }
        )
    )
    decision = decide(policy, booking)
    state = NoticeState(
        notice_id=notice_id,
        alert_id=data.alert_id,
        kind=data.kind,
        agency=data.agency,
        request_id=data.request_id,
        issued_at=now,
        suppressed_rule=None if decision.allowed else decision.rule,
    )
    detail: dict[str, object] = {
        "kind": data.kind.value,
        "lead_hours": data.lead_hours,
        "late": data.late,
        "release_at": data.release_at.isoformat() if data.release_at else None,
        "cause_event_id": data.cause_event_id,
        "notice_given": data.notice_given,
        "notice_lead_hours": data.notice_lead_hours,
        "notice_withheld_by": data.notice_withheld_by,
    }
    if not decision.allowed:
        suppressed = ledger_record(
            record, state, AuditStep.SUPPRESSED, now, detail, rule=decision.rule
        )
        return retiring(Outcome(with_notice(record, state), audit=(suppressed,)), now, policy)
    notice = render(alert, booking, notice_id, 1, now)
    state = state.model_copy(
        update={"deliveries": start_delivery(notice, agencies.get(data.agency), now)}
    )
    if data.kind in NEEDS_ACK:
        state = state.model_copy(update={"ack_due_at": now + policy.ack_timeout, "last": notice})
    audit = [ledger_record(record, state, AuditStep.ISSUED, now, detail, rule=decision.rule)]
    copies: tuple[Notice, ...] = ()
    if policy.subject_copy:
        copies = (notice,)
        audit.append(
            ledger_record(record, state, AuditStep.SUBJECT_COPY, now, {}, rule=decision.rule)
        )
    outcome = Outcome(
        with_notice(record, state),
        notices=(notice,),
        copies=copies,
        audit=tuple(audit),
        attempts=attempts_due((state,), now),
    )
    return retiring(outcome, now, policy)


def on_ack(
    record: NotificationRecord | None,
    ack: NoticeAck,
    now: datetime,
    policy: Policy = DEFAULT_POLICY,
) -> Outcome | Duplicate | Rejected:
    notice_id = ack.data.notice_id
    if record is not None and notice_id in record.issued:
        return Duplicate()  # a retired booking's notice: acknowledged or escalated long ago
    state = record.notices.get(notice_id) if record else None
    if record is None or state is None or state.suppressed_rule is not None:
        return Rejected(
            (
                FieldError(
                    path="data.notice_id",
                    reason=RejectReason.INCONSISTENT,
                    message=f"no notice {notice_id!r} was issued for this booking",
                ),
            )
        )
    if ack.data.agency != state.agency:
        return Rejected(
            (
                FieldError(
                    path="data.agency",
                    reason=RejectReason.INCONSISTENT,
                    message=f"notice {notice_id!r} was issued to "
                    f"{state.agency}, not {ack.data.agency}",
                ),
            )
        )
    if state.acknowledged_at is not None:
        return Duplicate()
    within = state.ack_due_at is None or ack.data.acknowledged_at <= state.ack_due_at
    acknowledged = state.model_copy(
        update={
            "acknowledged_at": ack.data.acknowledged_at,
            "acknowledged_by": ack.data.by,
            "ack_due_at": None,
            "last": None,
            "deliveries": tuple(_stopped(d) for d in state.deliveries),
        }
    )
    audit = ledger_record(
        record,
        state,
        AuditStep.ACKNOWLEDGED,
        now,
        {
            "by": ack.data.by,
            "within_timeout": within,
            "attempt": state.attempt,
            "ack_event_id": ack.event_id,
        },
        at=ack.data.acknowledged_at,
    )
    return retiring(Outcome(with_notice(record, acknowledged), audit=(audit,)), now, policy)


def _stopped(sending: Delivery) -> Delivery:
    """Acknowledged: no more attempts (whatever the endpoint would have answered)."""
    return sending.model_copy(update={"next_at": None})
