"""RELEASEWATCH_PROCESSING_GUARANTEE=exactly_once on Apache Kafka: every output a service
publishes is written inside its input partition's transaction, as the broker's own log
shows, and a read_committed reader (an agency) sees each alert and notice once (SPEC 8). The
kill -9 half of the promise is the fault suite's (``make chaos GUARANTEE=exactly_once``)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from schemas.topics import AGENCY_TOPIC_TEMPLATE, NOTICE_ALERTS
from services.kafka.apache import EmbeddedKafka
from services.kafka.embedded import EmbeddedBroker
from services.kafka.topics import partition_for
from tests.integration.conftest import PARTITIONS
from tests.integration.test_notification_service import flagged_booking
from tests.support.kafka_log import batches
from tests.support.topics import KafkaHelper, Watch
from tests.support.workers import all_ready

pytestmark = pytest.mark.integration
H = timedelta(hours=1)
NOTICES = AGENCY_TOPIC_TEMPLATE.format(agency="dhs-ice")


async def test_outputs_are_written_in_transactions_and_read_committed_once(
    start_service: Any, kafka: KafkaHelper, broker: EmbeddedBroker
) -> None:
    if not isinstance(broker, EmbeddedKafka):
        pytest.skip("exactly_once needs Apache Kafka's transactions (Tansu has none)")
    workers = [
        start_service(name, RELEASEWATCH_PROCESSING_GUARANTEE="exactly_once")
        for name in ("booking", "scheduling", "notification")
    ]
    await all_ready(workers)
    async with (
        Watch(kafka.bootstrap, NOTICE_ALERTS.name, isolation_level="read_committed") as alerts,
        Watch(kafka.bootstrap, NOTICES, isolation_level="read_committed") as notices,
    ):
        key = await flagged_booking(kafka, "us-mn-hennepin", release_in=10 * H)  # late: at once
        [alert] = await alerts.wait_for(lambda r: r.key == key, 1, 90)
        [notice] = await notices.wait_for(lambda r: r.key == key, 1, 90)
        assert [r for r in alerts.records if r.key == key] == [alert]
        assert [r for r in notices.records if r.key == key] == [notice]
    partition = partition_for(key, PARTITIONS)
    for topic in (NOTICE_ALERTS.name, NOTICES):
        stored = await asyncio.to_thread(batches, broker.data_dir, topic, partition)
        mine = [b for b in stored if any(f"key: {key} " in r for r in b.records)]
        assert len(mine) == 1, (topic, [b.header for b in mine])
        assert mine[0].transactional, (topic, mine[0].header)
        # ... and committed: a commit marker follows it in the partition.
        after = stored[stored.index(mine[0]) + 1 :]
        assert any(b.control for b in after), (topic, [b.header for b in after])
