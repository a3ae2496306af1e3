"""``topics``, ``k8s``, ``acls``, ``states`` and ``health``: a deployment's jobs and checks."""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import urllib.request
from typing import Any

from services.cli.failures import (
    RunFailure,
    UsageError,
    load_settings,
    registry_agencies,
    require_broker_url,
    talking_to_broker,
)
from services.kafka.client.security import client_options
from services.ops import logging as rw_logging


def register(commands: Any) -> None:
    topics = commands.add_parser("topics", help="the topics of the registry on the cluster")
    topics_commands = topics.add_subparsers(dest="topics_command", required=True)
    create = topics_commands.add_parser(
        "create", help="create every topic (retention, replication); a deployment's first job"
    )
    create.add_argument(
        "--agency",
        action="append",
        default=[],
        help="also notices.<agency>.v1 (repeatable; the registry's agencies always)",
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
        "--agency",
        action="append",
        default=[],
        help="a KafkaUser for this agency (repeatable; default: every agency of the registry)",
    )
    k8s.add_argument(
        "--jail", action="append", default=[], help="a KafkaUser for this jail (repeatable)"
    )
    k8s.set_defaults(func=cmd_k8s)

    acls = commands.add_parser(
        "acls", help="the principals' ACLs on a plain cluster (what `k8s users` gives Strimzi)"
    )
    acls_commands = acls.add_subparsers(dest="acls_command", required=True)
    for name, helptext in (
        ("apply", "create every ACL of the services, ops, and the agencies and jails named"),
        ("show", "print those ACLs, one per line, without a broker"),
    ):
        command = acls_commands.add_parser(name, help=helptext)
        command.add_argument(
            "--agency", action="append", default=[], help="(repeatable; default: the registry's)"
        )
        command.add_argument("--jail", action="append", default=[], help="(repeatable)")
        command.set_defaults(func=cmd_acls)
    acls_commands.add_parser("list", help="print the ACLs the cluster has").set_defaults(
        func=cmd_acls
    )

    states = commands.add_parser("states", help="the booking service's current states")
    states_commands = states.add_subparsers(dest="states_command", required=True)
    republish = states_commands.add_parser(
        "republish",
        help="publish every booking's current state to booking.state.v1 again, from the "
        "booking service's changelog (once, when upgrading to notification's own copies)",
    )
    republish.add_argument("--dry-run", action="store_true", help="count them, send nothing")
    republish.set_defaults(func=cmd_states_republish)

    health = commands.add_parser("health", help="exit 0 if the local service is healthy")
    health.add_argument("--port", type=int, default=0, help="default: RELEASEWATCH_WEB_PORT")
    health.add_argument("--ready", action="store_true", help="check /ready instead")
    health.add_argument("--timeout", type=float, default=3.0)
    health.set_defaults(func=cmd_health)


def cmd_topics_create(args: argparse.Namespace) -> int:
    """The one-shot job of a deployment: every topic, with its retention and replication."""
    from schemas.owned_topics import FaustTopic, faust_topics
    from schemas.topics import REGISTRY, TopicSpec, agency_notices
    from services.kafka.admin.partitions import PartitionCountError
    from services.kafka.admin.retention import RetentionError
    from services.kafka.admin.topics import TopicCreateError, ensure_topics

    settings = load_settings()
    rw_logging.configure("topics", settings.log_format, settings.log_level)  # what it changed
    try:
        wanted = [*registry_agencies(settings), *args.agency]
        extra = [agency_notices(agency) for agency in dict.fromkeys(wanted)]
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    require_broker_url(settings)
    specs: list[TopicSpec | FaustTopic] = [*REGISTRY, *extra, *faust_topics()]
    try:
        with talking_to_broker(settings, "cannot create topics on"):
            created = asyncio.run(
                ensure_topics(
                    client_options(settings),
                    settings.partitions,
                    settings.replication_factor,
                    specs,
                    timeout=args.wait,
                    min_insync_replicas=settings.min_insync_replicas,
                    jail_retention_days=settings.jail_retention_days,
                    hold=True,
                )
            )
    except (TopicCreateError, PartitionCountError, RetentionError) as exc:
        raise RunFailure(f"cannot create topics on {settings.broker_url}: {exc}") from None
    print(f"topics: {len(created)} created, {len(specs) - len(created)} already there")
    return 0


def cmd_topics_list(args: argparse.Namespace) -> int:
    from schemas.owned_topics import FaustTopic, faust_topics
    from schemas.topics import REGISTRY, TopicSpec
    from services.kafka.admin.retention import bounded
    from services.kafka.admin.topics import plan

    settings = load_settings()
    specs: list[TopicSpec | FaustTopic] = [*REGISTRY, *faust_topics()]
    plans = plan(
        bounded(specs, settings.jail_retention_days),
        settings.partitions,
        settings.replication_factor,
        settings.min_insync_replicas,
    )
    for topic in plans:
        config = " ".join(f"{key}={value}" for key, value in sorted(topic.config.items()))
        replicas = topic.replication_factor or "auto"
        print(f"{topic.name}\t{topic.partitions}\t{replicas}\t{config}")
    return 0


def cmd_k8s(args: argparse.Namespace) -> int:
    import yaml

    from services.kafka.admin import strimzi as deployment

    documents: list[Any]
    if args.what == "topics":
        documents = deployment.kafka_topics(
            args.cluster, args.partitions, args.replicas, args.min_insync_replicas
        )
    else:
        try:
            agencies = tuple(args.agency) or registry_agencies(load_settings())
            documents = deployment.kafka_users(args.cluster, agencies, tuple(args.jail))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    print(deployment.HEADER, end="")
    print(yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True), end="")
    return 0


def cmd_acls(args: argparse.Namespace) -> int:
    """``acls apply`` needs a login allowed to alter ACLs (a super user, to begin with)."""
    from schemas.access import AccessAction
    from services.access import deployment_principals
    from services.cli.looks import record_look
    from services.kafka.admin import acls

    if args.acls_command != "list":
        try:
            agencies = tuple(args.agency) or registry_agencies(load_settings())
            principals = deployment_principals(agencies, tuple(args.jail))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if args.acls_command == "show":
            print("\n".join(str(binding) for binding in acls.bindings(principals)))
            return 0
    settings = load_settings()
    require_broker_url(settings)
    try:
        with talking_to_broker(settings, "cannot manage ACLs on"):
            if args.acls_command == "list":
                found = asyncio.run(acls.listed(client_options(settings)))
                print("\n".join(str(binding) for binding in found) or "no ACLs")
                return 0
            applied = asyncio.run(acls.apply(client_options(settings), principals))
            change = f"acls apply: {len(applied)} bindings for {len(principals)} principals"
            record_look(settings, change, AccessAction.CHANGE)  # CJIS: permission changes
    except acls.AclError as exc:
        raise RunFailure(f"cannot manage ACLs on {settings.broker_url}: {exc}") from None
    print(f"acls: {len(applied)} in place for {len(principals)} principals")
    return 0


def cmd_states_republish(args: argparse.Namespace) -> int:
    """Notification renders notices from its own copy of each booking's state, which it takes
    from booking.state.v1 (30 days' retention). A booking whose last state is older than that
    when the upgrade lands has no copy there: its alerts would wait (``alert_held``). This
    reads the booking service's changelog (the last record of each booking) and publishes
    each booking's current state again, with its own event id: scheduling takes it as a
    redelivery, notification copies what it lacks. Run with the booking service's login (it
    may read that changelog and write booking.state.v1)."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from schemas.owned_topics import changelog_topic
    from schemas.topics import BOOKING_STATE
    from services.booking.domain import BookingRecord, states_to_republish
    from services.kafka.admin.metadata import partitions_of
    from services.kafka.client import read
    from services.kafka.client.clients import running
    from services.kafka.client.security import consumer_options, producer_options
    from services.streams.codec import encode

    changelog = changelog_topic("booking", "bookings")
    settings = load_settings()
    require_broker_url(settings)

    async def republish() -> tuple[int, int]:
        latest: dict[str, BookingRecord | None] = {}
        consumer = AIOKafkaConsumer(
            **consumer_options(settings), group_id=None, enable_auto_commit=False
        )
        async with running(consumer):
            numbers = await partitions_of(consumer, changelog)
            partitions = [TopicPartition(changelog, number) for number in numbers]
            async for record in read.to_end(consumer, partitions):
                key = json.loads(record.key) if record.key else None
                if isinstance(key, str):
                    value = read.json_value(record)
                    latest[key] = BookingRecord.model_validate(value) if value else None
        states = states_to_republish(latest)
        if args.dry_run:
            return len(latest), len(states)
        producer = AIOKafkaProducer(**client_options(settings), **producer_options(settings))
        async with running(producer):
            sent = [
                await producer.send(BOOKING_STATE.name, key=state.key.encode(), value=encode(state))
                for state in states
            ]
            await asyncio.gather(*sent)
        return len(latest), len(states)

    with talking_to_broker(settings):
        held, republished = asyncio.run(republish())
    verb = "would publish" if args.dry_run else "published"
    print(f"states: {held:,} bookings in the booking service's table; {verb} {republished:,}")
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    """For container health checks: exit 0 if this container's service answers /health."""
    settings = load_settings()
    port = args.port or settings.web_port
    if not port:
        raise UsageError("give --port or set RELEASEWATCH_WEB_PORT")
    scheme = "https" if settings.web_certfile else "http"
    url = f"{scheme}://127.0.0.1:{port}/{'ready' if args.ready else 'health'}"
    # Its own process on loopback: the certificate names the service's public host, not
    # 127.0.0.1, so it is not checked here (liveness only; nothing is sent).
    local = ssl._create_unverified_context() if scheme == "https" else None
    try:
        with urllib.request.urlopen(url, timeout=args.timeout, context=local) as response:
            ok = response.status == 200
    except OSError as exc:
        raise RunFailure(f"{url}: {getattr(exc, 'reason', exc)}") from None
    return 0 if ok else 1
