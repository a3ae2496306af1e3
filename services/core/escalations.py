"""The one way an escalation is raised (``ops.escalations.v1``), whichever rule raises it: its
id is its cause's id with ``|escalation`` (so a rule that decides it again raises the same
one), and the envelope names the booking."""

from __future__ import annotations

from datetime import datetime

from schemas.escalations import Escalation, EscalationData, EscalationReason


def escalation(
    cause_id: str,
    reason: EscalationReason,
    *,
    jurisdiction: str,
    booking_id: str,
    agency: str,
    request_id: str,
    at: datetime,
    detail: str,
    notice_id: str | None = None,
) -> Escalation:
    identifier = f"{cause_id}|escalation"
    return Escalation(
        event_id=identifier,
        occurred_at=at,
        jurisdiction=jurisdiction,
        booking_id=booking_id,
        data=EscalationData(
            escalation_id=identifier,
            reason=reason,
            agency=agency,
            request_id=request_id,
            notice_id=notice_id,
            at=at,
            detail=detail,
        ),
    )
