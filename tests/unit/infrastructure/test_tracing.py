"""Trace context in Kafka headers and the steps' spans, with the SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import BaseModel

from services.core.deadlines import DeadlineIndex
from services.ops import tracing
from services.streams.records import TRACE_FIELD, RecordTable

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
HEADERS = [("traceparent", f"00-{TRACE}-{PARENT}-01".encode()), ("other", b"x")]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert tracing.setup("scheduling", exporter)
    yield exporter
    tracing.shutdown()


def finished(exporter: InMemorySpanExporter) -> list:
    tracing._provider.force_flush()  # type: ignore[union-attr]
    return list(exporter.get_finished_spans())


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, False),
    ],
)
def test_spans_are_exported_only_when_an_endpoint_is_set(
    environ: dict[str, str], wanted: bool
) -> None:
    assert tracing.wanted(environ) is wanted


def test_off_by_default_a_step_writes_no_header_and_keeps_no_trace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (*tracing.ENDPOINT_SETTINGS, "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    assert tracing.setup("booking") is False
    with tracing.step("booking jail.booking.v1", HEADERS):
        assert tracing.headers() is None
        assert tracing.traceparent() is None
    assert not tracing.enabled()


def test_a_step_continues_the_trace_of_the_message_it_reads(spans: InMemorySpanExporter) -> None:
    with tracing.step("scheduling booking.state.v1", HEADERS, attributes={"k": "us/1"}):
        out = dict(tracing.headers() or [])
        kept = tracing.traceparent()
    [span] = finished(spans)
    assert span.name == "scheduling booking.state.v1"
    assert span.kind is SpanKind.CONSUMER
    assert format(span.context.trace_id, "032x") == TRACE
    assert format(span.parent.span_id, "016x") == PARENT
    assert span.attributes == {"k": "us/1"}
    assert span.resource.attributes["service.name"] == "releasewatch-scheduling"
    # What it publishes carries the same trace, with this step as the parent.
    _, trace_id, parent_id, _ = out["traceparent"].decode().split("-")
    assert (trace_id, parent_id) == (TRACE, format(span.context.span_id, "016x"))
    assert kept == out["traceparent"].decode()


def test_a_deadline_step_continues_the_trace_a_record_kept(spans: InMemorySpanExporter) -> None:
    with tracing.step("scheduling booking.state.v1", HEADERS):
        kept = tracing.traceparent()
    with tracing.step("scheduling deadline", kept, kind=SpanKind.INTERNAL):
        pass
    armed, fired = finished(spans)
    assert fired.context.trace_id == armed.context.trace_id
    assert fired.parent.span_id == armed.context.span_id


@pytest.mark.parametrize(
    "headers",
    [None, [], [("other", b"x")], {"traceparent": "garbage"}, [("traceparent", b"\xff\xfe")]],
)
def test_without_a_valid_parent_a_step_starts_a_new_trace(
    spans: InMemorySpanExporter, headers: object
) -> None:
    with tracing.step("booking jail.booking.v1", headers):  # type: ignore[arg-type]
        pass
    [span] = finished(spans)
    assert span.parent is None
    assert format(span.context.trace_id, "032x") != TRACE


class Table(dict):  # type: ignore[type-arg]
    """A faust table's reads, counted."""

    reads = 0

    def get(self, key: object, default: object = None) -> object:
        self.reads += 1
        return super().get(key, default)

    def send_changelog(self, *_: object, **__: object) -> None:
        """Nothing written here."""


def record_table() -> tuple[RecordTable[BaseModel], Table]:
    table = Table({"us-mn/b-1": {"next_due": None, TRACE_FIELD: f"00-{TRACE}-{PARENT}-01"}})
    app = SimpleNamespace(Table=lambda *_, **__: table)
    return RecordTable(app, "bookings", BaseModel, 8, DeadlineIndex()), table  # type: ignore[arg-type]


def test_the_trace_a_record_kept_is_read_only_while_tracing_is_on(
    spans: InMemorySpanExporter,
) -> None:
    records, table = record_table()
    assert records.trace_of(b"us-mn/b-1") == f"00-{TRACE}-{PARENT}-01"
    assert table.reads == 1
    tracing.shutdown()
    assert records.trace_of(b"us-mn/b-1") is None  # off: no span to continue, nothing read
    assert table.reads == 1
