"""The topics a service owns (named releasewatch-<service>-...): faust's, for its tables and
its partition assignor, and the placement topics where a public input's messages are moved to
their booking's partition. The public contract is ``schemas.topics``."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.topics import (
    AGENCY_REQUESTS,
    APP_ID_PREFIX,
    JAIL_BOOKING,
    NOTICE_ACKS,
    Cleanup,
    TopicSpec,
)


@dataclass(frozen=True)
class FaustTopic:
    """A topic a service owns (named releasewatch-<service>-...): faust's for its table and its
    partition assignor, and the service's placement topics. Created up front by
    `releasewatch topics create`, so the services need no create permission in production."""

    name: str
    cleanup: Cleanup
    single_partition: bool = False
    retention_ms: int | None = None  # None: the broker's default


SERVICE_TABLES = {
    "booking": ("bookings",),
    "scheduling": ("bookings",),
    "notification": ("notices",),
}


# The public inputs each service reads. Their publishers may use any client and partitioner:
# each message is placed on its booking's partition by the service itself (its placement
# topic, Kafka Streams' repartition topic; services/streams/placement.py).
SERVICE_PUBLIC_INPUTS: dict[str, tuple[TopicSpec, ...]] = {
    "booking": (JAIL_BOOKING,),
    "scheduling": (AGENCY_REQUESTS,),
    "notification": (NOTICE_ACKS,),
}


def placement_topic(service: str, source: TopicSpec) -> TopicSpec:
    """Where ``service`` places the messages of the public input ``source`` that arrived on a
    partition other than their booking's: written with releasewatch's own partitioner, read by
    the same agent as the service's other inputs. Kept as long as the source, so a message
    moved and not yet handled outlives any outage the source would."""
    return TopicSpec(
        f"{APP_ID_PREFIX}{service}-{source.name}-placed",
        f"Internal: {source.name} messages placed on their booking's partition by {service}.",
        source.messages,
        internal=True,
        retention_ms=source.retention_ms,
    )


def changelog_topic(service: str, table: str) -> str:
    """The compacted topic faust keeps a service's table in."""
    return f"{APP_ID_PREFIX}{service}-{table}-changelog"


def faust_topics() -> tuple[FaustTopic, ...]:
    topics: list[FaustTopic] = []
    for service, tables in SERVICE_TABLES.items():
        app_id = f"{APP_ID_PREFIX}{service}"
        topics.extend(
            FaustTopic(changelog_topic(service, table), Cleanup.COMPACT) for table in tables
        )
        topics.append(FaustTopic(f"{app_id}-__assignor-__leader", Cleanup.DELETE, True))
        topics.extend(
            FaustTopic(placed.name, Cleanup.DELETE, retention_ms=placed.retention_ms)
            for placed in (
                placement_topic(service, source) for source in SERVICE_PUBLIC_INPUTS[service]
            )
        )
    return tuple(topics)
