"""The topic registry: every topic's name, key rule, cleanup policy and message model.

Partition counts come from settings (``RELEASEWATCH_PARTITIONS``) and are the same for every
topic, so that one booking's messages are co-partitioned everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import get_args

from pydantic import BaseModel

from schemas.access import AccessEvent
from schemas.agency_requests import NoticeRequestReceived, NoticeRequestWithdrawn
from schemas.audit import AuditRecord, DeliveryAttempt
from schemas.booking_keys import BookingKey
from schemas.booking_state import BookingState
from schemas.deadletter import DeadLetter
from schemas.escalations import Escalation
from schemas.jail_booking import (
    BookingOpened,
    ChargesUpdated,
    InmateReleased,
    InmateTransferred,
    ReleaseScheduled,
    ReleaseUnscheduled,
    SentenceImposed,
)
from schemas.ledger_seals import LedgerSeal
from schemas.notice_acks import NoticeAck
from schemas.notice_alerts import NoticeAlert
from schemas.notices import Notice
from schemas.release_schedule import ReleaseSchedule
from schemas.ticks import DeadlineTick

KEY_RULE = "<jurisdiction>/<booking_id>"
MAX_MESSAGE_BYTES = 1024 * 1024  # SPEC 5: inputs over 1 MiB are dead-lettered
DAY_MS = 24 * 3600 * 1000
FOREVER = -1


class Cleanup(StrEnum):
    DELETE = "delete"
    COMPACT = "compact"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    description: str
    messages: tuple[type[BaseModel], ...]
    key_rule: str = KEY_RULE
    cleanup: Cleanup = Cleanup.DELETE
    # retention.ms; FOREVER keeps every message (compliance records). A compacted topic a
    # service consumes (booking.keys.v1) has holes where compaction removed records: the gap
    # guard's probe (services/kafka/client/holes.py) finds no record in them and goes on.
    retention_ms: int = 30 * DAY_MS
    # min.compaction.lag.ms of a compacted topic: no record younger is compacted away, so a
    # consumer less behind than that reads every record (a key replaced, then destroyed)
    compaction_lag_ms: int | None = None
    is_input: bool = False  # published by systems outside releasewatch
    internal: bool = False  # between workers of one service; not part of the public contract

    @cached_property  # asked for every message a service reads
    def event_types(self) -> tuple[str, ...]:
        """The ``type`` of every event the topic carries (the envelope's discriminator)."""
        types: list[str] = []
        for model in self.messages:
            field = model.model_fields.get("type")
            if field is not None:  # a Literal, with or without its default
                types.extend(
                    value for value in get_args(field.annotation) if isinstance(value, str)
                )
        return tuple(types)


JAIL_BOOKING = TopicSpec(
    "jail.booking.v1",
    "Booking events from jail management systems.",
    (
        BookingOpened,
        ChargesUpdated,
        SentenceImposed,
        ReleaseScheduled,
        ReleaseUnscheduled,
        InmateReleased,
        InmateTransferred,
    ),
    is_input=True,
    # Kept: with agency.requests.v1, the only source every table can be rebuilt from.
    retention_ms=FOREVER,
)
AGENCY_REQUESTS = TopicSpec(
    "agency.requests.v1",
    "Notice requests (I-247A and similar) filed and withdrawn by agencies.",
    (NoticeRequestReceived, NoticeRequestWithdrawn),
    is_input=True,
    retention_ms=FOREVER,  # the written requests themselves; few, and asked for in audits
)
BOOKING_STATE = TopicSpec(
    "booking.state.v1",
    "The booking service's full state of a booking after each accepted event.",
    (BookingState,),
)
BOOKING_KEYS = TopicSpec(
    "booking.keys.v1",
    "Each booking's data key, wrapped under a key-encryption key: what opens the person "
    "sealed on booking.state.v1. Compacted: a retired booking's key is destroyed.",
    (BookingKey,),
    cleanup=Cleanup.COMPACT,
    retention_ms=FOREVER,
    compaction_lag_ms=7 * DAY_MS,
)
RELEASE_SCHEDULE = TopicSpec(
    "release.schedule.v1",
    "The scheduling service's view of each booking's release, one message per change.",
    (ReleaseSchedule,),
)
NOTICE_ALERTS = TopicSpec("notice.alerts.v1", "The deadline agent's alerts.", (NoticeAlert,))
NOTICE_ACKS = TopicSpec(
    "notice.acks.v1",
    "Agencies acknowledge notices here.",
    (NoticeAck,),
    is_input=True,
    retention_ms=90 * DAY_MS,
)
SUBJECT_COPIES = TopicSpec(
    "notices.subject-copies.v1",
    "Copies of notices owed to the person and their attorney where policy requires it.",
    (Notice,),
    retention_ms=90 * DAY_MS,
)
AUDIT = TopicSpec(
    "notice.audit.v1",
    "The compliance ledger: every step of every notice and request, and every attempt to "
    "deliver a notice beyond Kafka.",
    (AuditRecord, DeliveryAttempt),
    retention_ms=FOREVER,  # the compliance ledger is never deleted by the broker
)
AUDIT_SEALS = TopicSpec(
    "notice.audit.seals.v1",
    "The ledger's seals: each partition of notice.audit.v1 bound into a hash chain, its head "
    "signed (Ed25519) every stretch; partition p seals the ledger's partition p.",
    (LedgerSeal,),
    key_rule="the ledger partition sealed, as decimal text",
    retention_ms=FOREVER,  # kept as long as the ledger they vouch for
)
ACCESS = TopicSpec(
    "ops.access.v1",
    "Who looked at what: every sign-in, sign-out, look at CJI and refusal (CJIS audit events).",
    (AccessEvent,),
    key_rule="the person's name, or '-'",
    retention_ms=400 * DAY_MS,  # CJIS 5.4.7: a year at least
)
ACCESS_SEALS = TopicSpec(
    "ops.access.seals.v1",
    "The access log's seals, as notice.audit.seals.v1 is the ledger's.",
    (LedgerSeal,),
    key_rule="the access log partition sealed, as decimal text",
    retention_ms=FOREVER,
)
ESCALATIONS = TopicSpec(
    "ops.escalations.v1",
    "Notices not acknowledged in time; flagged people released without notice.",
    (Escalation,),
    retention_ms=90 * DAY_MS,
)
DEADLINE_TICKS = TopicSpec(
    "scheduling.ticks.v1",
    "Internal: the deadline timer asks the partition's agent to check a booking now.",
    (DeadlineTick,),
    internal=True,
    retention_ms=1 * DAY_MS,
)
BOOKING_TICKS = TopicSpec(
    "booking.ticks.v1",
    "Internal: a closed booking's retirement fell due; the partition's agent retires it.",
    (DeadlineTick,),
    internal=True,
    retention_ms=1 * DAY_MS,
)
NOTIFICATION_TICKS = TopicSpec(
    "notification.ticks.v1",
    "Internal: an acknowledgement fell overdue; the partition's agent resends or escalates.",
    (DeadlineTick,),
    internal=True,
    retention_ms=1 * DAY_MS,
)
DEADLETTER = TopicSpec(
    "deadletter.v1",
    "Every input message that could not be accepted, with the reason.",
    (DeadLetter,),
    key_rule="the original message key, verbatim",
    retention_ms=90 * DAY_MS,  # time for operations to fix and re-publish
)

AGENCY_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
AGENCY_TOPIC_TEMPLATE = "notices.{agency}.v1"
RESERVED_AGENCY_SLUGS = frozenset({"subject-copies"})  # would collide with SUBJECT_COPIES


def agency_notices(agency: str) -> TopicSpec:
    """The topic an agency consumes its notices from."""
    if not AGENCY_SLUG.match(agency) or agency in RESERVED_AGENCY_SLUGS:
        raise ValueError(f"not an agency slug: {agency!r}")
    return TopicSpec(
        AGENCY_TOPIC_TEMPLATE.format(agency=agency),
        f"Notices for agency {agency}.",
        (Notice,),
        retention_ms=90 * DAY_MS,  # an agency's integration may be down for weeks
    )


# Every agency's notices topic (notices.<slug>.v1), as a regular expression; the subject
# copies topic matches the same shape and is told apart with is_agency_topic.
AGENCY_TOPICS_REGEX = r"notices\.[a-z0-9][a-z0-9-]*\.v1"


def is_agency_topic(name: str) -> bool:
    return re.fullmatch(AGENCY_TOPICS_REGEX, name) is not None and name != SUBJECT_COPIES.name


def pattern_of(*specs: TopicSpec, agencies: bool = False) -> str:
    """A subscription pattern for these topics (and every agency's notices)."""
    names = [re.escape(spec.name) for spec in specs]
    if agencies:
        names.append(AGENCY_TOPICS_REGEX)
    return "^(" + "|".join(names) + ")$"


# Agencies whose topic exists from the start; others are created when a request names them.
KNOWN_AGENCIES = ("dhs-ice",)

REGISTRY: tuple[TopicSpec, ...] = (
    JAIL_BOOKING,
    AGENCY_REQUESTS,
    BOOKING_STATE,
    BOOKING_KEYS,
    RELEASE_SCHEDULE,
    NOTICE_ALERTS,
    NOTICE_ACKS,
    SUBJECT_COPIES,
    AUDIT,
    AUDIT_SEALS,
    ACCESS,
    ACCESS_SEALS,
    ESCALATIONS,
    DEADLETTER,
    BOOKING_TICKS,
    DEADLINE_TICKS,
    NOTIFICATION_TICKS,
    *(agency_notices(agency) for agency in KNOWN_AGENCIES),
)


APP_ID_PREFIX = "releasewatch-"  # every topic, group and principal a service owns


def input_topic_for(event_type: str) -> TopicSpec | None:
    """The public input topic (published by jails and agencies) that carries ``event_type``."""
    for spec in REGISTRY:
        if spec.is_input and event_type in spec.event_types:
            return spec
    return None


def by_name(name: str) -> TopicSpec:
    for spec in REGISTRY:
        if spec.name == name:
            return spec
    match = re.fullmatch(r"notices\.([a-z0-9-]+)\.v1", name)
    if match:
        return agency_notices(match.group(1))
    raise KeyError(f"unknown topic {name!r}; known: {', '.join(s.name for s in REGISTRY)}")
