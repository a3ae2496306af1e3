"""Placement: a public input's message is decided on its booking's partition whatever partition
its publisher chose (librdkafka's CRC32, an explicit partition, no key)."""

import asyncio
import os
import zlib
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from schemas.deadletter import RawPayload, RejectReason
from schemas.owned_topics import SERVICE_PUBLIC_INPUTS, faust_topics, placement_topic
from schemas.sealed import SealedMessage
from schemas.topics import AGENCY_REQUESTS, JAIL_BOOKING, NOTICE_ACKS
from services.access import SERVICE_TOPICS, service_principal
from services.cli.deadletters import shown
from services.cli.failures import UsageError
from services.core.field_crypto import KeyUnavailable, LocalKeks, Tampered, seal_message
from services.kafka.admin.topics import partition_for
from services.ops.metrics import Metrics
from services.streams.codec import RawMessage, dead_letter
from services.streams.handling import _headers
from services.streams.output import SOURCE, UNACKNOWLEDGED, Output
from services.streams.placement import (
    SEALED_HEADER,
    SOURCE_HEADER,
    Placement,
    as_published,
    opened,
    source_header,
    unopened,
    where,
)

PARTITIONS = 8
KEYS = [f"us-mn-hennepin/2027-{n:06d}" for n in range(400)]


NOW = datetime(2026, 12, 6, tzinfo=UTC)


def crc32_partition(key: str, partitions: int) -> int:
    """librdkafka's consistent_random for a keyed message: CRC32 of the key."""
    return zlib.crc32(key.encode()) % partitions


def raw(partition: int, offset: int = 5, key: bytes | None = b"k") -> RawMessage:
    return RawMessage(JAIL_BOOKING.name, partition, offset, key, b'{"event_id": "e"}')


@pytest.mark.parametrize("key", KEYS[:50])
def test_a_message_on_its_bookings_partition_is_handled_in_place(key: str) -> None:
    home = partition_for(key, PARTITIONS)
    assert where(raw(home), key, PARTITIONS, copartitioned=True).in_place


@pytest.mark.parametrize("key", KEYS[:50])
def test_every_other_partition_is_misplaced(key: str) -> None:
    home = partition_for(key, PARTITIONS)
    for partition in set(range(PARTITIONS)) - {home}:
        place = where(raw(partition), key, PARTITIONS, copartitioned=True)
        assert not place.in_place
        assert place.home == home


def test_a_topic_assigned_apart_from_the_tables_is_never_in_place() -> None:
    """A public input with another partition count (faust assigns it as its own group): even
    partition number ``home`` may sit on another worker than the booking's table."""
    key = KEYS[0]
    home = partition_for(key, PARTITIONS)
    assert not where(raw(home), key, PARTITIONS, copartitioned=False).in_place


def test_librdkafkas_default_partitioner_misplaces_most_bookings() -> None:
    """The silent loss of issue 42: CRC32 and murmur2 agree on about one key in eight."""
    misplaced = [
        key
        for key in KEYS
        if not where(raw(crc32_partition(key, PARTITIONS)), key, PARTITIONS, True).in_place
    ]
    assert 0.75 * len(KEYS) < len(misplaced) < len(KEYS)


def test_the_key_is_the_envelopes_not_the_messages() -> None:
    """A null or wrong key does not matter: the home is the envelope's booking's."""
    key = KEYS[3]
    home = partition_for(key, PARTITIONS)
    for message_key in (None, b"", b"wrong/key", key.encode()):
        assert where(raw(home, key=message_key), key, PARTITIONS, True).in_place


def test_the_placed_copy_names_its_publishers_position() -> None:
    published = raw(3, offset=41)
    placed = RawMessage(
        placement_topic("booking", JAIL_BOOKING).name,
        6,
        7,
        b"k",
        published.value,
        (("traceparent", b"00-x"), source_header(published)),
    )
    back = as_published(placed, JAIL_BOOKING.name)
    assert (back.topic, back.partition, back.offset) == (JAIL_BOOKING.name, 3, 41)
    assert back.position == published.position
    assert back.value == published.value


def test_a_placed_copy_without_its_header_keeps_its_own_position() -> None:
    placed = RawMessage("releasewatch-booking-jail.booking.v1-placed", 6, 7, b"k", b"{}")
    back = as_published(placed, JAIL_BOOKING.name)
    assert (back.topic, back.partition, back.offset) == (JAIL_BOOKING.name, 6, 7)


class Producer:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(
        self, topic: str, key: bytes, value: bytes, partition: int, *args: Any, **kw: Any
    ):
        self.sent.append(
            {"topic": topic, "key": key, "value": value, "partition": partition, "headers": args[1]}
        )
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def placement(producer: Producer, in_transaction: bool = False, source_group: int = 0) -> Placement:
    """``source_group``: faust's topic group of the public input; the placement topic's is 0
    (another group: the input has another partition count, assigned apart)."""
    target_spec = placement_topic("booking", JAIL_BOOKING)
    groups = {JAIL_BOOKING.name: source_group, target_spec.name: 0}
    app = SimpleNamespace(
        topic=lambda *_, **__: None,
        producer=producer,
        conf=SimpleNamespace(topic_partitions=PARTITIONS, id="releasewatch-booking"),
        in_transaction=in_transaction,
        assignor=SimpleNamespace(group_for_topic=groups.__getitem__),
    )
    target = Output(app, target_spec, Metrics("booking"))  # type: ignore[arg-type]
    return Placement("booking", JAIL_BOOKING, target, PARTITIONS, app.assignor)


async def test_a_misplaced_message_is_sent_unchanged_to_its_home_with_its_position() -> None:
    producer = Producer()
    place = placement(producer)
    key = KEYS[7]
    home = partition_for(key, PARTITIONS)
    message = raw((home + 3) % PARTITIONS, offset=99, key=None)
    assert await place.move_if_misplaced(message, key)
    [sent] = producer.sent
    assert sent["topic"] == "releasewatch-booking-jail.booking.v1-placed"
    assert sent["partition"] == home
    assert sent["key"] == key.encode()  # the envelope's key, whatever the publisher's was
    assert sent["value"] == message.value
    assert (SOURCE_HEADER, message.position.encode()) in sent["headers"]
    counted = place.target.metrics.inputs_placed.labels("booking", JAIL_BOOKING.name)
    assert counted._value.get() == 1


async def test_a_message_in_place_is_not_sent_anywhere() -> None:
    producer = Producer()
    key = KEYS[8]
    message = raw(partition_for(key, PARTITIONS))
    assert not await placement(producer).move_if_misplaced(message, key)
    assert producer.sent == []


async def test_a_message_on_its_partition_number_of_an_input_assigned_apart_is_moved() -> None:
    """jail.booking.v1 with 3 partitions beside 8: partition ``home`` of it may be on
    another worker than the booking's table."""
    producer = Producer()
    key = KEYS[8]
    message = raw(partition_for(key, PARTITIONS))
    place = placement(producer, source_group=1)
    assert not place.copartitioned(JAIL_BOOKING.name)
    assert await place.move_if_misplaced(message, key)
    assert [sent["partition"] for sent in producer.sent] == [partition_for(key, PARTITIONS)]


async def test_the_move_is_an_output_of_the_input() -> None:
    """Under at_least_once the input's offset waits for the move's acknowledgement; under
    exactly_once the move joins the input's transaction."""
    producer = Producer()
    place = placement(producer, in_transaction=True)
    key = KEYS[9]
    message = raw((partition_for(key, PARTITIONS) + 1) % PARTITIONS)
    waiting: list[Any] = []
    source = SOURCE.set((JAIL_BOOKING.name, message.partition))
    pending = UNACKNOWLEDGED.set(waiting)
    try:
        await place.move_if_misplaced(message, key)
    finally:
        SOURCE.reset(source)
        UNACKNOWLEDGED.reset(pending)
    [delivery] = waiting
    assert delivery.topic == place.target.name
    assert delivery.transactional_id == f"releasewatch-booking-0-{message.partition}"


def test_every_public_input_has_its_placement_topic_created_with_the_service() -> None:
    owned = {topic.name: topic for topic in faust_topics()}
    for service, inputs in SERVICE_PUBLIC_INPUTS.items():
        reads = {spec.name for spec in SERVICE_TOPICS[service].reads if spec.is_input}
        assert reads == {spec.name for spec in inputs}
        for source in inputs:
            placed = owned[placement_topic(service, source).name]
            assert placed.retention_ms == source.retention_ms


@pytest.mark.parametrize("service", ["booking", "scheduling", "notification"])
def test_services_no_longer_write_to_the_publishers_topics(service: str) -> None:
    """Placement moves to the service's own topic. The one exception: the notification
    service publishes the acknowledgements agencies give over HTTP (#44), on their key."""
    principal = service_principal(service)
    sources = (JAIL_BOOKING, AGENCY_REQUESTS, NOTICE_ACKS)
    for source in sources[:2] if service == "notification" else sources:
        for grant in principal.grants:
            if grant.name == source.name:
                assert "Write" not in {str(op) for op in grant.operations}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, ()),
        ([], ()),
        ([("a", b"1"), ("b", None)], (("a", b"1"), ("b", b""))),
        ({"a": b"1"}, (("a", b"1"),)),
    ],
)
def test_headers_as_faust_hands_them(given: Any, expected: tuple[Any, ...]) -> None:
    assert _headers(given) == expected


def keks() -> LocalKeks:
    return LocalKeks({"kek-1": os.urandom(32)}, "kek-1")


PERSONAL = b'{"event_id":"e","data":{"person":{"first_name":"Ana","last_name":"Doe"}}}'


async def test_with_keks_the_placed_copy_is_sealed_and_opens_to_what_was_published() -> None:
    """#46: the placement topic is internal, and a jail's message names the person."""
    producer = Producer()
    ring = keks()
    place = placement(producer)
    place.keks = ring
    key = KEYS[10]
    published = RawMessage(
        JAIL_BOOKING.name, (partition_for(key, PARTITIONS) + 1) % PARTITIONS, 77, None, PERSONAL
    )
    assert await place.move_if_misplaced(published, key)
    [sent] = producer.sent
    for clear in (b"Ana", b"Doe", b"event_id"):
        assert clear not in sent["value"]
    assert (SEALED_HEADER, b"A256GCM") in sent["headers"]
    placed = RawMessage(sent["topic"], sent["partition"], 3, sent["key"], sent["value"])
    placed = replace(placed, headers=tuple(sent["headers"]))
    back = opened(as_published(placed, JAIL_BOOKING.name), ring)
    assert back.value == PERSONAL and back.position == published.position


def test_a_placed_copy_sent_in_clear_is_read_as_it_is() -> None:
    """Copies placed before the KEKs were set, or by a service without them."""
    placed = RawMessage(JAIL_BOOKING.name, 1, 2, b"k", PERSONAL, (("x", b"y"),))
    assert opened(placed, keks()) is placed
    assert opened(placed, None) is placed


def sealed_copy(ring: LocalKeks, position: str = "jail.booking.v1:4:9") -> RawMessage:
    topic, partition, offset = position.rsplit(":", 2)
    value = seal_message(PERSONAL, position, ring).model_dump_json().encode()
    return RawMessage(topic, int(partition), int(offset), b"k", value, ((SEALED_HEADER, b"A"),))


def other_keks(kek_id: str) -> LocalKeks:
    return LocalKeks({kek_id: os.urandom(32)}, kek_id)


@pytest.mark.parametrize(
    ("copy", "ring", "raised"),
    [
        (lambda ring: sealed_copy(ring), lambda ring: None, KeyUnavailable),  # no KEK file
        (lambda ring: sealed_copy(ring), lambda ring: other_keks("kek-2"), KeyUnavailable),
        (lambda ring: sealed_copy(ring), lambda ring: other_keks("kek-1"), Tampered),  # not it
        (lambda ring: replace(sealed_copy(ring), offset=10), lambda ring: ring, Tampered),  # moved
        (lambda ring: replace(sealed_copy(ring), value=b"{}"), lambda ring: ring, Tampered),
        (lambda ring: replace(sealed_copy(ring), value=b"\xff"), lambda ring: ring, Tampered),
    ],
)
def test_a_sealed_copy_that_does_not_open_says_why(copy: Any, ring: Any, raised: type) -> None:
    made = other_keks("kek-1")
    with pytest.raises(raised):
        opened(copy(made), ring(made))
    why = unopened(raised("x"))
    assert why.reason == RejectReason.INTERNAL_ERROR and "does not open" in why.message


@pytest.mark.parametrize("service_keks", ["none", "other"])
def test_a_copy_that_does_not_open_is_dead_lettered_as_it_was_sealed(service_keks: str) -> None:
    """Not sealed a second time: `releasewatch deadletters open` opens it with the KEK that
    sealed it, once that KEK is back in the file."""
    made = other_keks("kek-1")
    copy = sealed_copy(made)
    ring = None if service_keks == "none" else other_keks("kek-2")
    with pytest.raises(KeyUnavailable) as refused:
        opened(copy, ring)
    letter = dead_letter(copy, [unopened(refused.value)], service="booking", now=NOW, keks=ring)
    assert isinstance(letter.value, SealedMessage)
    assert letter.value == SealedMessage.model_validate_json(copy.value or b"")
    assert letter.deadletter_id == copy.position
    assert shown(letter, made) == PERSONAL
    with pytest.raises(UsageError, match="does not open"):
        shown(letter, other_keks("kek-2"))


def test_a_copy_with_the_header_but_not_a_sealed_message_is_sealed_as_any_value() -> None:
    ring = keks()
    copy = replace(sealed_copy(ring), value=PERSONAL)
    letter = dead_letter(copy, [unopened(Tampered("x"))], service="booking", now=NOW, keks=ring)
    assert isinstance(letter.value, SealedMessage)
    assert shown(letter, ring) == PERSONAL
    clear = dead_letter(copy, [unopened(Tampered("x"))], service="booking", now=NOW)
    assert isinstance(clear.value, RawPayload) and shown(clear, None) == PERSONAL
