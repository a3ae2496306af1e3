"""What the booking service keeps per booking, and the decisions its rules return (the
rules themselves are in ``domain``). Pure: no faust, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from schemas.booking_state import BookingState, BookingStateData, BookingStatus
from schemas.sealed import WrappedDataKey


class BookingStub(BaseModel):
    """What is left of a retired booking: enough to tell a late repeat (its event ids, kept
    in the record's ``applied``) and a stale event (its last sequence) from something new.
    No personal data."""

    model_config = ConfigDict(frozen=True)

    revision: int
    status: BookingStatus
    last_sequence: int | None = None


class BookingRecord(BaseModel):
    """What the booking service keeps per booking: the state and the event ids applied.

    ``applied`` maps each applied event_id to the position (topic:partition:offset) it was
    read from, so that a redelivery of the same message after a crash can be told apart from
    a publisher sending the same event twice.

    A released or transferred booking gets ``retire_at`` (its release + the jurisdiction's
    ``retire_after_days``); then the record shrinks to a ``stub`` (``state`` None) with a new
    ``retire_at`` (+ ``forget_after_days``), when it is deleted.
    """

    model_config = ConfigDict(frozen=True)

    jurisdiction: str = ""  # whose policy times the retirement ("" in records from before)
    state: BookingStateData | None = None
    applied: dict[str, str]
    retire_at: datetime | None = None
    stub: BookingStub | None = None
    # The booking's data key, wrapped (#46): what its person is sealed with, in the changelog
    # and on booking.state.v1. Made by the wiring (``services.booking.sealing``); a stub has
    # none: the key was destroyed when the booking retired.
    data_keys: tuple[WrappedDataKey, ...] = ()

    @property
    def retired(self) -> bool:
        return self.stub is not None


@dataclass(frozen=True)
class Accepted:
    """The event changed the booking: store the record, publish its new state."""

    record: BookingRecord
    message: BookingState


@dataclass(frozen=True)
class Resend:
    """The very same message again (after a crash before the offset commit), whose output
    may have been lost: re-send the current state (the record is unchanged)."""

    record: BookingRecord
    message: BookingState


@dataclass(frozen=True)
class Retired:
    """The grace period is over: the record shrinks to its stub; nothing is published."""

    record: BookingRecord
    retired: bool = True
