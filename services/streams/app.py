"""The faust app factory and worker runner every service shares.

Every workaround for Tansu, the fallback broker, is decided in
``services.kafka.client.tansu_quirks`` (read here through ``quirks_of``) and is off
for Apache Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import faust

from services.kafka.admin.topics import cluster_id_sync
from services.kafka.broker.process import port_is_free
from services.kafka.client.security import client_options, faust_credentials
from services.kafka.client.tuning import (
    ClientTuning,
    quirks_of,
    single_record_batches,
    tuning_of,
)
from services.ops import events
from services.ops.logging import get_logger
from services.ops.metrics import Metrics
from services.settings import Settings, Store
from services.streams.health import add_health, watch_gc
from services.streams.recovery import watch_recovery
from services.streams.state import StateDir, claim

log = get_logger(__name__)

# Services and their offset from RELEASEWATCH_WEB_PORT_BASE; each worker takes the first free
# port in [base + offset, base + offset + PORTS_PER_SERVICE).
SERVICE_PORT_OFFSETS = {
    "booking": 0,
    "scheduling": 10,
    "notification": 20,
    "board": 30,
    "intake": 40,
    "sealer": 50,
}
PORTS_PER_SERVICE = 10
# A dead letter carries the refused message verbatim, and inputs may be over 1 MiB.
MAX_REQUEST_BYTES = 8 * 1024 * 1024
# What one fetch brings of one input partition at most. The client keeps a partition's
# fetched bytes until faust has taken every record of them, so a worker behind holds up to
# this much per partition with messages waiting: at 8 MiB, 111 MiB of notification's heap
# in the 100,000 burst (memray, #47). Kafka's own default; a larger record still comes whole
# (the broker hands a partition's first batch over even when it is over the limit).
MAX_FETCH_BYTES = 1024 * 1024
# At most this many records handed from the client to faust at a time (Kafka's own
# max.poll.records default). faust's default is no limit: with 8 MiB fetched per partition
# (as then), one poll handed faust every record the client held (tens of thousands under a backlog),
# which it then fed to the agent round-robin for minutes: resident memory ~225 MiB above
# the tables under load, and partitions "fetched" but not moving, sought back by the stall
# watchdog (bench.national: agency.requests partitions at offset ~200 with 5,000 fetched).
MAX_POLL_RECORDS = 500


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
    state_dir: StateDir | None = None  # RocksDB tables: this worker's slot
    # What may be committed, per input partition (``GapGuard``; patches.commit_check reads it).
    commit_guard: Any = None
    # exactly_once: held by the agent for each message and by each commit
    # (patches.commit_in_step), so a transaction never commits an output without the offset
    # of the message that caused it.
    commit_barrier: asyncio.Lock | None = None
    # What a service opened beside faust (the webhooks' HTTP sessions), closed at shutdown.
    closers: list[Callable[[], Awaitable[None]]]

    async def on_shutdown(self) -> None:
        """Every child has stopped (producer flushed, offsets committed): the local tables
        now match their changelogs and may be trusted at the next start."""
        for close in self.closers:
            await close()
        await super().on_shutdown()
        if self.state_dir is not None:
            self.state_dir.mark_clean()
            self.state_dir.release()


def create_app(service: str, settings: Settings, web_port: int) -> ServiceApp:
    """The service's app; the library patches are installed by ``services.cli.main``
    (``services.kafka.patches``)."""
    one_record_batches = single_record_batches(settings)
    tuning = tuning_of(settings)
    app_id = f"releasewatch-{service}"
    state = local_state(app_id, service, settings)
    datadir = state.path if state else settings.data_dir / service
    datadir.mkdir(parents=True, exist_ok=True)
    app = ServiceApp(
        app_id,
        broker=settings.broker_url,
        # RocksDB: kept on disk, a restart replays the changelogs' tails; memory: rebuilt
        # from the changelogs on every assignment.
        store="rocksdb://" if state else "memory://",  # rocksdb: the rocksdict driver
        datadir=str(datadir),
        tabledir=str(state.tables) if state else "tables",
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
        # services.kafka.client.tansu_quirks: one record per batch on Tansu.
        producer_max_batch_size=16 if one_record_batches else 16384,
        producer_max_request_size=MAX_REQUEST_BYTES,
        consumer_max_fetch_size=MAX_FETCH_BYTES,
        broker_max_poll_records=MAX_POLL_RECORDS,
        table_standby_replicas=quirks_of(settings).standby_replicas,
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=web_port,
        web_ssl_context=settings.web_ssl_context(),  # HTTPS when RELEASEWATCH_WEB_CERTFILE is set
        worker_redirect_stdouts=False,
    )
    app.state_dir = state
    app.closers = []
    if tuning.exactly_once:
        app.commit_barrier = asyncio.Lock()
    # Changelogs written in transactions end with markers faust's recovery waits for.
    watch_recovery(app, client_options(settings), isolation_level(settings))
    # faust turns producer idempotence on only inside transactions; patches read this.
    app.tuning = tuning
    app.metrics = Metrics(service)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def partitions_assigned(sender: Any, assigned: Any, **_: Any) -> None:
        # Operators see when a worker (re)joined; the restart benchmark times from here.
        inputs = [tp for tp in assigned if not tp.topic.startswith(app.conf.id)]
        log.info(events.PARTITIONS_ASSIGNED, partitions=len(inputs))

    add_health(app, service, app.metrics)
    watch_gc(app, service, app.metrics, settings.gc_freeze_every)
    return app


def isolation_level(settings: Settings) -> str:
    """How the worker's consumer reads (faust's rule): committed records only under
    exactly_once; every record, aborted ones too, otherwise."""
    return "read_committed" if tuning_of(settings).exactly_once else "read_uncommitted"


def local_state(app_id: str, service: str, settings: Settings) -> StateDir | None:
    """This worker's slot for RocksDB tables, emptied when it cannot be trusted (None: the
    memory store)."""
    if settings.store is not Store.ROCKSDB or not quirks_of(settings).local_state:
        return None
    identity = {
        "app": app_id,
        "cluster": cluster_id_sync(client_options(settings)),
        "partitions": settings.partitions,
        "store": "rocksdict",
    }
    state = claim(settings.data_dir, service, identity)
    reason = state.prepare(rocksdb_opens)
    if reason is None:
        log.info(events.LOCAL_STATE_KEPT, path=str(state.path), tables=state.table_count())
    else:
        log.warning(events.LOCAL_STATE_REBUILT, path=str(state.path), reason=reason)
    return state


def rocksdb_opens(path: Path) -> str | None:
    """None when RocksDB opens the table at ``path``, else why not."""
    from rocksdict import AccessType, Rdict

    try:
        Rdict(str(path), access_type=AccessType.read_only()).close()
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return None


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
