"""An agency's integration, as an example (``releasewatch agency listen --agency dhs-ice``):
read the agency's notices, print them, acknowledge each once on ``notice.acks.v1``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas.notice_acks import NoticeAck, NoticeAckData
from schemas.topics import NOTICE_ACKS, agency_notices
from services.kafka.client import read
from services.kafka.client.clients import running
from services.kafka.client.security import Kafka, as_client


async def listen(
    kafka: Kafka,
    agency: str,
    by: str,
    acknowledge: bool = True,
    limit: int | None = None,
    delivery: Mapping[str, Any] | None = None,
) -> int:
    """``delivery``: the acknowledgements' producer settings (``producer_options``: acks and
    idempotence as the settings say; aiokafka's defaults without)."""
    topic = agency_notices(agency).name
    consumer = AIOKafkaConsumer(
        topic,
        **as_client(kafka, consumer=True),
        group_id=f"agency-{agency}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        # A group join waits up to half the session timeout on some brokers: keep it short.
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    producer = AIOKafkaProducer(**as_client(kafka), **(delivery or {}))
    acknowledged: set[str] = set()  # a resend carries the same notice_id: ack it once
    seen = 0
    async with running(consumer), running(producer):
        async for record in read.each(consumer, wait_ms=1000):
            if record is not None:
                notice = json.loads(record.value)
                data = notice["data"]
                seen += 1
                print(describe(notice), flush=True)
                if acknowledge and data["notice_id"] not in acknowledged:
                    ack = acknowledgement(notice, agency, by, datetime.now(UTC))
                    await producer.send_and_wait(
                        NOTICE_ACKS.name, key=record.key, value=ack.model_dump_json().encode()
                    )
                    acknowledged.add(data["notice_id"])
            await consumer.commit()
            if limit is not None and seen >= limit:
                break
    return 0


def describe(notice: dict[str, Any]) -> str:
    """The line an agency's desk reads: the person is theirs to know, so named here."""
    data, subject = notice["data"], notice["data"]["subject"]
    return (
        f"{data['kind']:<17} {notice['jurisdiction']}/{notice['booking_id']} "
        f"{subject['last_name']}, {subject['first_name']} "
        f"release {data.get('release_at_local') or '-'} "
        f"(lead {data.get('lead_hours')} h, attempt {data['attempt']})"
    )


def acknowledgement(notice: dict[str, Any], agency: str, by: str, now: datetime) -> NoticeAck:
    notice_id = notice["data"]["notice_id"]
    return NoticeAck(
        event_id=f"{agency}:ack:{notice_id}",
        occurred_at=now,
        jurisdiction=notice["jurisdiction"],
        booking_id=notice["booking_id"],
        data=NoticeAckData(notice_id=notice_id, agency=agency, acknowledged_at=now, by=by),
    )
