"""``booking.state.v1``: the booking service's full view of one booking after each accepted event.

One message per accepted jail event (and a re-send of the current state when an input is
redelivered after a crash). ``event_id`` is ``<key>@<revision>``: the same revision always has
the same id, and consumers apply a state only when its ``revision`` is above the last one seen.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from schemas.envelope import Envelope, EventId, Instant, Payload
from schemas.jail_booking import Charge, Facility, Person, ReleaseBasis, ReleaseType
from schemas.sealed import SealedValue


class BookingStatus(StrEnum):
    IN_CUSTODY = "in_custody"
    RELEASED = "released"
    TRANSFERRED = "transferred"


class ProjectedRelease(Payload):
    """A sentence: the scheduling service projects the release at the facility's release hour."""

    kind: Literal["projected"] = "projected"
    starts_on: date
    term_days: int
    credit_days: int = 0


class ExplicitRelease(Payload):
    """A release time the jail scheduled, normalised to UTC."""

    kind: Literal["explicit"] = "explicit"
    release_at: Instant
    basis: ReleaseBasis


class UnknownRelease(Payload):
    """The release date is no longer known (``release.unscheduled``)."""

    kind: Literal["unscheduled"] = "unscheduled"
    reason: str


ReleasePlan = Annotated[
    ProjectedRelease | ExplicitRelease | UnknownRelease, Field(discriminator="kind")
]


class Transfer(Payload):
    agency: str
    facility: str


class Cause(Payload):
    """The input event that produced this revision, and where it was read."""

    event_id: EventId
    type: str
    occurred_at: Instant
    topic: str
    partition: int
    offset: int


class BookingStateData(Payload):
    revision: Annotated[int, Field(ge=1)]
    status: BookingStatus
    facility: Facility
    # Sealed (#46) when the booking service has key-encryption keys (RELEASEWATCH_KEK_FILE):
    # it opens with the booking's data key from booking.keys.v1; in clear without them.
    person: Person | SealedValue
    booked_at: Instant
    charges: list[Charge]
    # The latest of sentence / explicit schedule / unscheduled: the latest one wins.
    release_plan: ReleasePlan | None = None
    released_at: Instant | None = None
    release_type: ReleaseType | None = None
    transferred_at: Instant | None = None
    transferred_to: Transfer | None = None
    last_sequence: int | None = None
    cause: Cause


class BookingState(Envelope):
    type: Literal["booking.state"] = "booking.state"
    data: BookingStateData


def state_event_id(key: str, revision: int) -> str:
    return f"{key}@{revision}"
