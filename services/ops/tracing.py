"""OpenTelemetry traces: W3C trace context in Kafka headers, one span per service step.

A jail event's ``traceparent`` header (or, without one, the booking service's first span)
starts a trace; every service continues it from the headers of the message it reads and
puts it on every message it publishes, so the chain from the jail event to the notice is one
trace. A deadline fires long after the event that armed it: the record keeps that event's
``traceparent`` (``RecordTable``), and the timer's step continues it.

Spans are exported over OTLP/HTTP only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set, with the SDK's usual ``OTEL_*`` settings;
otherwise nothing is set up, no header is written and each step costs one ``if``. Span
attributes name topics, partitions, offsets and booking keys, never a person.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

PROPAGATOR = TraceContextTextMapPropagator()
ENDPOINT_SETTINGS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
Headers = list[tuple[str, bytes]]

_tracer: Tracer | None = None
_provider: TracerProvider | None = None


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Is an OTLP endpoint configured (and the SDK not disabled)?"""
    if environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return any(environ.get(name) for name in ENDPOINT_SETTINGS)


def setup(service: str, exporter: SpanExporter | None = None) -> bool:
    """Trace this process as ``releasewatch-<service>``: to ``exporter`` when given (tests),
    else over OTLP/HTTP when an endpoint is configured. Returns whether tracing is on."""
    global _tracer, _provider
    if exporter is None:
        if not wanted():
            return False
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()  # endpoint, headers, timeout: the OTEL_* settings
    resource = Resource.create(
        {"service.name": f"releasewatch-{service}", "service.namespace": "releasewatch"}
    )
    _provider = TracerProvider(resource=resource)
    _provider.add_span_processor(BatchSpanProcessor(exporter))
    _tracer = _provider.get_tracer("releasewatch")
    return True


def shutdown() -> None:
    """Flush what is buffered and stop (on a clean exit)."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer, _provider = None, None


def enabled() -> bool:
    return _tracer is not None


def context_of(headers: Iterable[tuple[str, Any]] | Mapping[str, Any] | None) -> Context:
    """The trace context carried by a Kafka message's headers (empty if none)."""
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    carrier = {
        name: value.decode(errors="replace") if isinstance(value, bytes) else str(value)
        for name, value in pairs
        if name in PROPAGATOR.fields
    }
    return PROPAGATOR.extract(carrier)


def _current() -> dict[str, str]:
    """The current trace context as W3C fields (empty when tracing is off)."""
    carrier: dict[str, str] = {}
    if _tracer is not None:
        PROPAGATOR.inject(carrier)
    return carrier


def headers() -> Headers | None:
    """The current trace context as Kafka headers; None when tracing is off."""
    return [(name, value.encode()) for name, value in _current().items()] or None


def traceparent() -> str | None:
    """The current span's W3C ``traceparent`` (kept with a record); None when off or none."""
    return _current().get("traceparent")


@contextlib.contextmanager
def step(
    name: str,
    parent: Iterable[tuple[str, Any]] | Mapping[str, Any] | str | None = None,
    kind: SpanKind = SpanKind.CONSUMER,
    attributes: Mapping[str, str | int] | None = None,
) -> Iterator[None]:
    """One service step as the current span, continuing ``parent``: a message's headers, or
    a stored ``traceparent``. Does nothing when tracing is off."""
    if _tracer is None:
        yield
        return
    if isinstance(parent, str):
        parent = {"traceparent": parent}
    with _tracer.start_as_current_span(
        name, context=context_of(parent), kind=kind, attributes=attributes
    ):
        yield
