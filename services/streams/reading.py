"""What reading a service's inputs keeps between messages, in one typed object shared by the
steps (``admission``, ``handling``, ``settlement``, ``watchdog``): the gap guard, the output
retries, the consumer generation they belong to, and the counters."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from services.ops import events
from services.ops.logging import get_logger
from services.streams.gaps import GapGuard
from services.streams.retry import OutputRetry

log = get_logger(__name__)


class TopicCounter:
    """A service's counter by input topic, each topic's child looked up once (prometheus'
    ``labels()`` costs about 6 us a call, once per message)."""

    def __init__(self, counter: Any, service: str) -> None:
        self.counter = counter
        self.service = service
        self.children: dict[str, Any] = {}

    def inc(self, topic: str) -> None:
        child = self.children.get(topic)
        if child is None:
            child = self.children[topic] = self.counter.labels(self.service, topic)
        child.inc()


class HandledSummary:
    """Messages handled per input topic since the last report (one info line a second while
    messages come, none when idle)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.since = time.monotonic()

    def add(self, topic: str) -> None:
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def report(self) -> None:
        now = time.monotonic()
        if self.counts:
            log.info(
                events.MESSAGES_HANDLED,
                messages=sum(self.counts.values()),
                topics=self.counts,
                seconds=round(now - self.since, 2),
            )
            self.counts = {}
        self.since = now


@dataclass
class ReadState:
    """One worker's reading state. ``guarded``: the gap guard decides (off only in the fault
    suite's experiments); ``fill_committed``: a partition's committed offset is taken from the
    broker before its first message (``commit_check``)."""

    taken: TopicCounter
    guarded: bool = True
    fill_committed: bool = True
    guard: GapGuard = field(default_factory=GapGuard)
    retry: OutputRetry = field(default_factory=OutputRetry)
    handled: HandledSummary = field(default_factory=HandledSummary)
    generation: int | None = None
    queue: Any = None  # the agent's input buffer, once it runs

    def follow(self, generation: int | None) -> None:
        """A new consumer generation (a rebalance): the partitions may have moved, and
        what the guard and the retries knew is about the old assignment."""
        if generation != self.generation:
            self.generation = generation
            self.guard.reset()
            self.retry.reset()

    def backlog(self) -> int:
        return int(self.queue.qsize()) if self.queue is not None else 0
