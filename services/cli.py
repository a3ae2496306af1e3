"""``releasewatch``: run the stack, one service, the broker; publish and tail topics."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from services.kafka.embedded import EmbeddedBroker, embedded_broker
from services.kafka.process import BrokerStartError, die_with_parent_preexec
from services.runtime import logging as rw_logging
from services.runtime.app import SERVICE_PORT_OFFSETS
from services.runtime.policy import PolicyFileError
from services.runtime.security import (
    SecurityConfigError,
    client_options,
    consumer_options,
    explain_failure,
    producer_options,
)
from services.runtime.settings import BrokerFlavor, Settings

SERVICES = ("booking", "scheduling", "notification", "board")


def load() -> Settings:
    """The settings from the environment; a wrong one ends the command with what is wrong."""
    from pydantic import ValidationError

    from services.runtime.settings import load as load_settings

    try:
        settings = load_settings()
        if settings.broker_url:
            client_options(settings)  # TLS files readable
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise SystemExit(f"releasewatch: invalid configuration: {problems}") from None
    except SecurityConfigError as exc:
        raise SystemExit(f"releasewatch: invalid configuration: {exc}") from None
    return settings


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
    except ValueError as exc:
        broker.stop()
        raise SystemExit(f"releasewatch: invalid configuration: {exc}") from None
    return updated, broker


def _start_embedded(settings: Settings, nodes: int, port: int) -> EmbeddedBroker:
    broker = embedded_broker(settings.embedded_broker, settings.data_dir, nodes=nodes, port=port)
    print(f"starting {broker.name} ...", file=sys.stderr, flush=True)
    try:
        broker.start()
    except BrokerStartError as exc:
        raise SystemExit(f"releasewatch: the embedded broker did not start: {exc}") from None
    return broker


def _service_app(name: str, settings: Settings, port: int) -> Any:
    if name not in SERVICES:
        raise SystemExit(f"unknown service {name!r}; known: {', '.join(SERVICES)}")
    module = importlib.import_module(f"services.{name}.app")
    return module.build(settings, port)


def cmd_service(args: argparse.Namespace) -> int:
    from services.runtime.app import pick_web_port, run_worker
    from services.runtime.topics import ensure_topics_sync, every_topic

    settings = load()
    config = rw_logging.configure(args.name, settings.log_format, settings.log_level)
    log = rw_logging.get_logger("releasewatch.service")
    settings, broker = _broker_for(settings)
    if broker:
        log.info("embedded_broker_started", url=broker.url)
    try:
        ensure_topics_sync(
            client_options(settings),
            settings.partitions,
            settings.replication_factor,
            settings.min_insync_replicas,
            every_topic(),
        )
        port = args.port or settings.web_port or pick_web_port(settings, args.name)
        if args.name == "board":  # not a faust app: a page over a global view of the topics
            from services.board.app import run as run_board

            print(f"board: http://{settings.web_host}:{port}/", flush=True)
            run_board(settings, port)
            return 0
        try:
            app = _service_app(args.name, settings, port)
        except PolicyFileError as exc:
            log.error("policy_file_invalid", detail=str(exc))
            print(f"releasewatch service {args.name}: {exc}", file=sys.stderr)
            return 2
        log.info(
            "service_starting", web=f"http://{settings.web_host}:{port}", broker=settings.broker_url
        )
        run_worker(app, config, settings.log_level)
    finally:
        if broker:
            broker.stop()
    return 0


def cmd_broker(args: argparse.Namespace) -> int:
    settings = load()
    rw_logging.configure("broker", settings.log_format, settings.log_level)
    broker = _start_embedded(
        settings, nodes=args.nodes, port=args.port or settings.embedded_broker_port
    )
    print(broker.url, flush=True)
    flavor = "" if broker.flavor == "apache" else f" RELEASEWATCH_BROKER_FLAVOR={broker.flavor}"
    print(
        f"{broker.name} ready; its log: {broker.log_file}\n"
        f"export RELEASEWATCH_BROKER_URL='{broker.url}'{flavor}",
        file=sys.stderr,
        flush=True,
    )
    stop = _StopFlag()
    try:
        while not stop.requested and broker.alive():
            time.sleep(0.2)
    finally:
        broker.stop()
    return 0 if stop.requested else 1


class _StopFlag:
    """SIGINT/SIGTERM set a flag; the main loop stops what it started."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGINT, self._set)
        signal.signal(signal.SIGTERM, self._set)

    def _set(self, signum: int, _frame: Any) -> None:
        self.requested = True


def cmd_up(args: argparse.Namespace) -> int:
    from services.runtime.topics import ensure_topics_sync, every_topic

    settings = load()
    rw_logging.configure("releasewatch", settings.log_format, settings.log_level)
    log = rw_logging.get_logger("releasewatch.up")
    stop = _StopFlag()
    settings, broker = _broker_for(settings)
    children: dict[str, subprocess.Popen[bytes]] = {}
    failed: str | None = None
    try:
        if broker:
            log.info("embedded_broker_started", url=broker.url)
            print(f"broker: {broker.url}", flush=True)
        ensure_topics_sync(
            client_options(settings),
            settings.partitions,
            settings.replication_factor,
            settings.min_insync_replicas,
            every_topic(),
        )
        env = {
            **os.environ,
            "RELEASEWATCH_BROKER_URL": settings.broker_url or "",
            "RELEASEWATCH_BROKER_FLAVOR": settings.broker_flavor.value,
        }
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
        log.error("service_died", detail=failed)
        print(f"releasewatch up: {failed}; stopped everything", file=sys.stderr)
        return 1
    log.info("stopped")
    return 0


def _start_demo(args: argparse.Namespace, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "services.cli", "simulate", "--demo", "--rate", str(args.rate)]
    return subprocess.Popen(command, env=env, preexec_fn=die_with_parent_preexec)


def _stop_all(children: dict[str, subprocess.Popen[bytes]], timeout: float = 20.0) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children.values():
        remaining = max(0.1, deadline - time.monotonic())
        try:
            child.wait(remaining)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)


def _read_documents(source: TextIO) -> Iterator[str]:
    """One JSON document, or JSON lines."""
    text = source.read()
    stripped = text.strip()
    if not stripped:
        return
    try:
        json.loads(stripped)
    except json.JSONDecodeError:
        yield from (line for line in text.splitlines() if line.strip())
    else:
        yield stripped


def route(document: str, topic: str | None) -> tuple[str, bytes | None]:
    """The topic and key for one document to publish (key from the envelope)."""
    from schemas.agency_requests import AGENCY_REQUEST_TYPES
    from schemas.envelope import booking_key
    from schemas.jail_booking import JAIL_EVENT_TYPES
    from schemas.topics import AGENCY_REQUESTS, JAIL_BOOKING, NOTICE_ACKS

    try:
        parsed = json.loads(document)
    except json.JSONDecodeError as exc:
        if topic:
            return topic, None  # published verbatim: the service will dead-letter it
        raise ValueError(f"not JSON ({exc.msg}); give --topic to publish it anyway") from exc
    key = None
    if (
        isinstance(parsed, dict)
        and isinstance(parsed.get("jurisdiction"), str)
        and isinstance(parsed.get("booking_id"), str)
    ):
        key = booking_key(parsed["jurisdiction"], parsed["booking_id"]).encode()
    if topic:
        return topic, key
    kind = parsed.get("type") if isinstance(parsed, dict) else None
    if kind in JAIL_EVENT_TYPES:
        return JAIL_BOOKING.name, key
    if kind in AGENCY_REQUEST_TYPES:
        return AGENCY_REQUESTS.name, key
    if kind == "notice.acknowledged":
        return NOTICE_ACKS.name, key
    raise ValueError(f"cannot tell the topic of type {kind!r}; give --topic")


def no_broker(command: str, settings: Settings) -> bool:
    """True (and says so) when ``command`` has no broker to talk to: the tools never start the
    embedded one themselves, it would be empty."""
    if settings.broker_url:
        return False
    print(f"{command}: set RELEASEWATCH_BROKER_URL (see `releasewatch up`)", file=sys.stderr)
    return True


def cmd_publish(args: argparse.Namespace) -> int:
    from aiokafka import AIOKafkaProducer

    settings = load()
    if no_broker("publish", settings):
        return 2
    source: TextIO = sys.stdin if args.file == "-" else Path(args.file).open()  # noqa: SIM115
    with source:
        documents = list(_read_documents(source))

    async def send() -> int:
        producer = AIOKafkaProducer(
            **client_options(settings),
            **producer_options(settings),
            max_request_size=8 * 1024 * 1024,
        )
        await producer.start()
        failures = 0
        try:
            for number, document in enumerate(documents, 1):
                try:
                    topic, key = route(document, args.topic)
                except ValueError as exc:
                    print(f"document {number}: {exc}", file=sys.stderr)
                    failures += 1
                    continue
                meta = await producer.send_and_wait(topic, key=key, value=document.encode())
                print(
                    f"{topic}[{meta.partition}]@{meta.offset} key={key.decode() if key else None}"
                )
        finally:
            await producer.stop()
        return 1 if failures else 0

    return asyncio.run(send())


def render_record(record: Any) -> str:
    value: Any
    try:
        value = json.loads(record.value) if record.value is not None else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        value = record.value.decode("utf-8", errors="replace")
    return json.dumps(
        {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "key": record.key.decode("utf-8", errors="replace") if record.key else None,
            "value": value,
        },
        ensure_ascii=False,
    )


def cmd_tail(args: argparse.Namespace) -> int:
    from aiokafka import AIOKafkaConsumer

    settings = load()
    if no_broker("tail", settings):
        return 2

    async def run() -> int:
        consumer = AIOKafkaConsumer(
            args.topic,
            **consumer_options(settings),
            auto_offset_reset="earliest" if args.from_beginning else "latest",
            enable_auto_commit=False,
            group_id=None,
        )
        await consumer.start()
        seen = 0
        try:
            deadline = time.monotonic() + args.timeout if args.timeout else None
            while args.limit is None or seen < args.limit:
                if deadline and time.monotonic() > deadline:
                    break
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        print(render_record(record), flush=True)
                        seen += 1
        finally:
            await consumer.stop()
        return 0

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        return 0


def cmd_report(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from aiokafka import AIOKafkaConsumer, TopicPartition

    from schemas.topics import AUDIT
    from services.kafka.metadata import partitions_of
    from services.notification.report import compile_report, render

    settings = load()
    if no_broker("report", settings):
        return 2
    since = None
    if args.since:
        since = datetime.fromisoformat(args.since)
        since = since if since.tzinfo else since.replace(tzinfo=UTC)

    async def read_ledger() -> list[dict[str, Any]]:
        """Every ledger record up to the end the topic had when we started."""
        consumer = AIOKafkaConsumer(
            **consumer_options(settings), group_id=None, enable_auto_commit=False
        )
        await consumer.start()
        try:
            partitions = [
                TopicPartition(AUDIT.name, p) for p in await partitions_of(consumer, AUDIT.name)
            ]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            total = sum(ends.values())
            records: list[dict[str, Any]] = []
            read = 0

            async def behind() -> bool:
                for tp in partitions:
                    if await consumer.position(tp) < ends[tp]:
                        return True
                return False

            while await behind():
                batches = await consumer.getmany(timeout_ms=500)
                for batch in batches.values():
                    for message in batch:
                        read += 1
                        try:
                            records.append(json.loads(message.value))
                        except (TypeError, ValueError):
                            continue
                if total > 10_000:
                    print(
                        f"\rread {read:,} of {total:,} ledger records",
                        end="",
                        file=sys.stderr,
                        flush=True,
                    )
            if total > 10_000:
                print(file=sys.stderr)
            return records
        finally:
            await consumer.stop()

    rows = compile_report(asyncio.run(read_ledger()), args.jurisdiction, since)
    print(render(rows, args.format))
    return 0


def cmd_agency_listen(args: argparse.Namespace) -> int:
    from services.agency import listen

    settings = load()
    if no_broker("agency", settings):
        return 2
    try:
        return asyncio.run(
            listen(
                consumer_options(settings),
                args.agency,
                args.by,
                acknowledge=not args.no_ack,
                limit=args.limit,
            )
        )
    except KeyboardInterrupt:
        return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from services.trace import render, trace

    settings = load()
    if no_broker("trace", settings):
        return 2
    if args.key.count("/") != 1:
        print("trace: give <jurisdiction>/<booking_id>", file=sys.stderr)
        return 2
    print(render(asyncio.run(trace(consumer_options(settings), args.key))))
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from services.console import run_watch

    settings = load()
    if no_broker("watch", settings):
        return 2
    return run_watch(consumer_options(settings))


def cmd_simulate(args: argparse.Namespace) -> int:
    from services.simulator.run import run_simulator

    settings = load()
    rw_logging.configure("simulator", settings.log_format, settings.log_level)
    return run_simulator(
        settings,
        rate=args.rate,
        count=args.count,
        seed=args.seed,
        demo=args.demo,
        flag_rate=args.flag_rate,
    )


def cmd_topics_create(args: argparse.Namespace) -> int:
    """The one-shot job of a deployment: every topic, with its retention and replication."""
    from schemas.topics import REGISTRY, FaustTopic, TopicSpec, agency_notices, faust_topics
    from services.runtime.topics import ensure_topics

    settings = load()
    rw_logging.configure("topics", settings.log_format, settings.log_level)
    if no_broker("topics", settings):
        return 2
    try:
        extra = [agency_notices(agency) for agency in args.agency]
    except ValueError as exc:
        print(f"topics: {exc}", file=sys.stderr)
        return 2
    specs: list[TopicSpec | FaustTopic] = [*REGISTRY, *extra, *faust_topics()]
    try:
        created = asyncio.run(
            ensure_topics(
                client_options(settings),
                settings.partitions,
                settings.replication_factor,
                specs,
                timeout=args.wait,
                min_insync_replicas=settings.min_insync_replicas,
            )
        )
    except Exception as exc:  # the job's exit code and message are all an operator sees
        reason = explain_failure(exc, settings)
        print(f"topics: cannot create topics on {settings.broker_url}: {reason}", file=sys.stderr)
        return 1
    print(f"topics: {len(created)} created, {len(specs) - len(created)} already there")
    return 0


def cmd_topics_list(args: argparse.Namespace) -> int:
    from schemas.topics import REGISTRY, FaustTopic, TopicSpec, faust_topics
    from services.runtime.topics import plan

    settings = load()
    specs: list[TopicSpec | FaustTopic] = [*REGISTRY, *faust_topics()]
    plans = plan(
        specs, settings.partitions, settings.replication_factor, settings.min_insync_replicas
    )
    for topic in plans:
        config = " ".join(f"{key}={value}" for key, value in sorted(topic.config.items()))
        replicas = topic.replication_factor or "auto"
        print(f"{topic.name}\t{topic.partitions}\t{replicas}\t{config}")
    return 0


def cmd_k8s(args: argparse.Namespace) -> int:
    import yaml

    from services import deployment

    documents: list[Any]
    if args.what == "topics":
        documents = deployment.kafka_topics(
            args.cluster, args.partitions, args.replicas, args.min_insync_replicas
        )
    else:
        try:
            documents = [
                deployment.service_user(args.cluster),
                *(deployment.jail_user(jail, args.cluster) for jail in args.jail),
                *(deployment.agency_user(agency, args.cluster) for agency in args.agency),
            ]
        except ValueError as exc:
            print(f"k8s: {exc}", file=sys.stderr)
            return 2
    print(deployment.HEADER, end="")
    print(yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True), end="")
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    """For container health checks: exit 0 if this container's service answers /health."""
    import urllib.request

    settings = load()
    port = args.port or settings.web_port
    if not port:
        print("health: give --port or set RELEASEWATCH_WEB_PORT", file=sys.stderr)
        return 2
    url = f"http://127.0.0.1:{port}/{'ready' if args.ready else 'health'}"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            ok = response.status == 200
    except OSError as exc:
        print(f"health: {url}: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="releasewatch", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

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
    broker.set_defaults(func=cmd_broker)

    publish = commands.add_parser("publish", help="publish one JSON event or JSON lines")
    publish.add_argument("file", help="a file, or - for standard input")
    publish.add_argument("--topic", help="default: from each event's type")
    publish.set_defaults(func=cmd_publish)

    tail = commands.add_parser("tail", help="print a topic's messages as JSON lines")
    tail.add_argument("topic")
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument("--limit", type=int, default=None, help="stop after N messages")
    tail.add_argument("--timeout", type=float, default=None, help="stop after S seconds")
    tail.set_defaults(func=cmd_tail)

    report = commands.add_parser("report", help="compliance figures per jurisdiction")
    report.add_argument("--jurisdiction")
    report.add_argument("--since", help="a date or date-time (UTC if no offset)")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    report.set_defaults(func=cmd_report)

    agency = commands.add_parser("agency", help="what an agency's integration does")
    agency_commands = agency.add_subparsers(dest="agency_command", required=True)
    listen = agency_commands.add_parser("listen", help="print notices and acknowledge them")
    listen.add_argument("--agency", required=True, help="the agency slug, e.g. dhs-ice")
    listen.add_argument("--by", default="integration", help="who acknowledges")
    listen.add_argument("--no-ack", action="store_true", help="print only")
    listen.add_argument("--limit", type=int, default=None, help="stop after N notices")
    listen.set_defaults(func=cmd_agency_listen)

    trace = commands.add_parser("trace", help="one booking's chain, jail event to notice")
    trace.add_argument("key", help="<jurisdiction>/<booking_id>")
    trace.set_defaults(func=cmd_trace)

    watch = commands.add_parser(
        "watch", help="print one line per alert, notice, escalation and dead letter"
    )
    watch.set_defaults(func=cmd_watch)

    simulate = commands.add_parser("simulate", help="publish realistic jail traffic")
    simulate.add_argument("--rate", type=float, default=5.0, help="events per second")
    simulate.add_argument("--count", type=int, default=None, help="stop after N events")
    simulate.add_argument("--seed", type=int, default=None)
    simulate.add_argument(
        "--demo",
        action="store_true",
        help="place flagged releases just past the window: alerts in a minute",
    )
    simulate.add_argument(
        "--flag-rate",
        type=float,
        default=None,
        help="share of bookings with a notice request (default 0.04)",
    )
    simulate.set_defaults(func=cmd_simulate)

    topics = commands.add_parser("topics", help="the topics of the registry on the cluster")
    topics_commands = topics.add_subparsers(dest="topics_command", required=True)
    create = topics_commands.add_parser(
        "create", help="create every topic (retention, replication); a deployment's first job"
    )
    create.add_argument(
        "--agency", action="append", default=[], help="also notices.<agency>.v1 (repeatable)"
    )
    create.add_argument("--wait", type=float, default=120.0, help="seconds to wait for Kafka")
    create.set_defaults(func=cmd_topics_create)
    listing = topics_commands.add_parser("list", help="print the topics and their settings")
    listing.set_defaults(func=cmd_topics_list)

    k8s = commands.add_parser("k8s", help="print Strimzi resources generated from the registry")
    k8s.add_argument("what", choices=("topics", "users"))
    k8s.add_argument("--cluster", default="releasewatch", help="the Strimzi Kafka's name")
    k8s.add_argument("--partitions", type=int, default=8)
    k8s.add_argument("--replicas", type=int, default=3)
    k8s.add_argument("--min-insync-replicas", type=int, default=2)
    k8s.add_argument(
        "--agency", action="append", default=[], help="a KafkaUser for this agency (repeatable)"
    )
    k8s.add_argument(
        "--jail", action="append", default=[], help="a KafkaUser for this jail (repeatable)"
    )
    k8s.set_defaults(func=cmd_k8s)

    health = commands.add_parser("health", help="exit 0 if the local service is healthy")
    health.add_argument("--port", type=int, default=0, help="default: RELEASEWATCH_WEB_PORT")
    health.add_argument("--ready", action="store_true", help="check /ready instead")
    health.add_argument("--timeout", type=float, default=3.0)
    health.set_defaults(func=cmd_health)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
