"""``ops.escalations.v1``: what jail operations staff must answer (SPEC 3.6)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from schemas.envelope import Envelope, EventId, Instant, Payload


class EscalationReason(StrEnum):
    NOT_ACKNOWLEDGED = "not_acknowledged"
    RELEASED_WITHOUT_NOTICE = "released_without_notice"


class EscalationData(Payload):
    escalation_id: EventId
    reason: EscalationReason
    agency: str
    request_id: str
    notice_id: EventId | None = None
    at: Instant
    detail: str = ""


class Escalation(Envelope):
    type: Literal["ops.escalation"] = "ops.escalation"
    data: EscalationData
