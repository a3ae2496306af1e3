"""``notice.acks.v1``: agencies acknowledge notices (SPEC 3.5)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from schemas.envelope import Envelope, EventId, Instant, Payload


class NoticeAckData(Payload):
    notice_id: EventId
    agency: str
    acknowledged_at: Instant
    by: Annotated[str, Field(min_length=1, max_length=200)]


class NoticeAck(Envelope):
    type: Literal["notice.acknowledged"] = "notice.acknowledged"
    data: NoticeAckData


NOTICE_ACK = TypeAdapter(NoticeAck)
