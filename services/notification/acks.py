"""Acknowledgements over HTTP (#44): what a genuine token may acknowledge. Pure.

The worker holding the booking answers: the notice must exist, be the token's agency's and
not yet acknowledged (a token is used once: a second use is refused with 410). What it
writes is the same ``notice.acknowledged`` event a Kafka client sends, so the ledger, resends
and escalation treat both alike. Its id is fixed by the notice: two uses racing each other
write one acknowledgement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas.notice_acks import NoticeAck, NoticeAckData
from services.core.ack_tokens import Claims
from services.notification.records import NotificationRecord

BY_MAX = 200


@dataclass(frozen=True)
class Refused:
    status: int  # 404: no such notice here; 410: used already, or the notice is closed
    reason: str


def by_token(
    record: NotificationRecord | None, claims: Claims, by: str, now: datetime
) -> NoticeAck | Refused:
    state = record.notices.get(claims.notice_id) if record else None
    if record is not None and claims.notice_id in record.issued:
        return Refused(410, "the notice's booking is closed and its record retired")
    if record is None or state is None or state.suppressed_rule is not None:
        return Refused(404, "no notice with this id was issued for this booking")
    if state.agency != claims.agency:
        return Refused(404, f"the notice was issued to {state.agency}, not {claims.agency}")
    if state.acknowledged_at is not None:
        at = state.acknowledged_at.isoformat()
        return Refused(410, f"already acknowledged at {at} by {state.acknowledged_by}")
    jurisdiction, _, booking_id = claims.key.partition("/")
    return NoticeAck(
        event_id=f"ack|http|{claims.notice_id}",
        occurred_at=now,
        jurisdiction=jurisdiction,
        booking_id=booking_id,
        data=NoticeAckData(
            notice_id=claims.notice_id,
            agency=claims.agency,
            acknowledged_at=now,
            by=(by.strip() or "web acknowledgement")[:BY_MAX],
        ),
    )
