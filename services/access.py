"""Who may do what on the cluster: every principal of a deployment and its grants, in one
place. Two outputs are made from it: Strimzi ``KafkaUser``s (``services.kafka.admin.strimzi``,
``releasewatch k8s users``) and ACLs applied to a plain cluster (``services.kafka.admin.acls``,
``releasewatch acls apply``). Pure: values out, no I/O.

Each service runs as its own principal with least privilege: it reads its inputs, writes its
outputs, and owns its consumer group, its faust topics and its transactional ids. An agency
reads only its own notices; a jail connector only publishes booking events.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from schemas.topics import (
    ACCESS,
    ACCESS_SEALS,
    AGENCY_REQUESTS,
    AGENCY_SLUG,
    APP_ID_PREFIX,
    AUDIT,
    AUDIT_SEALS,
    BOOKING_KEYS,
    BOOKING_STATE,
    BOOKING_TICKS,
    DEADLETTER,
    DEADLINE_TICKS,
    ESCALATIONS,
    JAIL_BOOKING,
    NOTICE_ACKS,
    NOTICE_ALERTS,
    NOTIFICATION_TICKS,
    REGISTRY,
    RELEASE_SCHEDULE,
    SUBJECT_COPIES,
    TopicSpec,
    agency_notices,
)

AGENCY_GROUP_PREFIX = "agency-"  # `releasewatch agency listen` joins agency-<slug>
AGENCY_TOPICS_PREFIX = "notices."  # notices.<agency>.v1, created when a request names one
SERVICES = ("booking", "scheduling", "notification")  # the stream processors (faust)
EDGES = ("intake", "sealer")  # not faust apps: HTTP in, Kafka out; the ledger's sealer
OPS = "releasewatch-ops"  # the board and the readers: report, trace, watch, tail


class Resource(StrEnum):
    TOPIC = "topic"
    GROUP = "group"
    CLUSTER = "cluster"
    TRANSACTIONAL_ID = "transactionalId"


class Pattern(StrEnum):
    LITERAL = "literal"
    PREFIX = "prefix"


class Operation(StrEnum):
    READ = "Read"
    WRITE = "Write"
    CREATE = "Create"
    DESCRIBE = "Describe"
    IDEMPOTENT_WRITE = "IdempotentWrite"


READ = (Operation.READ, Operation.DESCRIBE)
WRITE = (Operation.WRITE, Operation.DESCRIBE)
CLUSTER_NAME = "kafka-cluster"  # Kafka's one name for the cluster resource


@dataclass(frozen=True)
class Grant:
    resource: Resource
    name: str
    operations: tuple[Operation, ...]
    pattern: Pattern = Pattern.LITERAL


@dataclass(frozen=True)
class Principal:
    name: str  # the SCRAM user name, and the certificate's CN for mutual TLS
    grants: tuple[Grant, ...]
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ServiceTopics:
    reads: tuple[TopicSpec, ...]
    writes: tuple[TopicSpec, ...]
    agency_topics: bool = False  # writes (and creates) notices.<agency>.v1
    stream: bool = True  # a faust app: its group, its own topics, its transactional ids
    group: bool = False  # not a faust app, yet in a consumer group of its own name


# What each service reads and writes (the ticks are its own). A public input's message off its
# booking's partition is moved to the service's placement topic (releasewatch-<service>-...,
# granted with its other own topics), never written back to the publishers' topic.
SERVICE_TOPICS = {
    "booking": ServiceTopics(
        reads=(JAIL_BOOKING, BOOKING_TICKS),
        writes=(BOOKING_TICKS, BOOKING_KEYS, BOOKING_STATE, DEADLETTER),
    ),
    "scheduling": ServiceTopics(
        # its own alerts read back after a restart (services.streams.readback)
        reads=(BOOKING_STATE, AGENCY_REQUESTS, DEADLINE_TICKS, NOTICE_ALERTS),
        writes=(
            DEADLINE_TICKS,
            RELEASE_SCHEDULE,
            NOTICE_ALERTS,
            ESCALATIONS,
            AUDIT,
            DEADLETTER,
        ),
    ),
    "notification": ServiceTopics(
        reads=(NOTICE_ALERTS, NOTICE_ACKS, BOOKING_STATE, BOOKING_KEYS, NOTIFICATION_TICKS),
        # notice.acks.v1 too: acknowledgements taken over HTTP with a token (#44)
        writes=(NOTIFICATION_TICKS, SUBJECT_COPIES, AUDIT, ESCALATIONS, DEADLETTER, NOTICE_ACKS),
        agency_topics=True,
    ),
    # jails' NIEM documents and agencies' requests over HTTP (#45): it publishes for them, and
    # keeps what it refuses
    "intake": ServiceTopics(
        reads=(), writes=(JAIL_BOOKING, AGENCY_REQUESTS, DEADLETTER), stream=False
    ),
    # the ledger's seals (#46): reads the ledger, writes only its seals
    "sealer": ServiceTopics(
        reads=(AUDIT, ACCESS), writes=(AUDIT_SEALS, ACCESS_SEALS), stream=False, group=True
    ),
}


def service_principal_name(service: str) -> str:
    return f"{APP_ID_PREFIX}{service}"


def service_principal(service: str) -> Principal:
    """A service: its inputs and outputs, its consumer group, its faust topics (changelog,
    assignor) and transactional ids (``exactly_once``), all named releasewatch-<service>."""
    topics = SERVICE_TOPICS[service]
    own = service_principal_name(service)
    operations: dict[str, tuple[Operation, ...]] = {}
    for spec, allowed in [*((s, READ) for s in topics.reads), *((s, WRITE) for s in topics.writes)]:
        operations[spec.name] = tuple(dict.fromkeys((*operations.get(spec.name, ()), *allowed)))
    grants = [Grant(Resource.TOPIC, name, allowed) for name, allowed in operations.items()]
    if topics.agency_topics:
        grants.append(
            Grant(
                Resource.TOPIC,
                AGENCY_TOPICS_PREFIX,
                (Operation.CREATE, *WRITE),
                Pattern.PREFIX,
            )
        )
    if topics.stream:
        grants += [
            Grant(Resource.TOPIC, f"{own}-", (*READ, Operation.WRITE), Pattern.PREFIX),
            Grant(Resource.GROUP, own, READ),
            Grant(Resource.TRANSACTIONAL_ID, own, WRITE, Pattern.PREFIX),
        ]
    elif topics.group:
        grants.append(Grant(Resource.GROUP, own, READ))
    grants.append(Grant(Resource.CLUSTER, CLUSTER_NAME, (Operation.IDEMPOTENT_WRITE,)))
    return Principal(own, tuple(grants), (("app.kubernetes.io/component", service),))


def ops_principal() -> Principal:
    """The board and the CLI's readers (report, trace, watch, tail): read every public topic
    and every agency's notices, without a consumer group; write only who looked at what
    (``ops.access.v1``, #46)."""
    grants = [
        Grant(Resource.TOPIC, spec.name, (*READ, Operation.WRITE) if spec is ACCESS else READ)
        for spec in REGISTRY
        if not spec.internal and not spec.name.startswith(AGENCY_TOPICS_PREFIX)
    ]
    grants.append(Grant(Resource.TOPIC, AGENCY_TOPICS_PREFIX, READ, Pattern.PREFIX))
    return Principal(OPS, tuple(grants), (("app.kubernetes.io/component", "ops"),))


def agency_principal(agency: str) -> Principal:
    """Least privilege for an agency: read its notices, file requests, acknowledge."""
    notices = agency_notices(agency).name  # validates the slug
    grants = (
        Grant(Resource.TOPIC, notices, READ),
        Grant(Resource.GROUP, f"{AGENCY_GROUP_PREFIX}{agency}", READ),
        Grant(Resource.TOPIC, AGENCY_REQUESTS.name, WRITE),
        Grant(Resource.TOPIC, NOTICE_ACKS.name, WRITE),
    )
    return Principal(f"agency-{agency}", grants, (("releasewatch/agency", agency),))


def jail_principal(jail: str) -> Principal:
    """A jail management system's connector: it publishes booking events, nothing else."""
    if not AGENCY_SLUG.match(jail):
        raise ValueError(f"not a slug: {jail!r} (lower-case letters, digits, hyphens)")
    grants = (Grant(Resource.TOPIC, JAIL_BOOKING.name, WRITE),)
    return Principal(f"jail-{jail}", grants, (("releasewatch/jail", jail),))


def deployment_principals(
    agencies: tuple[str, ...] = (), jails: tuple[str, ...] = ()
) -> list[Principal]:
    """Every principal of a deployment: the services, ops, and the named agencies and jails."""
    return [
        *(service_principal(service) for service in (*SERVICES, *EDGES)),
        ops_principal(),
        *(jail_principal(jail) for jail in jails),
        *(agency_principal(agency) for agency in agencies),
    ]
