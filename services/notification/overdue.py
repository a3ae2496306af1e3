"""After a notice is issued: an acknowledgement overdue (resend, or escalate after
``max_resends``), delivery attempts due, and what their answers mean (SPEC 3.5, #44). Pure.
"""

from __future__ import annotations

from datetime import datetime

from schemas.audit import AuditRecord, AuditStep
from schemas.escalations import Escalation, EscalationReason
from schemas.notices import Notice
from services.core.agencies import Registry
from services.core.escalations import escalation
from services.core.outcomes import Forget
from services.core.policy import Policy
from services.notification.delivery import Answer, answered
from services.notification.delivery import start as start_delivery
from services.notification.domain import KAFKA_ONLY
from services.notification.ledger import ledger_record
from services.notification.notices import held_because, notice_id_for
from services.notification.records import (
    NotificationRecord,
    Outcome,
    attempts_due,
    due_again,
    with_notice,
)
from services.notification.retirement import retire, retiring


def on_tick(
    record: NotificationRecord, policy: Policy, now: datetime, agencies: Registry = KAFKA_ONLY
) -> Outcome | Forget:
    """Notices whose acknowledgement is overdue: resend, or escalate after max_resends;
    delivery attempts due; or the booking's retirement."""
    if record.retire_at is not None and record.next_due is None and now >= record.retire_at:
        return retire(record, now, policy)
    notices: list[Notice] = []
    audit: list[AuditRecord] = []
    escalations: list[Escalation] = list(_held_too_long(record, now))
    updated = due_again(
        record.model_copy(
            update={"held_due": {k: t for k, t in record.held_due.items() if t > now}}
        )
    )
    for state in sorted(record.notices.values(), key=lambda s: s.notice_id):
        if state.ack_due_at is None or state.ack_due_at > now or state.last is None:
            continue
        resends = state.attempt - 1
        if resends < policy.max_resends:
            attempt = state.attempt + 1
            again = state.last.model_copy(
                update={
                    "event_id": f"{state.notice_id}#{attempt}",
                    "occurred_at": now,
                    "data": state.last.data.model_copy(
                        update={"attempt": attempt, "issued_at": now}
                    ),
                }
            )
            notices.append(again)
            audit.append(
                ledger_record(
                    record, state, AuditStep.RESENT, now, {"attempt": attempt}, repeat=attempt
                )
            )
            updated = with_notice(
                updated,
                state.model_copy(
                    update={
                        "attempt": attempt,
                        "ack_due_at": now + policy.ack_timeout,
                        "last": again,
                        "deliveries": start_delivery(again, agencies.get(state.agency), now)
                        or state.deliveries,
                    }
                ),
            )
        else:
            attempts = "once" if state.attempt == 1 else f"{state.attempt} times"
            escalations.append(
                escalation(
                    state.notice_id,
                    EscalationReason.NOT_ACKNOWLEDGED,
                    jurisdiction=record.jurisdiction,
                    booking_id=record.booking_id,
                    agency=state.agency,
                    request_id=state.request_id,
                    notice_id=state.notice_id,
                    at=now,
                    detail=f"{state.kind.value} notice sent {attempts} to {state.agency}, "
                    "never acknowledged",
                )
            )
            audit.append(
                ledger_record(
                    record,
                    state,
                    AuditStep.ESCALATED,
                    now,
                    {"attempts": state.attempt},
                    repeat=state.attempt,
                )
            )
            updated = with_notice(
                updated,
                state.model_copy(update={"escalated": True, "ack_due_at": None, "last": None}),
            )
    outcome = Outcome(
        updated,
        notices=tuple(notices),
        audit=tuple(audit),
        escalations=tuple(escalations),
        attempts=attempts_due(updated.notices.values(), now),
    )
    return retiring(outcome, now, policy)


def _held_too_long(record: NotificationRecord, now: datetime) -> list[Escalation]:
    """Alerts still waiting an acknowledgement timeout after they came: their notices cannot
    be rendered (a booking state or a data key that never came), so nobody was told. Jail
    staff are, once per alert (#46: a key that cannot be had is an escalation, never a silent
    drop)."""
    found = []
    for alert_id, due in sorted(record.held_due.items()):
        alert = record.waiting.get(alert_id)
        if due > now or alert is None:
            continue
        notice_id = notice_id_for(alert_id)
        found.append(
            escalation(
                f"{notice_id}|held",
                EscalationReason.NOT_ACKNOWLEDGED,
                jurisdiction=record.jurisdiction,
                booking_id=record.booking_id,
                agency=alert.data.agency,
                request_id=alert.data.request_id,
                notice_id=notice_id,
                at=now,
                detail=f"{alert.data.kind.value} notice to {alert.data.agency} not sent: "
                f"{held_because(record, alert)}",
            )
        )
    return found


def on_answers(
    record: NotificationRecord,
    answers: tuple[Answer, ...],
    policy: Policy,
    now: datetime,
    agencies: Registry = KAFKA_ONLY,
) -> Outcome:
    """The answers to the delivery attempts an outcome asked for: each in the ledger, the
    next attempt scheduled, or jail staff told when a delivery ended undelivered."""
    updated = record
    entries, escalations = [], []
    for answer in answers:
        state = updated.notices.get(answer.notice_id)
        deliveries = state.deliveries if state else ()
        mine = [
            n
            for n, d in enumerate(deliveries)
            if (d.channel, d.message_id) == (answer.channel, answer.message_id)
        ]
        if state is None or not mine:
            continue  # superseded by a resend meanwhile
        sending = deliveries[mine[0]]
        sent, entry, warned = answered(sending, answer, agencies.get(state.agency))
        replaced = (*deliveries[: mine[0]], sent, *deliveries[mine[0] + 1 :])
        updated = with_notice(updated, state.model_copy(update={"deliveries": replaced}))
        entries.append(entry)
        escalations.extend([warned] if warned else [])
    outcome = Outcome(updated, deliveries=tuple(entries), escalations=tuple(escalations))
    return retiring(outcome, now, policy)
