"""What the notification service keeps per booking (a notice per alert, with its
acknowledgement and resends), and what a rule returns when it changed. Pure values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from schemas.audit import AuditRecord
from schemas.escalations import Escalation
from schemas.notice_alerts import AlertKind
from schemas.notices import Notice


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


class NotificationRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    jurisdiction: str
    booking_id: str
    notices: dict[str, NoticeState] = {}
    next_due: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    record: NotificationRecord
    notices: tuple[Notice, ...] = ()  # to notices.<agency>.v1
    copies: tuple[Notice, ...] = ()  # to notices.subject-copies.v1
    audit: tuple[AuditRecord, ...] = ()
    escalations: tuple[Escalation, ...] = ()
