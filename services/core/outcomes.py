"""What a rule decides about an input, when the answer is "do nothing" or "refuse".

Each domain returns its own outcome type for what changed; these three are shared, so the
wiring matches on types (``case Duplicate():``), never on strings. Pure: no faust, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.deadletter import FieldError


@dataclass(frozen=True)
class Duplicate:
    """Seen before: nothing to publish, nothing to store."""


@dataclass(frozen=True)
class Stale:
    """Older than what was applied: dropped (the newer one already decided)."""

    revision: int
    last_revision: int


@dataclass(frozen=True)
class Rejected:
    """Refused with the reasons: the input is dead-lettered, nothing else changes."""

    errors: tuple[FieldError, ...]
