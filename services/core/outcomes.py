"""What a rule decides about an input, when the answer is "do nothing" or "refuse".

Each domain returns its own outcome type for what changed; these are shared, so the
wiring matches on types (``case Duplicate():``), never on strings. Pure: no faust, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.deadletter import FieldError, RejectReason


@dataclass(frozen=True)
class Duplicate:
    """Seen before: nothing to publish, nothing to store."""


@dataclass(frozen=True)
class Stale:
    """Older than what was applied: dropped (the newer one already decided)."""

    revision: int
    last_revision: int


@dataclass(frozen=True)
class StaleSequence:
    """A jail event whose ``sequence`` is not above the last applied: dropped."""

    sequence: int
    last_sequence: int


@dataclass(frozen=True)
class Rejected:
    """Refused with the reasons: the input is dead-lettered, nothing else changes."""

    errors: tuple[FieldError, ...]


@dataclass(frozen=True)
class Forget:
    """A retired booking's stub has outlived its time: its record is deleted (a changelog
    tombstone); from then on the booking is one this service never saw."""


def retired(booking_id: str, path: str, what: str) -> Rejected:
    """Something new for a booking of which only a retirement stub is left."""
    return Rejected(
        (
            FieldError(
                path=path,
                reason=RejectReason.INCONSISTENT,
                message=f"{what} for booking {booking_id}, which was released or transferred "
                f"and retired; only a stub of it is kept",
            ),
        )
    )
