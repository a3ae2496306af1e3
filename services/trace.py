"""``releasewatch trace <jurisdiction>/<booking_id>``: one booking's chain, from the jail's
event to the agency's notice, read from the topics in time order.

Everything about a booking is on one partition of each topic (the same number everywhere),
so only that partition is read. No names or dates of birth are printed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.kafka.clients import running
from services.kafka.metadata import partitions_of
from services.kafka.security import Kafka, as_client
from services.kafka.topics import partition_for

TRACED = re.compile(
    r"^(jail\.booking|agency\.requests|booking\.state|release\.schedule|notice\.alerts|"
    r"notice\.acks|notice\.audit|ops\.escalations|deadletter|notices\.[a-z0-9-]+)\.v1$"
)


# Within one millisecond, the order in which the pipeline produces them.
STAGE = {
    "jail.booking.v1": 0,
    "agency.requests.v1": 0,
    "booking.state.v1": 1,
    "release.schedule.v1": 2,
    "notice.alerts.v1": 3,
    "notice.acks.v1": 5,
    "notice.audit.v1": 6,
    "ops.escalations.v1": 7,
    "deadletter.v1": 8,
}


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
    if topic == "deadletter.v1":
        return f"dead letter {value.get('reason')}: {value.get('event_id') or '-'}"
    if topic == "booking.state.v1":
        cause = data.get("cause") or {}
        return (
            f"state r{data.get('revision')} {data.get('status')} "
            f"<- {cause.get('type')} {cause.get('event_id')}"
        )
    if topic == "release.schedule.v1":
        return (
            f"schedule r{data.get('revision')} {data.get('status')} "
            f"{data.get('release_at') or '-'} <- {data.get('cause_event_id')}"
        )
    if topic == "notice.alerts.v1":
        late = " LATE" if data.get("late") else ""
        return (
            f"alert {data.get('kind')} {data.get('agency')} lead {data.get('lead_hours')} h"
            f"{late} [{data.get('alert_id')}] <- {data.get('cause_event_id')}"
        )
    if topic == "notice.audit.v1":
        rule = f" rule={data.get('rule')}" if data.get("rule") else ""
        agency, notice = data.get("agency") or "", data.get("notice_id") or ""
        return f"ledger {data.get('step')} {agency} {notice}{rule}"
    if topic == "ops.escalations.v1":
        return f"escalation {data.get('reason')} {data.get('agency')} {data.get('notice_id') or ''}"
    if topic.startswith("notices."):
        return (
            f"notice {data.get('kind')} to {data.get('agency')} attempt {data.get('attempt')} "
            f"local {data.get('release_at_local') or '-'} [{data.get('notice_id')}]"
        )
    if topic == "notice.acks.v1":
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
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        steps: list[Step] = []
        seen: set[tuple[str, str]] = set()
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, records in batches.items():
                for record in records:
                    if record.key and record.key.decode(errors="replace") == key:
                        try:
                            value = json.loads(record.value)
                        except (TypeError, ValueError):
                            value = None
                        ident = (
                            tp.topic,
                            str(
                                (value or {}).get("event_id")
                                or (value or {}).get("deadletter_id")
                                or record.offset
                            ),
                        )
                        if ident not in seen:  # repeats after a rebalance carry the same id
                            seen.add(ident)
                            steps.append(
                                Step(
                                    datetime.fromtimestamp(record.timestamp / 1000, UTC),
                                    tp.topic,
                                    record.offset,
                                    describe(tp.topic, value),
                                )
                            )
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return sorted(steps, key=lambda step: (step.at, stage(step.topic), step.offset))


def render(steps: list[Step]) -> str:
    if not steps:
        return "nothing on the topics for this booking"
    return "\n".join(
        f"{step.at.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]}  {step.topic:<26} {step.text}"
        for step in steps
    )
