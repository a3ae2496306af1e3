"""RELEASEWATCH_PROCESSING_GUARANTEE=exactly_once on Apache Kafka: every output a service
publishes is written inside its input partition's transaction, as the broker's own log
shows, and a read_committed reader (an agency) sees each alert and notice once (SPEC 8). The
kill -9 half of the promise is the fault suite's (``make chaos GUARANTEE=exactly_once``).

On a broker of its own: the transaction markers it leaves at the end of the services'
changelogs stall an at-least-once worker's table recovery (faust waits for a record at the
last offset, a marker it is never handed), and the other tests share the suite's broker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from schemas.topics import NOTICE_ALERTS, agency_notices
from services.kafka.apache import EmbeddedKafka
from services.kafka.toolchain import missing_toolchain
from services.kafka.topics import partition_for
from tests.integration.conftest import PARTITIONS, start_services
from tests.integration.test_notification_service import flagged_booking
from tests.support.kafka_log import batches
from tests.support.topics import KafkaHelper, Watch
from tests.support.workers import all_ready

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(missing_toolchain() is not None, reason="needs the embedded Apache Kafka"),
]
H = timedelta(hours=1)
NOTICES = agency_notices("dhs-ice").name


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedKafka]:
    running = EmbeddedKafka(tmp_path / "kafka")
    running.start()
    try:
        yield running
    finally:
        running.stop()


async def test_outputs_are_written_in_transactions_and_read_committed_once(
    broker: EmbeddedKafka, tmp_path: Path
) -> None:
    workers = start_services(
        broker,
        tmp_path,
        ("booking", "scheduling", "notification"),
        "exactly-once",
        RELEASEWATCH_PROCESSING_GUARANTEE="exactly_once",
    )
    kafka = KafkaHelper(broker.bootstrap)
    await kafka.start()
    try:
        await all_ready(workers, 120)
        async with (
            Watch(kafka.bootstrap, NOTICE_ALERTS.name, isolation_level="read_committed") as alerts,
            Watch(kafka.bootstrap, NOTICES, isolation_level="read_committed") as notices,
        ):
            key = await flagged_booking(kafka, "us-mn-hennepin", release_in=10 * H)  # late: now
            [alert] = await alerts.wait_for(lambda r: r.key == key, 1, 90)
            [notice] = await notices.wait_for(lambda r: r.key == key, 1, 90)
            assert [r for r in alerts.records if r.key == key] == [alert]
            assert [r for r in notices.records if r.key == key] == [notice]
    finally:
        await kafka.stop()
        for worker in workers:
            worker.stop()
    partition = partition_for(key, PARTITIONS)
    for topic in (NOTICE_ALERTS.name, NOTICES):
        stored = await asyncio.to_thread(batches, broker.data_dir, topic, partition)
        mine = [b for b in stored if any(f"key: {key} " in r for r in b.records)]
        assert len(mine) == 1, (topic, [b.header for b in mine])
        assert mine[0].transactional, (topic, mine[0].header)
        # ... and committed: a commit marker follows it in the partition.
        after = stored[stored.index(mine[0]) + 1 :]
        assert any(b.control for b in after), (topic, [b.header for b in after])
