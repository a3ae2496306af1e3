"""OpenTelemetry across the real services: the W3C trace context of a jail event travels in
Kafka headers through booking, scheduling (and the deadline it armed) and notification to
the agency's notice, and each step's span reaches an OTLP/HTTP receiver, one trace."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest

from schemas.topics import JAIL_BOOKING, NOTICE_ALERTS
from tests import factories as f
from tests.support.bookings import Booking, now
from tests.support.otlp import Receiver
from tests.support.poll import until
from tests.support.topics import KafkaHelper, Record
from tests.support.workers import all_ready, log_events

pytestmark = pytest.mark.integration
H = timedelta(hours=1)
S = timedelta(seconds=1)


def trace_of(record: Record) -> str:
    [parent] = [value.decode() for name, value in record.headers if name == "traceparent"]
    return parent.split("-")[1]


async def test_a_jail_events_trace_reaches_the_notice_with_a_span_for_each_step(
    start_service: Any, kafka: KafkaHelper
) -> None:
    receiver = await Receiver().start()
    try:
        otel = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",  # export every 0.2 s, not 5 s
        }
        services = ("booking", "scheduling", "notification")
        workers = [start_service(name, **otel) for name in services]
        await all_ready(workers)
        alerts = await kafka.watch(NOTICE_ALERTS.name)
        notices = await kafka.watch("notices.dhs-ice.v1")
        booking = Booking(kafka)
        await booking.open()
        await booking.request()
        trace_id = secrets.token_hex(16)
        jail_span = secrets.token_hex(8)
        # Just outside the 48-hour window: the deadline armed now falls due in 20 s.
        await kafka.publish(
            JAIL_BOOKING.name,
            f.scheduled((now() + 48 * H + 20 * S).isoformat(), booking_id=booking.id),
            headers=[("traceparent", f"00-{trace_id}-{jail_span}-01".encode())],
        )
        [notice] = await notices.wait_for_unique(booking.mine, 1, 90, "event_id", "notice")
        assert notice.value["data"]["late"] is False  # fired by the timer, on time
        assert trace_of(notice) == trace_id
        [alert] = alerts.unique(booking.mine)
        assert trace_of(alert) == trace_id

        wanted = {
            ("releasewatch-booking", "booking jail.booking.v1"),
            ("releasewatch-scheduling", "scheduling booking.state.v1"),
            ("releasewatch-scheduling", "scheduling deadline"),
            ("releasewatch-notification", "notification notice.alerts.v1"),
        }

        def steps() -> set[tuple[str, str]]:
            return {(s.service, s.name) for s in receiver.of_trace(trace_id)}

        await until(lambda: wanted <= steps(), 30, f"spans {wanted} in one trace")
        spans = receiver.of_trace(trace_id)
        [first] = [s for s in spans if s.name == "booking jail.booking.v1"]
        assert first.parent_id == jail_span  # continues the jail's own span
        assert first.attributes["messaging.kafka.message.key"] == booking.key
        ids = {s.span_id for s in spans}
        assert all(s.parent_id in ids | {jail_span} for s in spans)  # one tree, no orphans
        names = " ".join(str(s.attributes) for s in spans)
        assert f.PERSON["last_name"] not in names  # no personal data on spans
        assert all(log_events(w.log_path, "traces_exported") for w in workers)
        assert {s.service for s in receiver.spans} == {w for w, _ in wanted}
    finally:
        await receiver.stop()
