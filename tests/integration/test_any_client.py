"""Any client, any partitioner (issue 42): a jail connector and an agency on librdkafka
(confluent-kafka: CRC32 by default, explicit partitions, null keys) and a connector on the Java
client, against the three services on their own embedded Apache Kafka with 8 partitions.
Each test waits for the notice itself on the agency's topic."""

from __future__ import annotations

import asyncio
import json
import subprocess
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from confluent_kafka import Consumer, Producer

from schemas.owned_topics import placement_topic
from schemas.topics import AUDIT, DEADLETTER, JAIL_BOOKING, NOTICE_ACKS, agency_notices
from services.access import SERVICES
from services.core import kek_file
from services.kafka.admin.topics import ensure_topics, ensure_topics_sync, partition_for
from services.kafka.broker import toolchain
from services.kafka.broker.apache import EmbeddedKafka
from services.streams.codec import RawMessage
from services.streams.placement import as_published, opened
from tests import factories as f
from tests.integration.conftest import own_kafka, shared_keks, start_services
from tests.support.bookings import flagging as flagging_at
from tests.support.poll import until
from tests.support.topics import KafkaHelper, Watch
from tests.support.workers import Worker, all_ready, stop_all, total

pytestmark = pytest.mark.integration
PARTITIONS = 8
NOTICES = agency_notices("dhs-ice").name
PLACED_JAIL = placement_topic("booking", JAIL_BOOKING).name
JAVA_PUBLISHER = Path(__file__).resolve().parents[1] / "support" / "java" / "Publish.java"
# Acknowledge within 15 s or the notice is resent, then escalated 15 s later.
POLICY = """
default:
  notices: all
  ack_timeout_minutes: 0.25
  max_resends: 1
"""


def now() -> datetime:
    return datetime.now(UTC)


def key_of(booking_id: str) -> str:
    return f"{f.JURISDICTION}/{booking_id}"


def fresh(prefix: str) -> str:
    """A booking id no earlier test of this module's broker used."""
    return f"{prefix}-{int(now().timestamp() * 1000)}"


def crc32_partition(key: str) -> int:
    """Where librdkafka's default partitioner (consistent_random) puts a keyed message."""
    return zlib.crc32(key.encode()) % PARTITIONS


def misplaced_by_crc32(prefix: str) -> str:
    """A booking id whose key librdkafka puts on another partition than its booking's."""
    for n in range(1000):
        booking_id = f"{prefix}-{n}"
        key = key_of(booking_id)
        if crc32_partition(key) != partition_for(key, PARTITIONS):
            return booking_id
    raise AssertionError("no such key")


def flagging(booking_id: str) -> list[tuple[str, dict[str, Any]]]:
    """A jail's booking.opened, an agency's request, and a release 20 hours ahead."""
    return flagging_at(booking_id, now() + timedelta(hours=20))


def librdkafka_publish(
    bootstrap: str, messages: list[tuple[str, dict[str, Any]]], how: str
) -> list[int]:
    """Publish as a confluent-kafka connector does; ``how``: "default" (its partitioner, keyed),
    "null-key" (no key), or a partition number to pin every message to. Returns the partition
    each landed on, from the delivery reports."""
    return [partition for partition, _ in librdkafka_send(bootstrap, messages, how)]


def librdkafka_send(
    bootstrap: str, messages: list[tuple[str, dict[str, Any]]], how: str
) -> list[tuple[int, int]]:
    """``librdkafka_publish``, returning (partition, offset) of each message."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    landed: list[tuple[int, int]] = []
    errors: list[Any] = []

    def report(error: Any, message: Any) -> None:
        (errors.append(error) if error else landed.append((message.partition(), message.offset())))

    for topic, document in messages:
        key = f"{document['jurisdiction']}/{document['booking_id']}"
        options: dict[str, Any] = {"key": None if how == "null-key" else key}
        if how.isdigit():
            options["partition"] = int(how)
        producer.produce(topic, json.dumps(document).encode(), on_delivery=report, **options)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert not errors, errors
    return landed


def agency_reads_and_acknowledges(bootstrap: str, keys: set[str], timeout: float) -> list[dict]:
    """An agency on librdkafka: a consumer group (subscribe, earliest, manual commit) reads its
    notices until it has one for each of ``keys``, acknowledges each with a librdkafka producer,
    then commits. Returns the notices read."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "agency-dhs-ice-librdkafka",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    acks = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    found: dict[str, dict] = {}
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    consumer.subscribe([NOTICES])
    try:
        while set(found) != keys and datetime.now(UTC) < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            key = message.key().decode()
            if key not in keys or key in found:
                continue
            notice = json.loads(message.value())
            found[key] = notice
            jurisdiction, booking_id = key.split("/", 1)
            ack = f.envelope(
                "notice.acknowledged",
                {
                    "notice_id": notice["data"]["notice_id"],
                    "agency": "dhs-ice",
                    "acknowledged_at": now().isoformat(),
                    "by": "ERO duty officer",
                },
                booking_id=booking_id,
                jurisdiction=jurisdiction,
            )
            acks.produce(NOTICE_ACKS.name, json.dumps(ack).encode(), key=key)
            assert acks.flush(30) == 0
            consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()
    assert set(found) == keys, f"notices for {sorted(set(found))} of {sorted(keys)}"
    return list(found.values())


def java_publish(bootstrap: str, lines: list[tuple[str, int | None, str, dict[str, Any]]]) -> str:
    """Publish with the Java client (``Publish.java`` run from source on the broker classpath)."""
    text = "".join(
        f"{topic}\t{'-' if partition is None else partition}\t{key}\t{json.dumps(doc)}\n"
        for topic, partition, key, doc in lines
    )
    done = subprocess.run(
        ["java", "-cp", toolchain.classpath(), str(JAVA_PUBLISHER), bootstrap],
        input=text.encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return done.stdout.decode()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedKafka]:
    with own_kafka(tmp_path_factory.mktemp("any-client"), "any-client") as broker:
        ensure_topics_sync(broker.bootstrap, PARTITIONS)
        yield broker


@pytest.fixture(scope="module")
def services(
    cluster: EmbeddedKafka, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Worker]]:
    folder = tmp_path_factory.mktemp("any-client-services")
    policy = folder / "policy.yaml"
    policy.write_text(POLICY)
    workers = start_services(
        cluster,
        folder,
        SERVICES,
        "any-client",
        RELEASEWATCH_PARTITIONS=str(PARTITIONS),
        RELEASEWATCH_POLICY_FILE=str(policy),
    )
    try:
        asyncio.run(all_ready(workers, 120))
        yield workers
    finally:
        stop_all(workers)


@pytest.fixture
async def kafka(cluster: EmbeddedKafka) -> Any:
    async with KafkaHelper(cluster.bootstrap) as helper:
        yield helper


def steps(audit: Watch, key: str) -> list[str]:
    return [r.value["data"]["step"] for r in audit.matching(lambda r: r.key == key)]


async def test_a_librdkafka_jail_and_agency_get_their_notice_and_the_ack_stops_resends(
    services: list[Worker], cluster: EmbeddedKafka, kafka: KafkaHelper
) -> None:
    """The scenario of issue 42: everything on confluent-kafka with its defaults."""
    notices = await kafka.watch(NOTICES)
    audit = await kafka.watch(AUDIT.name)
    booking_id = misplaced_by_crc32("crc")
    key = key_of(booking_id)
    landed = await asyncio.to_thread(
        librdkafka_publish, cluster.bootstrap, flagging(booking_id), "default"
    )
    assert set(landed) == {crc32_partition(key)} != {partition_for(key, PARTITIONS)}

    [notice] = await asyncio.to_thread(agency_reads_and_acknowledges, cluster.bootstrap, {key}, 90)
    assert notice["data"]["kind"] == "notice_due"
    assert notice["data"]["subject"]["booking_id"] == booking_id
    [acked] = await audit.wait_for_unique(
        lambda r: r.key == key and r.value["data"]["step"] == "acknowledged", 1, 60
    )
    assert acked.value["data"]["detail"]["within_timeout"] is True

    # A booking flagged after it, never acknowledged: resent, then escalated. By then the
    # acknowledged notice would have been resent too, had the ack not stopped it.
    control = misplaced_by_crc32("crc-control")
    control_key = key_of(control)
    await asyncio.to_thread(librdkafka_publish, cluster.bootstrap, flagging(control), "default")
    await audit.wait_for(
        lambda r: r.key == control_key and r.value["data"]["step"] == "escalated", 1, 120
    )
    assert "resent" in steps(audit, control_key)
    assert "issued" in steps(audit, key)
    assert "resent" not in steps(audit, key) and "escalated" not in steps(audit, key)
    assert {r.value["data"]["attempt"] for r in notices.matching(lambda r: r.key == key)} == {1}


async def test_a_publisher_that_pins_a_booking_to_another_partition_gets_its_notice(
    services: list[Worker], cluster: EmbeddedKafka, kafka: KafkaHelper
) -> None:
    notices = await kafka.watch(NOTICES)
    booking_id = fresh("pinned")
    key = key_of(booking_id)
    elsewhere = (partition_for(key, PARTITIONS) + 5) % PARTITIONS
    landed = await asyncio.to_thread(
        librdkafka_publish, cluster.bootstrap, flagging(booking_id), str(elsewhere)
    )
    assert set(landed) == {elsewhere}
    [notice] = await notices.wait_for(lambda r: r.key == key, 1, 90, "the notice (pinned)")
    assert notice.value["data"]["subject"]["booking_id"] == booking_id


async def test_a_publisher_without_keys_gets_its_notice(
    services: list[Worker], cluster: EmbeddedKafka, kafka: KafkaHelper
) -> None:
    """No key: librdkafka spreads the messages over partitions, and Kafka keeps no order
    between partitions, so this connector waits for its booking to be opened before it
    schedules the release (as the README says). Each message is placed by its envelope."""
    notices = await kafka.watch(NOTICES)
    states = await kafka.watch("booking.state.v1")
    booking_id = fresh("nokey")
    key = key_of(booking_id)
    opened, request, schedule = flagging(booking_id)
    await asyncio.to_thread(librdkafka_publish, cluster.bootstrap, [opened, request], "null-key")
    await states.wait_for(lambda r: r.key == key, 1, 60, "the booking opened")
    await asyncio.to_thread(librdkafka_publish, cluster.bootstrap, [schedule], "null-key")
    [notice] = await notices.wait_for(lambda r: r.key == key, 1, 90, "the notice (no key)")
    assert notice.value["data"]["subject"]["booking_id"] == booking_id


async def test_a_java_connector_pinning_partitions_gets_its_notice(
    services: list[Worker], cluster: EmbeddedKafka, kafka: KafkaHelper
) -> None:
    notices = await kafka.watch(NOTICES)
    booking_id = fresh("java")
    key = key_of(booking_id)
    home = partition_for(key, PARTITIONS)
    elsewhere = (home + 3) % PARTITIONS
    # The booking on the Java client's own partitioner (murmur2, as ours), the request and
    # the schedule pinned elsewhere.
    # The schedule waits for the opening: one on its home partition, the other moved from
    # another, are two partitions, between which Kafka keeps no order.
    opened, request, schedule = flagging(booking_id)
    states = await kafka.watch("booking.state.v1")
    printed = await asyncio.to_thread(
        java_publish,
        cluster.bootstrap,
        [(opened[0], None, key, opened[1]), (request[0], elsewhere, key, request[1])],
    )
    await states.wait_for(lambda r: r.key == key, 1, 60, "the booking opened")
    printed += await asyncio.to_thread(
        java_publish, cluster.bootstrap, [(schedule[0], elsewhere, key, schedule[1])]
    )
    partitions = [int(line.split("\t")[1]) for line in printed.splitlines() if "\t" in line]
    assert partitions == [home, elsewhere, elsewhere], printed
    [notice] = await notices.wait_for(lambda r: r.key == key, 1, 90, "the notice (Java)")
    assert notice.value["data"]["subject"]["booking_id"] == booking_id


async def test_misplaced_inputs_are_counted_and_in_place_ones_are_not(
    services: list[Worker], cluster: EmbeddedKafka, kafka: KafkaHelper
) -> None:
    """/metrics counts each move; an aiokafka publisher (murmur2, as ours) moves nothing."""
    booking = next(worker for worker in services if worker.name == "booking")

    def placed() -> float:
        return total(booking.metrics(), "releasewatch_inputs_placed_total", topic=JAIL_BOOKING.name)

    before = placed()
    notices = await kafka.watch(NOTICES)
    in_place = fresh("aio")
    for topic, document in flagging(in_place):
        await kafka.publish(topic, document)
    await notices.wait_for(lambda r: r.key == key_of(in_place), 1, 90, "notice")
    assert placed() == before
    moved = misplaced_by_crc32(f"count-{in_place}")
    await asyncio.to_thread(librdkafka_publish, cluster.bootstrap, flagging(moved), "default")
    await notices.wait_for(lambda r: r.key == key_of(moved), 1, 90, "notice")
    assert placed() == before + 2  # booking.opened and release.scheduled


async def test_a_moved_message_refused_later_is_dead_lettered_naming_where_it_was_published(
    services: list[Worker], cluster: EmbeddedKafka, kafka: KafkaHelper
) -> None:
    """A release for a booking never opened, published off its partition: refused after the
    move (the rule needs the booking's record), its dead letter names the publisher's copy."""
    letters = await kafka.watch(DEADLETTER.name)
    booking_id = misplaced_by_crc32(fresh("never"))
    key = key_of(booking_id)
    release = f.scheduled((now() + timedelta(hours=20)).isoformat(), booking_id=booking_id)
    [(partition, offset)] = await asyncio.to_thread(
        librdkafka_send, cluster.bootstrap, [(JAIL_BOOKING.name, release)], "default"
    )
    [letter] = await letters.wait_for(lambda r: r.key == key, 1, 60, "the dead letter")
    assert letter.value["reason"] == "inconsistent"
    assert letter.value["source_topic"] == JAIL_BOOKING.name
    assert (letter.value["source_partition"], letter.value["source_offset"]) == (partition, offset)
    assert partition != partition_for(key, PARTITIONS)


@pytest.fixture
def three_partition_cluster(tmp_path: Path) -> Iterator[EmbeddedKafka]:
    with own_kafka(tmp_path, "three-partitions") as broker:
        yield broker


async def _create(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def test_partition_counts_that_disagree(
    three_partition_cluster: EmbeddedKafka, tmp_path: Path
) -> None:
    """An admin pre-created jail.booking.v1 with 3 partitions and booking.state.v1 with 3:
    the service reading booking.state.v1 refuses to start naming it and both counts; with
    booking.state.v1 as the rest, a 3-partition jail.booking.v1 still delivers its notice."""
    bootstrap = three_partition_cluster.bootstrap
    await _create(bootstrap, JAIL_BOOKING.name, 3)
    await _create(bootstrap, "booking.state.v1", 3)
    [refused] = start_services(
        three_partition_cluster,
        tmp_path,
        ["scheduling"],
        "three-partitions-refused",
        RELEASEWATCH_PARTITIONS=str(PARTITIONS),
    )
    try:
        await until(lambda: not refused.alive(), 60, "scheduling refusing to start")
        assert refused.process is not None and refused.process.returncode != 0
        last = refused.log_text().strip().splitlines()[-1]
        assert "booking.state.v1 has 3 partitions, this installation 8" in last, last
    finally:
        stop_all([refused])

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(["booking.state.v1"])
    finally:
        await admin.close()

    async def state_topic_gone() -> bool:
        check = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await check.start()
        try:
            return "booking.state.v1" not in await check.list_topics()
        finally:
            await check.close()

    await until(state_topic_gone, 60, "booking.state.v1 deleted")
    workers = start_services(
        three_partition_cluster,
        tmp_path,
        SERVICES,
        "three-partitions",
        RELEASEWATCH_PARTITIONS=str(PARTITIONS),
    )
    try:
        await all_ready(workers, 120)
        booking = next(worker for worker in workers if worker.name == "booking")
        assert "input_partitions_differ" in booking.log_text()
        booking_id = fresh("three")
        key = key_of(booking_id)
        async with KafkaHelper(bootstrap) as kafka:
            notices = await kafka.watch(NOTICES)
            await asyncio.to_thread(librdkafka_publish, bootstrap, flagging(booking_id), "default")
            [notice] = await notices.wait_for(lambda r: r.key == key, 1, 90, "the notice")
        assert notice.value["data"]["subject"]["booking_id"] == booking_id
    finally:
        stop_all(workers)


async def test_under_exactly_once_the_move_commits_with_the_input(tmp_path: Path) -> None:
    """exactly_once: a librdkafka jail's misplaced messages are moved in the transaction of
    the input's offset; a read_committed agency gets its notice, and the placement topic holds
    each move once, committed."""
    with own_kafka(tmp_path, "any-client-eos") as broker:
        await ensure_topics(broker.bootstrap, PARTITIONS)
        workers = start_services(
            broker,
            tmp_path,
            SERVICES,
            "any-client-eos",
            RELEASEWATCH_PARTITIONS=str(PARTITIONS),
            RELEASEWATCH_PROCESSING_GUARANTEE="exactly_once",
        )
        try:
            await all_ready(workers, 120)
            async with KafkaHelper(broker.bootstrap) as kafka:
                notices = await kafka.watch(NOTICES)
                booking_id = misplaced_by_crc32(fresh("eos"))
                key = key_of(booking_id)
                await asyncio.to_thread(
                    librdkafka_publish, broker.bootstrap, flagging(booking_id), "default"
                )
                [notice] = await notices.wait_for(lambda r: r.key == key, 1, 120, "the notice")
                assert notice.value["data"]["subject"]["booking_id"] == booking_id
            moved = await committed_records(broker.bootstrap, PLACED_JAIL, key)
            assert [json.loads(value)["type"] for value in moved] == [
                "booking.opened",
                "release.scheduled",
            ]
        finally:
            stop_all(workers)


def placed_value(record: Any) -> bytes:
    """A placed copy's value as its jail sent it: opened with the services' KEKs (#46)."""
    raw = RawMessage(
        record.topic,
        record.partition,
        record.offset,
        record.key,
        record.value,
        tuple(record.headers or ()),
    )
    value = opened(as_published(raw, JAIL_BOOKING.name), kek_file.load(shared_keks())).value
    assert value is not None
    return value


async def committed_records(bootstrap: str, topic: str, key: str) -> list[bytes]:
    """The committed records of ``key`` on ``topic``, read to its last stable offset."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        isolation_level="read_committed",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[bytes] = []
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)

        async def read_to_the_end() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(placed_value(r) for r in records if r.key == key.encode() and r.value)
            return all([await consumer.position(tp) >= end for tp, end in ends.items()])

        await until(read_to_the_end, 30, f"{topic} read to its end")
    finally:
        await consumer.stop()
    return found
