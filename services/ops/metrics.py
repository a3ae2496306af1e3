"""Prometheus metrics for one service process (SPEC 7), with prometheus-client.

Counters are incremented where things happen; gauges that describe the consumer (lag) or
the deadlines (armed, lag) are read when ``/metrics`` is scraped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4"  # aiohttp sets the charset itself


class Metrics:
    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self.messages_in = Counter(
            "releasewatch_messages_in",
            "Input messages taken, per topic",
            ["service", "topic"],
            registry=self.registry,
        )
        self.messages_out = Counter(
            "releasewatch_messages_out",
            "Messages published, per topic",
            ["service", "topic"],
            registry=self.registry,
        )
        self.inputs_placed = Counter(
            "releasewatch_inputs_placed",
            "Public input messages that arrived off their booking's partition (another "
            "client's partitioner, an explicit partition, no key) and were moved to it",
            ["service", "topic"],
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "releasewatch_dead_lettered",
            "Input messages refused, per reason",
            ["service", "reason"],
            registry=self.registry,
        )
        self.alerts = Counter(
            "releasewatch_alerts",
            "Deadline alerts emitted, per kind",
            ["kind", "late"],
            registry=self.registry,
        )
        self.notices = Counter(
            "releasewatch_notices",
            "Notices per outcome (issued, suppressed, resent)",
            ["outcome", "late"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "releasewatch_delivery_attempts",
            "Attempts to deliver a notice beyond Kafka, per channel and result "
            "(delivered, retrying, gone, gave_up)",
            ["channel", "result"],
            registry=self.registry,
        )
        self.intake_answers = Counter(
            "releasewatch_intake_answers",
            "The intake's answers to jails and agencies' offices, per route and HTTP status",
            ["route", "status"],
            registry=self.registry,
        )
        self.ledger_sealed = Counter(
            "releasewatch_ledger_sealed_records",
            "Records bound into a signed seal, per sealed log (the ledger, the access log) and "
            "partition",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.ledger_unsealed = Gauge(
            "releasewatch_ledger_unsealed_records",
            "Ledger records read by the sealer and not yet in a seal (its partitions)",
            registry=self.registry,
        )
        self.ledger_unsealed_age = Gauge(
            "releasewatch_ledger_unsealed_age_seconds",
            "How long the oldest ledger record read by the sealer has waited for its seal",
            registry=self.registry,
        )
        self.escalations = Counter(
            "releasewatch_escalations",
            "Escalations raised, per reason",
            ["reason"],
            registry=self.registry,
        )
        self.alert_wait = Gauge(
            "releasewatch_alert_wait_seconds",
            "How long the alert the notification service read last had waited since the "
            "deadline agent emitted it: how far notices are behind alerts (a burst shows here)",
            registry=self.registry,
        )
        self.alert_wait_limit = Gauge(
            "releasewatch_alert_wait_limit_seconds",
            "RELEASEWATCH_ALERT_WAIT_LIMIT: ReleasewatchNoticesBehindAlerts fires past it",
            registry=self.registry,
        )
        self.deadlines_armed = Gauge(
            "releasewatch_deadlines_armed",
            "Deadlines armed in this worker",
            ["service"],
            registry=self.registry,
        )
        self.deadline_lag = Gauge(
            "releasewatch_deadline_lag_seconds",
            "Now minus the oldest deadline that is due but not yet checked",
            ["service"],
            registry=self.registry,
        )
        self.store_memory = Gauge(
            "releasewatch_store_memory_bytes",
            "Memory the local RocksDB tables hold (block caches, memtables, index and filter "
            "blocks), all tables of this worker",
            ["service"],
            registry=self.registry,
        )

        self.gc_pauses = Histogram(
            "releasewatch_gc_pause_seconds",
            "Python garbage collections (the event loop stands still), per generation",
            ["service", "generation"],
            buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )

    def watch_deadlines(self, armed: Callable[[], int], lag: Callable[[], float]) -> None:
        self.deadlines_armed.labels(self.service).set_function(armed)
        self.deadline_lag.labels(self.service).set_function(lag)

    def watch_store(self, memory: Callable[[], int]) -> None:
        self.store_memory.labels(self.service).set_function(memory)

    def watch_consumer_lag(self) -> None:
        self._positions: dict[tuple[str, int], tuple[int | None, int | None]] = {}
        self.registry.register(_ConsumerLag(self.service, self._lag))

    def record_positions(
        self, positions: dict[tuple[str, int], tuple[int | None, int | None]]
    ) -> None:
        """(topic, partition) -> (committed offset, high watermark), read from the broker
        every few seconds by the input watchdog."""
        self._positions = positions

    def _lag(self) -> dict[tuple[str, int], int]:
        return {
            tp: max(0, end - (committed or 0))
            for tp, (committed, end) in self._positions.items()
            if end is not None
        }

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ConsumerLag(Collector):
    def __init__(self, service: str, positions: Callable[[], dict[tuple[str, int], int]]):
        self.service = service
        self.positions = positions

    def collect(self) -> Any:
        family = GaugeMetricFamily(
            "releasewatch_consumer_lag",
            "High watermark minus committed offset, per partition",
            labels=["service", "topic", "partition"],
        )
        for (topic, partition), lag in sorted(self.positions().items()):
            family.add_metric([self.service, topic, str(partition)], lag)
        yield family
