"""How long the broker keeps what a jail sent (#46): `releasewatch topics create` with
RELEASEWATCH_JAIL_RETENTION_DAYS brings jail.booking.v1 and the booking service's placed copies
to it on a cluster where they already exist (kept forever), keeps each topic's other settings,
touches no other topic, and changes nothing the second time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas.owned_topics import placement_topic
from schemas.topics import DAY_MS, DEADLETTER, JAIL_BOOKING
from services.kafka.broker.embedded import EmbeddedBroker
from services.ops import events
from tests.integration.conftest import service_env
from tests.support.topics import KafkaHelper
from tests.support.workers import run_cli

pytestmark = pytest.mark.integration

PLACED = placement_topic("booking", JAIL_BOOKING).name


def changed_topics(stderr: str) -> list[str]:
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return sorted(f["topic"] for f in lines if f.get("event") == events.TOPIC_RETENTION_CHANGED)


async def test_topics_create_bounds_what_a_jail_sent_on_topics_that_already_exist(
    broker: EmbeddedBroker, kafka: KafkaHelper, tmp_path: Path
) -> None:
    if broker.flavor == "tansu":
        pytest.skip("Tansu keeps no topic configuration to alter")
    env = service_env(broker, tmp_path)
    created = run_cli(env, "topics", "create")
    assert created.returncode == 0, created.stderr
    assert (await kafka.set_on(JAIL_BOOKING.name))["retention.ms"] == "-1"
    assert (await kafka.set_on(PLACED))["retention.ms"] == "-1"
    dead_letters = await kafka.set_on(DEADLETTER.name)

    # an operator's own setting on the jail's topic (restored, with the retention, on exit)
    async with (
        kafka.topic_config(JAIL_BOOKING.name, segment_ms="3600000"),
        kafka.topic_config(PLACED),
    ):
        bounded = run_cli({**env, "RELEASEWATCH_JAIL_RETENTION_DAYS": "30"}, "topics", "create")
        assert bounded.returncode == 0, bounded.stderr
        assert changed_topics(bounded.stderr) == sorted([JAIL_BOOKING.name, PLACED])

        jail = await kafka.set_on(JAIL_BOOKING.name)
        assert jail["retention.ms"] == str(30 * DAY_MS)
        assert jail["segment.ms"] == "3600000"  # kept
        assert jail["cleanup.policy"] == "delete"
        assert (await kafka.set_on(PLACED))["retention.ms"] == str(30 * DAY_MS)
        assert await kafka.set_on(DEADLETTER.name) == dead_letters

        again = run_cli({**env, "RELEASEWATCH_JAIL_RETENTION_DAYS": "30"}, "topics", "create")
        assert again.returncode == 0, again.stderr
        assert changed_topics(again.stderr) == []

        listed = run_cli({**env, "RELEASEWATCH_JAIL_RETENTION_DAYS": "30"}, "topics", "list")
        rows = {line.split("\t")[0]: line for line in listed.stdout.splitlines()}
        assert f"retention.ms={30 * DAY_MS}" in rows[JAIL_BOOKING.name]
        assert f"retention.ms={90 * DAY_MS}" in rows[DEADLETTER.name]

        refused = run_cli({**env, "RELEASEWATCH_JAIL_RETENTION_DAYS": "0"}, "topics", "create")
        assert refused.returncode == 2
        assert "RELEASEWATCH_JAIL_RETENTION_DAYS" in refused.stderr
    assert (await kafka.set_on(JAIL_BOOKING.name))["retention.ms"] == "-1"
