"""``up``, ``service`` and ``broker``: what runs the product."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

from services.cli.checks import check_service, check_stack
from services.cli.failures import (
    RunFailure,
    UsageError,
    load_settings,
    registry_agencies,
    talking_to_broker,
)
from services.cli.keys import development_keks
from services.kafka.broker.apache import EmbeddedKafka
from services.kafka.broker.embedded import EmbeddedBroker, embedded_broker
from services.kafka.broker.process import BrokerStartError, die_with_parent_preexec, stop_processes
from services.kafka.broker.supervise import Supervisor
from services.kafka.client.security import client_options
from services.kafka.client.tuning import flavor_problem, tuning_of
from services.ops import events, tracing
from services.ops import logging as rw_logging
from services.settings import BrokerFlavor, Settings
from services.streams.app import SERVICE_PORT_OFFSETS

SERVICES = ("booking", "scheduling", "notification", "board", "intake", "sealer")
# Not faust apps: a page over the topics, HTTP in and Kafka out, the ledger's sealer (#46)
NOT_FAUST = {
    "board": "services.board.app",
    "intake": "services.intake.app",
    "sealer": "services.ledger.app",
}


def register(commands: Any) -> None:
    up = commands.add_parser("up", help="broker (if needed) and every service, until Ctrl-C")
    up.add_argument("--demo", action="store_true", help="also run the jail simulator")
    up.add_argument("--rate", type=float, default=5.0, help="demo events per second")
    up.add_argument("--logs", action="store_true", help="service logs to the terminal")
    up.set_defaults(func=cmd_up)

    service = commands.add_parser("service", help="run one worker of one service")
    service.add_argument("name", choices=SERVICES)
    service.add_argument("--port", type=int, default=0, help="web port (default: first free)")
    service.set_defaults(func=cmd_service)

    broker = commands.add_parser("broker", help="run the embedded broker alone; prints its URL")
    broker.add_argument("--port", type=int, default=0)
    broker.add_argument(
        "--nodes",
        type=int,
        choices=(1, 3),
        default=1,
        help="3: a three-node KRaft cluster (replication factor 3, min.insync.replicas 2)",
    )
    broker.add_argument(
        "--no-restart",
        dest="restart",
        action="store_false",
        help="leave a node that died down (to watch a degraded cluster); by default it is "
        "started again after a back-off",
    )
    broker.set_defaults(func=cmd_broker)


def _broker_for(settings: Settings) -> tuple[Settings, EmbeddedBroker | None]:
    """The settings to use, starting the embedded broker when no broker URL is configured."""
    if settings.broker_url:
        return settings, None
    broker = _start_embedded(settings, nodes=1, port=settings.embedded_broker_port)
    try:  # validated again: some Apache-only switches are refused on Tansu
        updated = Settings.model_validate(
            {
                **dict(settings),
                "broker_url": broker.url,
                "broker_flavor": BrokerFlavor(broker.flavor),
            }
        )
        problem = flavor_problem(updated)
        if problem:
            raise ValueError(problem)
    except ValueError as exc:
        broker.stop()
        raise UsageError(f"invalid configuration: {exc}") from None
    return updated, broker


def _start_embedded(settings: Settings, nodes: int, port: int) -> EmbeddedBroker:
    try:
        broker = embedded_broker(
            settings.embedded_broker, settings.data_dir, nodes=nodes, port=port
        )
        print(f"starting {broker.name} ...", file=sys.stderr, flush=True)
        broker.start()
    except BrokerStartError as exc:
        raise RunFailure(f"the embedded broker did not start: {exc}") from None
    return broker


def _ensure_topics(settings: Settings, service: str | None = None) -> None:
    """A service's own topics (``service_topics``); every topic for ``up``."""
    from services.kafka.admin.partitions import PartitionCountError
    from services.kafka.admin.topics import ensure_topics_sync, every_topic, service_topics

    try:
        with talking_to_broker(settings):
            ensure_topics_sync(
                client_options(settings),
                settings.partitions,
                settings.replication_factor,
                settings.min_insync_replicas,
                service_topics(service, registry_agencies(settings)) if service else every_topic(),
                settings.jail_retention_days,
            )
    except PartitionCountError as exc:
        raise RunFailure(str(exc)) from None


def cmd_service(args: argparse.Namespace) -> int:
    from services.streams.app import pick_web_port, run_worker

    settings = load_settings()
    config = rw_logging.configure(args.name, settings.log_format, settings.log_level)
    log = rw_logging.get_logger("releasewatch.service")
    check_service(settings, args.name)
    settings, broker = _broker_for(settings)
    if broker:
        log.info(events.EMBEDDED_BROKER_STARTED, url=broker.url)
    try:
        _ensure_topics(settings, args.name)
        port = args.port or settings.web_port or pick_web_port(settings, args.name)
        if args.name in NOT_FAUST:  # each serves until stopped: run(settings, port)
            if args.name == "board":
                print(f"board: http://{settings.web_host}:{port}/", flush=True)
            importlib.import_module(NOT_FAUST[args.name]).run(settings, port)
            return 0
        if tracing.setup(args.name):  # only with OTEL_EXPORTER_OTLP_ENDPOINT set
            log.info(events.TRACES_EXPORTED, protocol="otlp/http")
        off = tuning_of(settings).fixes_off
        if off:  # installed without them by services.cli.main
            log.warning(events.FAUST_FIXES_SWITCHED_OFF, fixes=sorted(off))
        module = importlib.import_module(f"services.{args.name}.app")
        app = module.build(settings, port)
        log.info(
            events.SERVICE_STARTING,
            web=f"http://{settings.web_host}:{port}",
            broker=settings.broker_url,
        )
        run_worker(app, config, settings.log_level)
    finally:
        if broker:
            broker.stop()
    return 0


def cmd_broker(args: argparse.Namespace) -> int:
    settings = load_settings()
    rw_logging.configure("broker", settings.log_format, settings.log_level)
    port = args.port or settings.embedded_broker_port
    broker = _start_embedded(settings, nodes=args.nodes, port=port)
    print(broker.url, flush=True)
    flavor = "" if broker.flavor == "apache" else f" RELEASEWATCH_BROKER_FLAVOR={broker.flavor}"
    print(
        f"{broker.name} ready; its log: {broker.log_file}\n"
        f"export RELEASEWATCH_BROKER_URL='{broker.url}'{flavor}",
        file=sys.stderr,
        flush=True,
    )
    stop = _StopFlag()
    supervisor = Supervisor(broker, time.monotonic, restart=args.restart)
    gave_up: str | None = None
    try:
        while not stop.requested and gave_up is None:
            gave_up = supervisor.check()
            time.sleep(0.2)  # a look five times a second; a signal is seen within that
    finally:
        broker.stop()
    if gave_up:
        logs = broker.log_file.parent if isinstance(broker, EmbeddedKafka) else broker.log_file
        raise RunFailure(f"{gave_up}; logs: {logs}")
    return 0


class _StopFlag:
    """SIGINT/SIGTERM set a flag; the main loop stops what it started."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGINT, self._set)
        signal.signal(signal.SIGTERM, self._set)

    def _set(self, signum: int, _frame: Any) -> None:
        self.requested = True


def cmd_up(args: argparse.Namespace) -> int:
    settings = load_settings()
    rw_logging.configure("releasewatch", settings.log_format, settings.log_level)
    log = rw_logging.get_logger("releasewatch.up")
    check_stack(settings)
    stop = _StopFlag()
    settings, broker = _broker_for(settings)
    children: dict[str, subprocess.Popen[bytes]] = {}
    failed: str | None = None
    try:
        if broker:
            log.info(events.EMBEDDED_BROKER_STARTED, url=broker.url)
            print(f"broker: {broker.url}", flush=True)
        _ensure_topics(settings)
        env = {
            **os.environ,
            "RELEASEWATCH_BROKER_URL": settings.broker_url or "",
            "RELEASEWATCH_BROKER_FLAVOR": settings.broker_flavor.value,
        }
        kek = development_keks(settings)
        env.update({"RELEASEWATCH_KEK_FILE": str(kek)} if kek else {})
        log_dir = settings.data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        for name in SERVICES:
            port = settings.web_port_base + SERVICE_PORT_OFFSETS[name]
            # Service logs go to files unless --logs: the terminal shows what happens.
            output = None if args.logs else (log_dir / f"{name}.log").open("ab")
            children[name] = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "service", name, "--port", str(port)],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
                preexec_fn=die_with_parent_preexec,
            )
            if output:
                output.close()
            path = "" if name == "board" else "health"
            print(
                f"{name}: http://{settings.web_host}:{port}/{path} (pid {children[name].pid})",
                flush=True,
            )
        if not args.logs:
            print(f"logs: {log_dir}/<service>.log (or `releasewatch up --logs`)", flush=True)
        if args.demo:
            children["console"] = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "watch"],
                env=env,
                preexec_fn=die_with_parent_preexec,
            )
            children["simulator"] = _start_demo(args, env)
            print(
                f"demo: jail simulator at {args.rate} events/s; alerts, notices, "
                "escalations and dead letters print below",
                flush=True,
            )
        while not stop.requested:
            for name, child in children.items():
                code = child.poll()
                if code is not None and not (name == "simulator" and code == 0):
                    failed = f"{name} exited with code {code}"
                    break
            if failed:
                break
            time.sleep(0.2)
    finally:
        _stop_all(children)
        if broker:
            broker.stop()
    if failed:
        log.error(events.SERVICE_DIED, detail=failed)
        raise RunFailure(f"{failed}; stopped everything (its log: {log_dir}/<service>.log)")
    log.info(events.STOPPED)
    return 0


def _start_demo(args: argparse.Namespace, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "services.cli", "simulate", "--demo", "--rate", str(args.rate)]
    return subprocess.Popen(command, env=env, preexec_fn=die_with_parent_preexec)


def _stop_all(children: dict[str, subprocess.Popen[bytes]], timeout: float = 20.0) -> None:
    stop_processes(children.values(), timeout)
