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


class DeliveryChannel(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"


class DeliveryResult(StrEnum):
    DELIVERED = "delivered"  # the endpoint confirmed it (2xx)
    RETRYING = "retrying"  # refused or unanswered; the next attempt is at next_attempt_at
    GONE = "gone"  # refused for good (HTTP 410, SMTP 5xx): no more attempts, jail staff told
    GAVE_UP = "gave_up"  # the schedule ran out before the release; jail staff told


class DeliveryAttemptData(Payload):
    notice_id: EventId
    message_id: EventId  # the notice message delivered: webhook-id, the same on every retry
    agency: str
    request_id: str
    channel: DeliveryChannel
    endpoint: str  # the host, or the recipients' domains (never a path, query or address)
    attempt: int
    at: Instant
    result: DeliveryResult
    status: int | None = None  # the HTTP status or SMTP reply code, when there was an answer
    error: str | None = None  # why there was none: timeout, refused, TLS, address refused
    latency_ms: float
    next_attempt_at: Instant | None = None


class DeliveryAttempt(Envelope):
    """One attempt to deliver one notice on one channel: the ledger's delivery truth. A new
    message type on ``notice.audit.v1`` beside ``notice.audit`` (readers skip types they do
    not know)."""

    type: Literal["notice.delivery"] = "notice.delivery"
    data: DeliveryAttemptData
