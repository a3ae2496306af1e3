"""The bad messages the simulator sprinkles in, one of each SPEC 5 kind: broken JSON, an
unknown type, an unknown timezone, a local time that does not exist, a schema violation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from schemas.topics import JAIL_BOOKING

KINDS = ("invalid_json", "unknown_type", "unknown_timezone", "nonexistent_local_time", "schema")


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes
    kind: str  # the event type, or "bad:<reason>"


def broken_json(key: bytes) -> Outgoing:
    return Outgoing(
        JAIL_BOOKING.name, key, b'{"event_id": "sim-broken", "type": ', "bad:invalid_json"
    )


def spoil(base: Outgoing, choice: str, timezone: str, now: datetime) -> Outgoing:
    """``base`` (a good jail event) made bad in the way ``choice`` names."""
    document = json.loads(base.value)
    if choice == "unknown_type":
        document["type"] = "booking.escaped"
    elif choice == "unknown_timezone":
        document["type"] = "booking.opened"
        document["data"] = {
            "facility": {"id": "x", "name": "x", "timezone": "America/Gotham"},
            "person": {
                "person_id": "p",
                "first_name": "A",
                "last_name": "B",
                "date_of_birth": "1990-01-01",
            },
            "booked_at": now.isoformat(),
            "charges": [],
        }
    elif choice == "nonexistent_local_time":
        document["type"] = "release.scheduled"
        gap = next_spring_forward_gap(now, timezone)
        document["data"] = {
            "release_at": gap.isoformat() if gap else "not-a-time",
            "basis": "court_order",
        }
    else:
        document["data"] = {"charges": [{"charge_id": "c1"}]}  # statute and level missing
    return Outgoing(base.topic, base.key, json.dumps(document).encode(), f"bad:{choice}")


def next_spring_forward_gap(now: datetime, timezone: str) -> datetime | None:
    """A local wall-clock time that does not exist (in the next spring-forward gap)."""
    zone = ZoneInfo(timezone)
    probe = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    for _ in range(24 * 400):
        probe += timedelta(hours=1)
        before, after = probe.astimezone(zone), (probe + timedelta(hours=1)).astimezone(zone)
        if after.utcoffset() != before.utcoffset() and after.utcoffset() > before.utcoffset():  # type: ignore[operator]
            wall = (before + timedelta(hours=1)).replace(tzinfo=None)
            return wall.replace(minute=30)
    return None
