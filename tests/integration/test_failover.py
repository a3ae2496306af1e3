"""Broker failover on the three-node cluster (replication factor 3, min ISR 2, acks=all): the
services ride through losing the leader of a booking's partitions, then the active
controller, with no worker restarted. (`make chaos MODE=brokers` does the same under load.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from schemas.topics import JAIL_BOOKING, agency_notices
from services.access import SERVICES
from services.kafka.admin.topics import partition_for
from services.kafka.broker.apache import EmbeddedKafka
from services.kafka.broker.toolchain import missing_toolchain
from tests import factories as f
from tests.integration.conftest import PARTITIONS, own_kafka, start_services
from tests.support.topics import KafkaHelper
from tests.support.workers import all_ready, stop_all

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(missing_toolchain() is not None, reason="needs the embedded Apache Kafka"),
]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[EmbeddedKafka]:
    with own_kafka(tmp_path, "failover", nodes=3) as broker:
        yield broker


async def leader_of(bootstrap: str, topic: str, partition: int) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        return int(cluster._partitions[topic][partition].leader)
    finally:
        await consumer.stop()


async def flag(kafka: KafkaHelper, booking_id: str) -> str:
    """A booking flagged by dhs-ice, released in 10 hours: its notice is due at once."""
    now = datetime.now(UTC)
    await kafka.publish(
        JAIL_BOOKING.name, f.opened(booking_id=booking_id, data={"booked_at": now.isoformat()})
    )
    request = {"request_id": "ice-1", "agency": "dhs-ice"}
    await kafka.publish(
        "agency.requests.v1",
        f.envelope("notice_request.received", request, booking_id=booking_id),
    )
    release = (now + timedelta(hours=10)).isoformat()
    await kafka.publish(JAIL_BOOKING.name, f.scheduled(release, booking_id=booking_id))
    return f"{f.JURISDICTION}/{booking_id}"


async def test_notices_get_through_while_the_leader_then_the_controller_is_down(
    cluster: EmbeddedKafka, tmp_path: Path
) -> None:
    workers = start_services(cluster, tmp_path, SERVICES, "failover")
    kafka = KafkaHelper(cluster.bootstrap)
    await kafka.start()
    try:
        await all_ready(workers, 120)
        notices = await kafka.watch(agency_notices("dhs-ice").name)
        first = await flag(kafka, "fo-0001")
        await notices.wait_for(lambda r: r.key == first, 1, 90, "the first notice")

        for n, target in enumerate(("leader", "controller"), start=2):
            key = f"{f.JURISDICTION}/fo-000{n}"
            if target == "leader":  # of the partition this booking's events go to
                partition = partition_for(key, PARTITIONS)
                node = await leader_of(cluster.bootstrap, JAIL_BOOKING.name, partition)
            else:
                node = cluster.quorum_leader() or 1
            cluster.kill_node(node)
            assert await flag(kafka, key.split("/")[1]) == key
            await notices.wait_for(lambda r, k=key: r.key == k, 1, 120, f"a notice, {target} down")
            cluster.start_node(node)
        assert all(worker.alive() for worker in workers)  # none restarted, none died
    finally:
        await kafka.stop()
        stop_all(workers)
