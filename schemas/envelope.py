"""The event envelope shared by every topic (SPEC 3)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

Jurisdiction = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{2,64}$")]
BookingId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
EventId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# A point in time on the wire: RFC 3339 with an offset.
Instant = AwareDatetime
# A jail's time: RFC 3339 with an offset, or a local date-time read in the facility's timezone.
JailTime = datetime

KEY_SEPARATOR = "/"


def booking_key(jurisdiction: str, booking_id: str) -> str:
    """The message key of every topic: everything about one booking stays on one partition."""
    return f"{jurisdiction}{KEY_SEPARATOR}{booking_id}"


class Payload(BaseModel):
    """Base of every ``data`` object: unknown extra fields are kept and ignored."""

    model_config = ConfigDict(extra="allow", frozen=True)


class Envelope(BaseModel):
    """Fields every event carries. Subclasses pin ``type`` and ``data``."""

    model_config = ConfigDict(extra="allow", frozen=True)

    event_id: EventId
    type: str
    occurred_at: Instant
    jurisdiction: Jurisdiction
    booking_id: BookingId
    sequence: Annotated[int, Field(ge=0)] | None = None
    data: Any

    @property
    def key(self) -> str:
        return booking_key(self.jurisdiction, self.booking_id)
