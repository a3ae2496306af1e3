"""Jail-local times to UTC instants (SPEC 3.1).

A local time in a spring-forward gap does not exist: an error. A local time in a fall-back
overlap is ambiguous: the earlier instant, which gives more notice, never less.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


class NonexistentLocalTime(ValueError):
    pass


def to_utc(value: datetime, timezone: str) -> datetime:
    """An aware datetime as UTC; a naive one read as wall-clock time in ``timezone``."""
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    zone = ZoneInfo(timezone)
    earlier = value.replace(tzinfo=zone, fold=0)
    as_utc = earlier.astimezone(UTC)
    if as_utc.astimezone(zone).replace(tzinfo=None) != value:
        raise NonexistentLocalTime(
            f"local time {value.isoformat()} does not exist in {timezone} (skipped by a DST change)"
        )
    later = value.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return min(as_utc, later)


def to_local(instant: datetime, timezone: str) -> datetime:
    """A UTC instant as the facility's wall-clock time, with its offset."""
    if instant.tzinfo is None:
        raise ValueError("to_local needs an aware datetime")
    return instant.astimezone(ZoneInfo(timezone))
