"""Placement: each message of a public input is handled on its booking's partition, whatever
partition its publisher put it on.

Publishers use any client: librdkafka's default partitioner hashes keys with CRC32, Java's and
aiokafka's with murmur2; others pin partitions or send no key. A booking's state lives on one
partition (murmur2 of ``<jurisdiction>/<booking_id>``, the key the envelope names), so a
message elsewhere would be decided without it. As Kafka Streams does with a repartition topic,
the service owns the placement: a message on its booking's partition of a co-partitioned input
is handled where it is; any other is sent, unchanged, to the service's placement topic on its
booking's partition (``schemas.owned_topics.placement_topic``), read by the same agent. The move
goes out as the input's output: under exactly_once in the input's transaction with its
offset, under at_least_once committed only once the broker has it (a repeat after a crash
carries the same source position, and the domains drop it as a duplicate).

One booking's messages keep their order: a publisher that puts them on one partition has them
all handled in place or all moved, in the order read.

With key-encryption keys (``RELEASEWATCH_KEK_FILE``) the placed copy is sealed whole (#46,
SPEC 9 "CJIS": the placement topic is internal, and what a jail sends names the person): a
one-off data key wrapped inline, bound to the publisher's position, and opened when it comes
back. A copy that does not open (its KEK gone from the file) is dead-lettered, still sealed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from schemas.deadletter import FieldError, RejectReason
from schemas.sealed import SealedMessage
from schemas.topics import TopicSpec
from services.core.field_crypto import (
    KeyEncryptionKeys,
    KeyUnavailable,
    Tampered,
    open_message,
    seal_message,
)
from services.kafka.admin.topics import partition_for
from services.ops import events
from services.ops.logging import get_logger
from services.streams.codec import SEALED_HEADER, RawMessage, error
from services.streams.output import Output

log = get_logger(__name__)

# The header a placed message carries: where its publisher's copy is (topic:partition:offset).
SOURCE_HEADER = "releasewatch-placed-from"


@dataclass(frozen=True)
class Where:
    """Where a message sits and where it belongs."""

    partition: int
    home: int
    copartitioned: bool  # its topic is assigned with the service's tables

    @property
    def in_place(self) -> bool:
        return self.copartitioned and self.partition == self.home


# murmur2 in pure Python costs ~5 us a key (bench.placement: 1.2 % of the booking worker's
# CPU per event); a booking's events come close together, so its home is kept a while.
_home = functools.lru_cache(maxsize=16_384)(partition_for)


def where(raw: RawMessage, key: str, partitions: int, copartitioned: bool) -> Where:
    """``key``: the booking's, from the envelope (the message key is not trusted)."""
    return Where(raw.partition, _home(key, partitions), copartitioned)


def source_header(raw: RawMessage) -> tuple[str, bytes]:
    return (SOURCE_HEADER, raw.position.encode())


def as_published(placed: RawMessage, source_topic: str) -> RawMessage:
    """The placed message as its publisher's copy: its topic, partition and offset, so the
    domains (duplicates, causes) and dead letters name where it was published. Without the
    header (written by hand), the placed copy's own position."""
    value = dict(placed.headers).get(SOURCE_HEADER)
    if value is None:
        return replace(placed, topic=source_topic)
    topic, partition, offset = value.decode().rsplit(":", 2)
    return replace(placed, topic=topic, partition=int(partition), offset=int(offset))


def opened(placed: RawMessage, keks: KeyEncryptionKeys | None) -> RawMessage:
    """A placed copy (as published, ``as_published``) with its value as its publisher sent it:
    opened when it came sealed. ``KeyUnavailable`` or ``Tampered`` when it does not open."""
    headers = dict(placed.headers)
    if SEALED_HEADER not in headers or placed.value is None:
        return placed
    if keks is None:
        raise KeyUnavailable("the placed copy is sealed and this service has no KEK file")
    try:
        sealed = SealedMessage.model_validate_json(placed.value)
    except ValidationError:
        raise Tampered("the placed copy is not a sealed message") from None
    return replace(placed, value=open_message(sealed, placed.position, keks))


def unopened(exc: Exception) -> FieldError:
    """Why a placed copy was dead-lettered unopened: ours to mend (a KEK back in the file)."""
    return error("", RejectReason.INTERNAL_ERROR, f"the sealed placed copy does not open: {exc}")


class Placement:
    """One public input of a service and its placement topic."""

    def __init__(
        self,
        service: str,
        source: TopicSpec,
        target: Output,
        partitions: int,
        assignor: Any,
        keks: KeyEncryptionKeys | None = None,
    ) -> None:
        """``keks``: the placed copies are sealed under them (None: sent as they came)."""
        self.target = target
        self.partitions = partitions
        self.assignor = assignor  # faust's: which topics are assigned together
        self.keks = keks
        self.moved = target.metrics.inputs_placed.labels(service, source.name)

    def copartitioned(self, topic: str) -> bool:
        """``topic`` is assigned with the placement topic (and so with the tables): faust groups
        an agent's topics by partition count, and one of another count is assigned apart."""
        try:
            group = self.assignor.group_for_topic
            return bool(group(topic) == group(self.target.name))
        except KeyError:  # not assigned to this worker now: placed, never decided here
            return False

    async def move_if_misplaced(self, raw: RawMessage, key: str) -> bool:
        """Send ``raw`` to its booking's partition of the placement topic unless it is there
        already; True when moved (the caller handles it when it comes back)."""
        place = where(raw, key, self.partitions, self.copartitioned(raw.topic))
        if place.in_place:
            return False
        value = raw.value
        headers: tuple[tuple[str, bytes], ...] = (source_header(raw),)
        if self.keks is not None and value is not None:
            value = seal_message(value, raw.position, self.keks).model_dump_json().encode()
            headers += ((SEALED_HEADER, b"A256GCM"),)
        await self.target.send(key.encode(), value, partition=place.home, headers=headers)
        self.moved.inc()
        log.debug(
            events.INPUT_PLACED,
            source_topic=raw.topic,
            source_partition=raw.partition,
            source_offset=raw.offset,
            to_partition=place.home,
        )
        return True
