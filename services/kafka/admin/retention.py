"""How long the broker keeps what a jail sent (#46, CJIS 5.8: CJI kept no longer than needed).

A jail on Kafka writes ``jail.booking.v1`` itself, the person in clear (SPEC 3.1); the booking
service's placed copies of its misplaced messages are sealed, but under one-off keys that no
retirement destroys. Both are kept forever by default: with ``agency.requests.v1`` they are the
source every table can be rebuilt from. ``RELEASEWATCH_JAIL_RETENTION_DAYS`` bounds them: new
topics are created with it, and ``releasewatch topics create`` brings existing ones to it
(AlterConfigs, keeping each topic's other settings), so a county that shortens it sees its old
segments deleted by the broker within a segment's age of the new bound."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code

from schemas.owned_topics import FaustTopic, placement_topic
from schemas.topics import DAY_MS, JAIL_BOOKING, TopicSpec
from services.ops import events
from services.ops.logging import get_logger

log = get_logger(__name__)

# What a jail sent, as it sent it: its topic, and the booking service's placed copies.
JAIL_TOPICS = frozenset({JAIL_BOOKING.name, placement_topic("booking", JAIL_BOOKING).name})
# DescribeConfigs' config_source of a setting made on the topic itself (not a default).
_SET_ON_TOPIC = 1


class RetentionError(RuntimeError):
    """The cluster refused to change a topic's retention (permission, a bad value)."""


def bounded(
    specs: Iterable[TopicSpec | FaustTopic], jail_retention_days: int | None
) -> list[TopicSpec | FaustTopic]:
    """``specs`` with the jail's topics kept ``jail_retention_days`` (None: as registered)."""
    if jail_retention_days is None:
        return list(specs)
    ms = jail_retention_days * DAY_MS
    return [
        dataclasses.replace(spec, retention_ms=ms) if spec.name in JAIL_TOPICS else spec
        for spec in specs
    ]


async def hold_retention(
    admin: AIOKafkaAdminClient, wanted: dict[str, str], existing: Iterable[str]
) -> list[str]:
    """Bring ``retention.ms`` of the topics of ``wanted`` (name: retention.ms) that exist to
    their value; return the names changed. AlterConfigs replaces a topic's whole dynamic
    configuration: what is set on the topic is read first and kept."""
    changed = []
    for name in sorted(set(wanted) & set(existing)):
        own = await set_on_topic(admin, name)
        if own.get("retention.ms") == wanted[name]:
            continue
        configs = {**own, "retention.ms": wanted[name]}
        [response] = await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, configs=configs)]
        )
        [(code, message, *_)] = response.resources
        _raise_for(name, code, message, "change")
        log.info(
            events.TOPIC_RETENTION_CHANGED,
            topic=name,
            was=own.get("retention.ms", "the broker's default"),
            now=wanted[name],
        )
        changed.append(name)
    return changed


async def set_on_topic(admin: AIOKafkaAdminClient, name: str) -> dict[str, str]:
    """What is set on topic ``name`` itself (not the broker's defaults): what AlterConfigs,
    which replaces a topic's whole dynamic configuration, must be given again to keep."""
    [described] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    [(code, message, _, _, entries)] = described.resources
    _raise_for(name, code, message, "read")
    # entries: name, value, read_only, source, sensitive, synonyms
    return {entry[0]: entry[1] for entry in entries if entry[3] == _SET_ON_TOPIC}


def _raise_for(topic: str, code: int, message: str | None, doing: str) -> None:
    if code:
        raise RetentionError(
            f"cannot {doing} the retention of {topic}: {for_code(code).__name__}: "
            f"{message or 'refused'} (RELEASEWATCH_JAIL_RETENTION_DAYS; an administrator's "
            "login may alter topic configurations)"
        )
