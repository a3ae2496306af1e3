"""Changelog highwaters from the broker under exactly_once (``highwaters_from_broker``).

Defect: with transactions faust asks its consumer for the last stable offset of each
changelog partition it recovers, which aiokafka knows only for partitions it has fetched
from: None, taken as -1. A worker restarted with ``exactly_once`` then recovers nothing (its
table looks empty), and one that keeps a partition through a rebalance crashes its recovery
("persisted offset ... is higher than the last offset in that topic (46 > -1)", fault suite,
exactly_once). No upstream issue found. Reproducer: ``tests/integration/test_exactly_once.py``
(a restarted worker keeps its state). ``end_offsets`` asks the broker: for a
``read_committed`` consumer that is the last stable offset.
Applies to: faust-streaming 0.15.x with aiokafka 0.14, any broker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka

NAME = "highwaters_from_broker"


async def _highwaters_from_broker(self: Any, partitions: list[Any]) -> Mapping[Any, int]:
    """The end offsets as the broker has them (the last stable ones for a read_committed
    consumer, which is what faust's transactions make it), never the fetcher's cache."""
    consumer = self._ensure_consumer()
    return dict(await consumer.end_offsets(partitions))


def apply() -> None:
    faust_aiokafka.AIOKafkaConsumerThread._highwaters = _highwaters_from_broker  # type: ignore[method-assign]
