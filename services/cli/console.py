"""What `releasewatch up --demo` prints: one line per alert, notice, escalation and dead
letter, with booking keys and times only (no names or dates of birth)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

from schemas.topics import (
    DEADLETTER,
    ESCALATIONS,
    NOTICE_ALERTS,
    SUBJECT_COPIES,
    is_agency_topic,
    pattern_of,
)
from services.core.localtime import to_local
from services.kafka.client.follow import follow
from services.kafka.client.security import Kafka


def _local(instant: str | None, timezone: str | None) -> str:
    if not instant:
        return "-"
    moment = datetime.fromisoformat(instant)
    if timezone:
        moment = to_local(moment, timezone)
    return moment.strftime("%Y-%m-%d %H:%M %Z")


def line(topic: str, key: str | None, value: Any) -> str | None:
    """A one-line summary of a message, or None for messages not worth a line."""
    if not isinstance(value, dict):
        return None
    data = value.get("data") or {}
    if topic == NOTICE_ALERTS.name:
        zone = data.get("facility_timezone") or (
            ((data.get("booking") or {}).get("facility") or {}).get("timezone")
        )
        lead = data.get("lead_hours")
        extra = (
            f" notice_given={data.get('notice_given')}"
            + (
                f" withheld_by={data['notice_withheld_by']!r}"
                if data.get("notice_withheld_by")
                else ""
            )
            if data.get("kind") == "released"
            else f" lead={lead:.1f}h"
            if lead is not None
            else ""
        )
        late = " LATE" if data.get("late") else ""
        return (
            f"ALERT  {data.get('kind'):<17} {key}  {data.get('agency')}  release "
            f"{_local(data.get('release_at'), zone)}{extra}{late}"
        )
    if topic == ESCALATIONS.name:
        return f"ESCAL  {data.get('reason'):<17} {key}  {data.get('agency')}  {data.get('detail')}"
    if topic == DEADLETTER.name:
        first = (value.get("errors") or [{}])[0]
        return (
            f"DEAD   {value.get('reason'):<17} {value.get('source_topic')}@"
            f"{value.get('source_partition')}:{value.get('source_offset')}  "
            f"{first.get('path') or '<message>'}: {first.get('message', '')[:80]}"
        )
    if topic == SUBJECT_COPIES.name:
        return (
            f"COPY   {data.get('kind'):<17} {key}  to the person and their attorney "
            f"(notice {data.get('notice_id')})"
        )
    if is_agency_topic(topic):
        zone = (data.get("facility") or {}).get("timezone")
        return (
            f"NOTICE {data.get('kind'):<17} {key}  to {data.get('agency')}  release "
            f"{_local(data.get('release_at'), zone)}  attempt {data.get('attempt')}"
        )
    return None


WATCHED_PATTERN = pattern_of(NOTICE_ALERTS, ESCALATIONS, DEADLETTER, agencies=True)


def _print_line(topic: str, key: str | None, value: Any) -> None:
    text = line(topic, key, value)
    if text:
        print(text, flush=True)


async def watch(kafka: Kafka) -> None:
    await follow(kafka, WATCHED_PATTERN, _print_line, from_beginning=False)


def run_watch(kafka: Kafka) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(watch(kafka))
    return 0
