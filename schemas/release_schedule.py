"""``release.schedule.v1``: the scheduling service's view, one message per change (SPEC 3.3)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from schemas.envelope import Envelope, EventId, Instant, Payload


class ScheduleStatus(StrEnum):
    SCHEDULED = "scheduled"
    UNSCHEDULED = "unscheduled"
    RELEASED = "released"
    TRANSFERRED = "transferred"


class ReleaseScheduleData(Payload):
    status: ScheduleStatus
    release_at: Instant | None
    facility_timezone: str
    revision: Annotated[int, Field(ge=1)]
    cause_event_id: EventId


class ReleaseSchedule(Envelope):
    type: Literal["release.schedule"] = "release.schedule"
    data: ReleaseScheduleData
