"""``releasewatch trace <jurisdiction>/<booking_id>``: one booking's chain, from the jail's
event to the agency's notice, read from the topics in time order.

Everything about a booking is on one partition of each topic (the same number everywhere),
so only that partition is read. No names or dates of birth are printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.topics import (
    AGENCY_REQUESTS,
    AUDIT,
    BOOKING_STATE,
    DEADLETTER,
    ESCALATIONS,
    JAIL_BOOKING,
    NOTICE_ACKS,
    NOTICE_ALERTS,
    REGISTRY,
    RELEASE_SCHEDULE,
    pattern_of,
)
from services.kafka.admin.metadata import partitions_of
from services.kafka.admin.topics import partition_for
from services.kafka.client import read
from services.kafka.client.clients import running
from services.kafka.client.security import Kafka, as_client

# Within one millisecond, the order in which the pipeline produces them.
STAGE = {
    JAIL_BOOKING.name: 0,
    AGENCY_REQUESTS.name: 0,
    BOOKING_STATE.name: 1,
    RELEASE_SCHEDULE.name: 2,
    NOTICE_ALERTS.name: 3,
    NOTICE_ACKS.name: 5,
    AUDIT.name: 6,
    ESCALATIONS.name: 7,
    DEADLETTER.name: 8,
}
# Every public topic of the registry (the internal ones are a service's own business).
TRACED = re.compile(pattern_of(*(spec for spec in REGISTRY if not spec.internal), agencies=True))


def stage(topic: str) -> int:
    return STAGE.get(topic, 4)  # notices.<agency>.v1 and subject copies


@dataclass(frozen=True)
class Step:
    at: datetime
    topic: str
    offset: int
    text: str


def describe(topic: str, value: Any) -> str:
    """One line about a message: what it is and the ids that link it to the others."""
    if not isinstance(value, dict):
        return "(not JSON)"
    data: dict[str, Any] = value["data"] if isinstance(value.get("data"), dict) else {}
    if topic == DEADLETTER.name:
        return f"dead letter {value.get('reason')}: {value.get('event_id') or '-'}"
    if topic == BOOKING_STATE.name:
        cause = data.get("cause") or {}
        return (
            f"state r{data.get('revision')} {data.get('status')} "
            f"<- {cause.get('type')} {cause.get('event_id')}"
        )
    if topic == RELEASE_SCHEDULE.name:
        return (
            f"schedule r{data.get('revision')} {data.get('status')} "
            f"{data.get('release_at') or '-'} <- {data.get('cause_event_id')}"
        )
    if topic == NOTICE_ALERTS.name:
        late = " LATE" if data.get("late") else ""
        return (
            f"alert {data.get('kind')} {data.get('agency')} lead {data.get('lead_hours')} h"
            f"{late} [{data.get('alert_id')}] <- {data.get('cause_event_id')}"
        )
    if topic == AUDIT.name:
        rule = f" rule={data.get('rule')}" if data.get("rule") else ""
        agency, notice = data.get("agency") or "", data.get("notice_id") or ""
        return f"ledger {data.get('step')} {agency} {notice}{rule}"
    if topic == ESCALATIONS.name:
        return f"escalation {data.get('reason')} {data.get('agency')} {data.get('notice_id') or ''}"
    if topic.startswith("notices."):  # an agency's notices or the subject copies
        return (
            f"notice {data.get('kind')} to {data.get('agency')} attempt {data.get('attempt')} "
            f"local {data.get('release_at_local') or '-'} [{data.get('notice_id')}]"
        )
    if topic == NOTICE_ACKS.name:
        return f"ack {data.get('notice_id')} by {data.get('agency')}"
    return f"{value.get('type')} {value.get('event_id')}"


async def trace(kafka: Kafka, key: str) -> list[Step]:
    consumer = AIOKafkaConsumer(
        **as_client(kafka, consumer=True), group_id=None, enable_auto_commit=False
    )
    async with running(consumer):
        topics = sorted(t for t in await consumer.topics() if TRACED.match(t))
        partitions = []
        for topic in topics:
            count = len(await partitions_of(consumer, topic))
            if count:
                partitions.append(TopicPartition(topic, partition_for(key, count)))
        steps: list[Step] = []
        seen: set[tuple[str, str]] = set()
        async for record in read.to_end(consumer, partitions):
            if read.text_key(record) != key:
                continue
            value = read.json_value(record)
            found = value if isinstance(value, dict) else {}
            ident = (
                record.topic,
                str(found.get("event_id") or found.get("deadletter_id") or record.offset),
            )
            if ident not in seen:  # repeats after a rebalance carry the same id
                seen.add(ident)
                at = datetime.fromtimestamp(record.timestamp / 1000, UTC)
                steps.append(Step(at, record.topic, record.offset, describe(record.topic, value)))
        return sorted(steps, key=lambda step: (step.at, stage(step.topic), step.offset))


def render(steps: list[Step]) -> str:
    if not steps:
        return "nothing on the topics for this booking"
    return "\n".join(
        f"{step.at.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]}  {step.topic:<26} {step.text}"
        for step in steps
    )
