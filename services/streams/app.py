"""The faust app factory and worker runner every service shares.

Every workaround for Tansu, the fallback broker, is decided in ``services.kafka.tansu_quirks``
(read here through ``Settings.quirks``) and is off for Apache Kafka.
"""

from __future__ import annotations

import contextlib
from typing import Any

import faust

from services.kafka.process import port_is_free
from services.kafka.security import faust_credentials
from services.kafka.tuning import ClientTuning
from services.ops import events
from services.ops.logging import get_logger
from services.ops.metrics import Metrics
from services.settings import Settings
from services.streams.health import add_health, watch_gc

log = get_logger(__name__)

# Services and their offset from RELEASEWATCH_WEB_PORT_BASE; each worker takes the first free
# port in [base + offset, base + offset + PORTS_PER_SERVICE).
SERVICE_PORT_OFFSETS = {"booking": 0, "scheduling": 10, "notification": 20, "board": 30}
PORTS_PER_SERVICE = 10
# A dead letter carries the refused message verbatim, and inputs may be over 1 MiB.
MAX_REQUEST_BYTES = 8 * 1024 * 1024


def pick_web_port(settings: Settings, service: str) -> int:
    first = settings.web_port_base + SERVICE_PORT_OFFSETS[service]
    for port in range(first, first + PORTS_PER_SERVICE):
        if port_is_free(settings.web_host, port):
            return port
    raise RuntimeError(
        f"no free web port for {service} in {first}..{first + PORTS_PER_SERVICE - 1} on "
        f"{settings.web_host}: too many workers, or set RELEASEWATCH_WEB_PORT_BASE"
    )


class ServiceApp(faust.App):
    """A faust app with what the skeleton and the fixes read from it, typed."""

    tuning: ClientTuning
    metrics: Metrics
    input_topic: str = ""  # one of the inputs, set when the agent starts (their topic group)


def create_app(service: str, settings: Settings, web_port: int) -> ServiceApp:
    """The service's app; ``faust_fixes.apply`` is the caller's, once, at start-up."""
    one_record_batches = settings.single_record_batches
    (settings.data_dir / service).mkdir(parents=True, exist_ok=True)
    app = ServiceApp(
        f"releasewatch-{service}",
        broker=settings.broker_url,
        store="memory://",  # tables are rebuilt from their changelog topics on assignment
        datadir=str(settings.data_dir / service),
        autodiscover=False,
        topic_partitions=settings.partitions,
        # Topics exist before the app starts (topics.ensure_topics picks the replicas when
        # none are configured); faust creates none of its own with this.
        topic_replication_factor=settings.replication_factor or 1,
        topic_allow_declare=True,
        processing_guarantee=settings.processing_guarantee.value,
        broker_credentials=faust_credentials(settings),
        producer_acks=-1 if settings.producer_acks == "all" else 1,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=settings.heartbeat_interval,
        # services.kafka.tansu_quirks: one record per batch on Tansu.
        producer_max_batch_size=16 if one_record_batches else 16384,
        producer_max_request_size=MAX_REQUEST_BYTES,
        consumer_max_fetch_size=MAX_REQUEST_BYTES,
        table_standby_replicas=settings.quirks.standby_replicas,
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=web_port,
        worker_redirect_stdouts=False,
    )
    # faust turns producer idempotence on only inside transactions; faust_fixes reads this.
    app.tuning = settings.tuning
    app.metrics = Metrics(service)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def partitions_assigned(sender: Any, assigned: Any, **_: Any) -> None:
        # Operators see when a worker (re)joined; the restart benchmark times from here.
        inputs = [tp for tp in assigned if not tp.topic.startswith(app.conf.id)]
        log.info(events.PARTITIONS_ASSIGNED, partitions=len(inputs))

    add_health(app, service, app.metrics)
    watch_gc(app, service, app.metrics, settings.gc_freeze_every)
    return app


def run_worker(app: faust.App, logging_config: dict[str, Any], loglevel: str) -> None:
    """Run one worker until SIGINT/SIGTERM. Blocks; exits the process when done."""
    worker = faust.Worker(
        app,
        loglevel=loglevel.upper(),
        logging_config=logging_config,
        quiet=True,
        redirect_stdouts=False,
    )
    with contextlib.suppress(KeyboardInterrupt):
        worker.execute_from_commandline()
