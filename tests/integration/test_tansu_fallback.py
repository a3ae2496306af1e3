"""The fallback stays honest: every service end to end on Tansu, with its workarounds on.

The rest of the suite runs on the embedded Apache Kafka; this module alone overrides the
``broker`` fixture with Tansu (what runs where Java or Maven is missing).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from schemas.topics import JAIL_BOOKING
from services.kafka.admin.topics import ensure_topics_sync
from services.kafka.broker.tansu import TansuBroker
from tests.integration.conftest import ARTIFACTS, BROKERS_USED, PARTITIONS, ROOT
from tests.integration.test_cli_bad_input import run
from tests.integration.test_notification_service import flagged_booking
from tests.support.topics import KafkaHelper

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def broker() -> Iterator[TansuBroker]:
    ARTIFACTS.mkdir(exist_ok=True)
    with TansuBroker(log_file=ARTIFACTS / "broker-tansu.log") as running:
        BROKERS_USED.append(f"{running.name} at {running.bootstrap} (fallback test)")
        ensure_topics_sync(running.bootstrap, PARTITIONS)
        yield running


async def test_on_tansu_a_flagged_release_becomes_a_notice_and_bad_input_a_dead_letter(
    broker: TansuBroker, start_service: Any, kafka: KafkaHelper
) -> None:
    services = [start_service(name) for name in ("booking", "scheduling", "notification")]
    assert all(s.env["RELEASEWATCH_BROKER_FLAVOR"] == "tansu" for s in services)
    notices = await kafka.watch("notices.dhs-ice.v1")
    deadletters = await kafka.watch("deadletter.v1")
    key = await flagged_booking(kafka, "us-mn-hennepin")
    [notice] = await notices.wait_for_unique(lambda r: r.key == key, 1, 120, what="notice")
    assert notice.value["data"]["agency"] == "dhs-ice"
    await kafka.publish(JAIL_BOOKING.name, b"{not json", key=key)
    await deadletters.wait_for_unique(
        lambda r: r.key == key, 1, 60, id_field="deadletter_id", what="dead letter"
    )


def test_publishing_to_tansu_without_its_flavor_says_what_to_set(broker: TansuBroker) -> None:
    """Producers are idempotent as shipped and Tansu has none: a tool pointed at Tansu
    without ``RELEASEWATCH_BROKER_FLAVOR`` (the line `releasewatch broker` prints) is told
    so in words, and with it the same event goes out."""
    event = str(ROOT / "examples" / "booking-opened.json")
    url = {"RELEASEWATCH_BROKER_URL": broker.url}
    refused = run(["publish", event], url)
    assert refused.returncode == 1, refused.stderr
    assert "refused an idempotent producer" in refused.stderr
    assert "RELEASEWATCH_BROKER_FLAVOR=tansu" in refused.stderr
    published = run(["publish", event], {**url, "RELEASEWATCH_BROKER_FLAVOR": "tansu"})
    assert published.returncode == 0, published.stderr
    assert published.stdout.startswith(f"{JAIL_BOOKING.name}[")
