"""The compliance ledger's record of one step of one notice (``notice.audit.v1``). Pure."""

from __future__ import annotations

from datetime import datetime

from schemas.audit import AuditRecord, AuditRecordData, AuditStep
from services.notification.records import NoticeState, NotificationRecord


def ledger_record(
    record: NotificationRecord,
    state: NoticeState,
    step: AuditStep,
    now: datetime,
    detail: dict[str, object],
    *,
    rule: str | None = None,
    at: datetime | None = None,
    repeat: int | None = None,
) -> AuditRecord:
    """One ledger record about a notice. Its id is deterministic: the notice, the step, and
    for steps that can happen more than once (resent), which time."""
    suffix = f"|{repeat}" if repeat is not None else ""
    return AuditRecord(
        event_id=f"audit|{state.notice_id}|{step.value}{suffix}",
        occurred_at=now,
        jurisdiction=record.jurisdiction,
        booking_id=record.booking_id,
        data=AuditRecordData(
            step=step,
            at=at or now,
            agency=state.agency,
            request_id=state.request_id,
            notice_id=state.notice_id,
            alert_id=state.alert_id,
            rule=rule,
            detail=detail,
        ),
    )
