"""RELEASEWATCH_PROCESSING_GUARANTEE=exactly_once on Apache Kafka, in three steps on one
broker of its own (the other tests share the suite's broker):

1. Every output a service publishes is written inside its input partition's transaction, as
   the broker's own log shows, and a read_committed reader (an agency) sees each alert and
   notice once (SPEC 8). The kill -9 half of the promise is the fault suite's
   (``make chaos GUARANTEE=exactly_once``).
2. A worker fenced: other producers take over the notification service's transactional ids,
   as a worker handed its partitions by a moved group coordinator does. The fenced worker
   replaces itself (``services.kafka.patches.fencing``; it used to stop for good) and the next
   notice still reaches the agency once. Then a record refused inside a transaction (the
   agency's topic refusing for a while): the worker replaces itself rather than commit
   without it (aiokafka would have), and the notice and its ledger record arrive once each.
   Then a refusal that lasts: after three restarts on the same input, that input is
   dead-lettered naming the error, and the next notice goes through.
3. The installation switched back to at_least_once on the same state. The transactions left
   markers at the end of the changelogs, and faust's at-least-once table recovery waited for
   ever for a record at the last offset (``services.streams.recovery``): the workers must
   become ready and still know the bookings."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from schemas.topics import AUDIT, DEADLETTER, NOTICE_ALERTS, agency_notices
from services.kafka.admin.topics import partition_for
from services.kafka.broker.apache import EmbeddedKafka
from services.kafka.broker.toolchain import missing_toolchain
from services.kafka.patches.fencing import RESTARTS_BEFORE_GIVING_UP
from tests.integration.conftest import PARTITIONS, start_services
from tests.integration.test_board import release
from tests.integration.test_notification_service import flagged_booking
from tests.support.kafka_log import batches
from tests.support.poll import until
from tests.support.topics import KafkaHelper, Watch
from tests.support.workers import all_ready, log_events, stop_all

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(missing_toolchain() is not None, reason="needs the embedded Apache Kafka"),
]
H = timedelta(hours=1)
NOTICES = agency_notices("dhs-ice").name
SERVICES = ("booking", "scheduling", "notification")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedKafka]:
    running = EmbeddedKafka(tmp_path / "kafka")
    running.start()
    try:
        yield running
    finally:
        running.stop()


async def test_transactions_a_fenced_worker_and_the_switch_back_to_at_least_once(
    broker: EmbeddedKafka, tmp_path: Path
) -> None:
    key, again = await under_exactly_once(broker, tmp_path)
    partition = partition_for(key, PARTITIONS)
    for topic in (NOTICE_ALERTS.name, NOTICES):
        stored = await asyncio.to_thread(batches, broker.data_dir, topic, partition)
        mine = [b for b in stored if any(f"key: {key} " in r for r in b.records)]
        assert len(mine) == 1, (topic, [b.header for b in mine])
        assert mine[0].transactional, (topic, mine[0].header)
        # ... and committed: a commit marker follows it in the partition.
        after = stored[stored.index(mine[0]) + 1 :]
        assert any(b.control for b in after), (topic, [b.header for b in after])
    await switched_back_to_at_least_once(broker, tmp_path, key, again)


async def under_exactly_once(broker: EmbeddedKafka, data_dir: Path) -> tuple[str, str]:
    """Steps 1 and 2: the keys of the booking notified before and after the fence."""
    workers = start_services(
        broker, data_dir, SERVICES, "exactly-once", RELEASEWATCH_PROCESSING_GUARANTEE="exactly_once"
    )
    notification = workers[SERVICES.index("notification")]
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

            pid = notification.pid
            await fence(broker.bootstrap, "releasewatch-notification")
            again = await flagged_booking(kafka, "us-mn-hennepin", release_in=10 * H)
            await notices.wait_for(lambda r: r.key == again, 1, 120)
        fenced = log_events(notification.log_path, "transaction_fenced")
        assert fenced and fenced[0][1]["transactional_id"].startswith("releasewatch-notification-")
        assert notification.alive() and notification.pid == pid  # replaced in place
        await refused_in_a_transaction(kafka, notification)
        await refused_for_good(kafka, notification)
    finally:
        await kafka.stop()
        stop_all(workers)
    return key, again


async def refused_in_a_transaction(kafka: KafkaHelper, notification: Any) -> None:
    """Step 2b: the agency's topic refuses every record for a while (only the notification
    service writes it). aiokafka would commit the transaction without the refused notice, so
    the worker replaces itself instead of committing. Once the topic accepts again, the
    notice and its ledger record are there, each once, read committed."""
    pid = notification.pid
    async with (
        Watch(kafka.bootstrap, NOTICES, isolation_level="read_committed") as notices,
        Watch(kafka.bootstrap, AUDIT.name, isolation_level="read_committed") as ledger,
    ):
        async with kafka.topic_config(NOTICES, max_message_bytes="64"):
            third = await flagged_booking(kafka, "us-mn-hennepin", release_in=10 * H)
            await until(
                lambda: log_events(notification.log_path, "transaction_output_refused"),
                90,
                "the notification worker to refuse to commit",
            )
        await notices.wait_for(lambda r: r.key == third, 1, 120)
        issued = await ledger.wait_for(
            lambda r: r.key == third and r.value["data"]["step"] == "issued", 1, 60
        )
        assert len([r for r in notices.records if r.key == third]) == 1
        assert len(issued) == 1
    [(_, refused), *_] = log_events(notification.log_path, "transaction_output_refused")
    assert refused["error"] == "MessageSizeTooLargeError", refused
    assert refused["transactional_id"].startswith("releasewatch-notification-")
    assert notification.alive() and notification.pid == pid  # replaced in place


async def refused_for_good(kafka: KafkaHelper, notification: Any) -> None:
    """Step 2c: the agency's topic refuses until the input is given up. After restarting
    ``RESTARTS_BEFORE_GIVING_UP`` times on the same input's refused notice, the worker
    dead-letters that input naming the error instead of handling it again, so the partition
    goes on (it restarted for ever); the next notice gets through once the topic accepts."""
    pid = notification.pid
    before = len(log_events(notification.log_path, "transaction_output_refused"))
    async with (
        Watch(kafka.bootstrap, NOTICES, isolation_level="read_committed") as notices,
        Watch(kafka.bootstrap, DEADLETTER.name, isolation_level="read_committed") as dead,
    ):
        # A limit the notice is over but the abort's transaction marker is not: with 64 (step
        # 2b) the broker could not write it, and the aborted transaction stayed open for good.
        async with kafka.topic_config(NOTICES, max_message_bytes="200"):
            doomed = await flagged_booking(kafka, "us-mn-hennepin", release_in=10 * H)
            # The input that sends the notice: the alert, or the booking's state when the
            # alert came first and was held until the state.
            [letter] = await dead.wait_for(
                lambda r: (r.value["key"] or {}).get("content") == doomed,
                1,
                240,
                "the input dead-lettered",
            )
        after = await flagged_booking(kafka, "us-mn-hennepin", release_in=10 * H)
        await notices.wait_for(lambda r: r.key == after, 1, 120)
        assert not [r for r in notices.records if r.key == doomed]
        assert len([r for r in notices.records if r.key == after]) == 1
    assert "MessageSizeTooLargeError" in json.dumps(letter.value["errors"])
    restarts = log_events(notification.log_path, "transaction_output_refused")[before:]
    assert len(restarts) >= RESTARTS_BEFORE_GIVING_UP, [fields for _, fields in restarts]
    [(_, failed)] = [
        (line, fields)
        for line, fields in log_events(notification.log_path, "message_failed")
        if fields.get("restarts") is not None
    ]
    assert (failed["error"], failed["restarts"]) == (
        "MessageSizeTooLargeError",
        RESTARTS_BEFORE_GIVING_UP,
    )
    assert (failed["topic"], failed["offset"]) == (
        letter.value["source_topic"],
        letter.value["source_offset"],
    )
    assert notification.alive() and notification.pid == pid  # replaced in place


async def fence(bootstrap: str, app_id: str) -> None:
    """Take over each of the app's transactional ids (``{app id}-{topic group}-{partition}``),
    as the worker given its partitions would: the broker then refuses the app's producers."""
    producers = [
        AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{app_id}-{group}-{p}")
        for group in range(3)
        for p in range(PARTITIONS)
    ]
    await asyncio.gather(*(producer.start() for producer in producers))
    try:
        for producer in producers:
            async with producer.transaction():  # its id registered, the older producer fenced
                pass
    finally:
        await asyncio.gather(*(producer.stop() for producer in producers))


async def switched_back_to_at_least_once(
    broker: EmbeddedKafka, data_dir: Path, key: str, again: str
) -> None:
    """Step 3: the same services and state with at_least_once: ready, and the booking still
    known (its release notice needs the notification service's record of the notice sent).
    Read committed from the start, once everything before has settled: each notice once."""
    workers = start_services(broker, data_dir, SERVICES, "back-to-at-least-once")
    kafka = KafkaHelper(broker.bootstrap)
    await kafka.start()
    try:
        await all_ready(workers, 90)
        async with Watch(kafka.bootstrap, NOTICES, isolation_level="read_committed") as notices:
            await release(kafka, key)
            await notices.wait_for(
                lambda r: r.key == key and r.value["data"]["kind"] == "released", 1, 60
            )
            await notices.wait_for(lambda r: r.key == again, 1, 30)
            for booking in (key, again):
                due = [r for r in notices.records if r.key == booking]
                assert [r.value["data"]["kind"] for r in due].count("notice_due") == 1, due
    finally:
        await kafka.stop()
        stop_all(workers)
    logs = [worker.log_path for worker in workers]
    past = [fields for path in logs for _, fields in log_events(path, "recovery_past_markers")]
    assert any(fields["topic"].endswith("-changelog") for fields in past), past
