"""What a worker tells operators about itself: /health, /ready, /metrics and its GC pauses."""

from __future__ import annotations

import gc
import time
from typing import Any

import faust

from services.ops import events, gcwatch
from services.ops.logging import get_logger
from services.ops.metrics import CONTENT_TYPE, Metrics

log = get_logger(__name__)


def add_health(app: faust.App, service: str, metrics: Metrics) -> None:
    """``/health``: the process is alive. ``/ready``: partitions assigned and their tables
    recovered (503 while rebalancing or recovering). ``/metrics``: Prometheus text."""

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        return web.json({"status": "ok", "service": service})

    @app.page("/ready")
    async def ready(web: Any, request: Any) -> Any:
        recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
        try:
            assigned = sorted(
                f"{tp.topic}:{tp.partition}"
                for tp in app.consumer.assignment()
                if not tp.topic.endswith("-changelog") and not tp.topic.endswith("__leader")
            )
        except Exception:
            assigned = []
        ok = recovered and not app.rebalancing
        body = {
            "ready": ok,
            "service": service,
            "rebalancing": app.rebalancing,
            "tables_recovered": recovered,
            "assigned": assigned,
        }
        return web.json(body, status=200 if ok else 503)

    @app.page("/metrics")
    async def prometheus(web: Any, request: Any) -> Any:
        return web.bytes(metrics.render(), content_type=CONTENT_TYPE)

    metrics.watch_consumer_lag()


def watch_gc(app: faust.App, service: str, metrics: Metrics, freeze_every: float) -> None:
    pauses = gcwatch.install()
    freezer = gcwatch.Freezer(freeze_every, time.monotonic()) if freeze_every else None

    @app.timer(interval=1.0)
    async def report_gc_pauses() -> None:
        drained = pauses.drain()
        for generation, seconds in drained:
            metrics.gc_pauses.labels(service, str(generation)).observe(seconds)
            if seconds >= gcwatch.LOG_PAUSES_FROM:
                log.info(events.GC_PAUSE, generation=generation, ms=round(seconds * 1000))
        action = freezer.after(drained, time.monotonic()) if freezer else None
        if action == "freeze":
            gcwatch.freeze_survivors()
        elif action == "unfreeze":
            log.info(events.GC_UNFREEZE, frozen=gc.get_freeze_count())
            gc.unfreeze()
