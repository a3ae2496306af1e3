"""``notice.audit.v1``: the compliance ledger, one record per step (SPEC 3.6)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from schemas.envelope import Envelope, EventId, Instant, Payload


class AuditStep(StrEnum):
    REQUEST_RECEIVED = "request_received"
    REQUEST_WITHDRAWN = "request_withdrawn"
    ISSUED = "issued"
    SUPPRESSED = "suppressed"
    SUBJECT_COPY = "subject_copy"
    RESENT = "resent"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"


class AuditRecordData(Payload):
    step: AuditStep
    at: Instant
    agency: str | None = None
    request_id: str | None = None
    notice_id: EventId | None = None
    alert_id: EventId | None = None
    rule: str | None = None
    detail: dict[str, Any] = {}


class AuditRecord(Envelope):
    type: Literal["notice.audit"] = "notice.audit"
    data: AuditRecordData
