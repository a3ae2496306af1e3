"""Notices delivered by signed webhooks (#44), end to end: jail and agency events on the real
Kafka, the three services, and real HTTPS endpoints on 127.0.0.1 (TLS from the test's CA).

One stack, one scripted endpoint answering per booking: delivered at once; 500/503 then 200;
410; down for good; slow past the timeout; a redirect (not followed); acknowledged while
retrying. Beside it, the example receiver an agency starts from (``examples/``, verifying
with the reference ``standardwebhooks`` package) as its own process, an endpoint whose
certificate no trusted CA signed, and one on a loopback address the registry does not allow.
Then the notification worker is killed with kill -9 mid-delivery: it resumes from its stored
state. Every attempt is in the ledger (``notice.delivery`` on ``notice.audit.v1``).
"""

from __future__ import annotations

import base64
import json
import os
import select
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from schemas.topics import AUDIT, DEADLETTER, ESCALATIONS, NOTICE_ACKS
from tests import factories as f
from tests.support.bookings import Booking, now
from tests.support.certs import Authority
from tests.support.poll import until
from tests.support.topics import KafkaHelper, Record, Watch
from tests.support.webhooks import SLOW, ScriptedEndpoint

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
H = timedelta(hours=1)


def secret(seed: str) -> str:
    return "whsec_" + base64.b64encode(seed.encode().ljust(32, b".")).decode()


ACK_SECRET = "acknowledgement tokens' secret for this test run"
TOKEN_SECONDS = 25  # the acknowledgement links' lifetime here (7 days as shipped)
# Agencies of this test only: the session's broker still carries other tests' dhs-ice
# notices, which this notification worker may read too (they stay Kafka-only here).
SECRETS = {"ice-example": secret("ice"), "test-hooks": secret("hooks"), "wrong-tls": secret("tls")}
REGISTRY = """
agencies:
  - slug: ice-example
    name: ICE ERO (the example receiver)
    webhook:
      url: https://localhost:{example}/releasewatch/notices
      secrets: env:RW_TEST_SECRETS_ICE_EXAMPLE
      allow_private_addresses: true
  - slug: test-hooks
    name: a scripted endpoint
    contact: duty line 555-0100
    webhook:
      url: {scripted}
      secrets: env:RW_TEST_SECRETS_TEST_HOOKS
      allow_private_addresses: true
      timeout_seconds: 1
      max_retry_hours: 0.004     # 14 s: every retry 1 s apart (the schedule's floor)
  - slug: wrong-tls
    name: an endpoint with a certificate no trusted CA signed
    webhook:
      url: {stranger}
      secrets: env:RW_TEST_SECRETS_WRONG_TLS
      allow_private_addresses: true
      max_retry_hours: 0.002
  - slug: no-private
    name: an endpoint on loopback, not allowed
    webhook:
      url: https://127.0.0.1:{example}/releasewatch/notices
      secrets: env:RW_TEST_SECRETS_TEST_HOOKS
      max_retry_hours: 0.002
"""
# booking label -> what the scripted endpoint answers, in order (the last repeats)
SCRIPTS = {
    "ok": [200],
    "flaky": [500, 503, 200],
    "gone": [410],
    "down": [503],
    "slow": [SLOW, 200],
    "redirect": [307, 200],
    "acked": [503],
}


async def post_ack(link: dict[str, str]) -> int:
    """What an agency's system does with a notice's ``acknowledge`` object."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            link["method"], link["url"], headers={"authorization": link["authorization"]}
        ) as answer,
    ):
        return answer.status


def acknowledged(key: str) -> Callable[[Record], bool]:
    return lambda r: r.key == key and r.value["data"].get("step") == "acknowledged"


def booked(key: str) -> Callable[[Record], bool]:
    return lambda record: record.key == key


def deliveries(audit: Watch, key: str) -> list[dict[str, Any]]:
    return [
        r.value["data"]
        for r in audit.unique(lambda r: r.key == key and r.value["type"] == "notice.delivery")
    ]


def results(audit: Watch, key: str) -> list[str]:
    return [d["result"] for d in sorted(deliveries(audit, key), key=lambda d: d["attempt"])]


async def ended(audit: Watch, key: str, timeout: float = 60) -> list[str]:
    """The booking's delivery results once one ended it (delivered, gone or gave up)."""
    final = {"delivered", "gone", "gave_up"}
    await until(lambda: final & set(results(audit, key)), timeout, f"delivery of {key} ended")
    return results(audit, key)


async def flagged(kafka: KafkaHelper, agency: str, release_in: timedelta = 10 * H) -> Booking:
    booking = Booking(kafka)
    await booking.open()
    await booking.request(agency=agency)
    await booking.schedule(now() + release_in)
    return booking


@pytest.fixture
def example_receiver(tmp_path: Path, authority: Authority) -> Iterator[tuple[int, Path]]:
    """examples/webhook_receiver.py as an agency would run it, on a free port."""
    cert, key = authority.server("receiver", ("localhost", "127.0.0.1"))
    out = tmp_path / "kept.jsonl"
    env = {**os.environ, "RELEASEWATCH_WEBHOOK_SECRETS": SECRETS["ice-example"]}
    command = [sys.executable, str(ROOT / "examples" / "webhook_receiver.py"), "--port", "0"]
    command += ["--certfile", str(cert), "--keyfile", str(key), "--out", str(out)]
    command += ["--ack-by", "ERO duty officer"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        line = process.stdout.readline() if ready else ""
        assert line.startswith("listening"), f"the example receiver said {line!r}"
        yield int(line.rsplit(":", 1)[1].split("/")[0]), out
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return Authority.create(tmp_path / "ca")


async def test_notices_are_delivered_retried_escalated_and_resumed_after_kill(
    start_service: Any,
    kafka: KafkaHelper,
    tmp_path: Path,
    authority: Authority,
    example_receiver: tuple[int, Path],
) -> None:
    example_port, kept = example_receiver
    cert, key = authority.server("scripted", ("localhost",))
    stranger_ca = Authority.create(tmp_path / "stranger-ca", "not a trusted CA")
    stranger_cert, stranger_key = stranger_ca.server("stranger", ("localhost",))
    async with (
        ScriptedEndpoint(SECRETS["test-hooks"], cert, key, slow_seconds=3) as scripted,
        ScriptedEndpoint(SECRETS["wrong-tls"], stranger_cert, stranger_key) as stranger,
    ):
        registry = tmp_path / "agencies.yaml"
        registry.write_text(
            REGISTRY.format(example=example_port, scripted=scripted.url, stranger=stranger.url)
        )
        env = {
            "RELEASEWATCH_AGENCIES_FILE": str(registry),
            "RELEASEWATCH_DELIVERY_CAFILE": str(authority.ca_file),
            "RELEASEWATCH_ACK_TOKEN_SECRET": ACK_SECRET,
            "RELEASEWATCH_ACK_TOKEN_DAYS": str(TOKEN_SECONDS / 86400),
            **{
                f"RW_TEST_SECRETS_{slug.upper().replace('-', '_')}": s
                for slug, s in SECRETS.items()
            },
        }
        start_service("booking")
        start_service("scheduling")
        notification = start_service("notification", **env)
        audit = await kafka.watch(AUDIT.name)
        escalations = await kafka.watch(ESCALATIONS.name)
        dead_letters = await kafka.watch(DEADLETTER.name)

        ice = await flagged(kafka, "ice-example")
        scripted_bookings = {}
        for label, script in SCRIPTS.items():
            booking = await flagged(kafka, "test-hooks")
            scripted.scripts[booking.id] = script
            scripted_bookings[label] = booking
        wrong_tls = await flagged(kafka, "wrong-tls")
        loopback = await flagged(kafka, "no-private")
        keys = {label: b.key for label, b in scripted_bookings.items()}

        # The example receiver verified our signature with the reference package, kept it.
        assert await ended(audit, ice.key, 120) == ["delivered"]
        [kept_line] = kept.read_text().splitlines()
        assert ice.id in kept_line
        [ice_delivery] = deliveries(audit, ice.key)
        assert ice_delivery["endpoint"] == "localhost" and ice_delivery["status"] == 200
        # ... and acknowledged it over HTTP with the body's link: the ledger has it, as from
        # Kafka. The same link again is refused (a token is used once) and dead-lettered.
        [acked_over_http] = await audit.wait_for(acknowledged(ice.key), 1, 30)
        assert acked_over_http.value["data"]["detail"]["by"] == "ERO duty officer"
        link = json.loads(kept_line)["notice"]["acknowledge"]
        assert await post_ack(link) == 410
        forged = {**link, "authorization": link["authorization"][:-2] + "xx"}
        assert await post_ack(forged) == 401
        assert await post_ack({**link, "authorization": ""}) == 401
        await dead_letters.wait_for(lambda r: r.value["source_topic"] == "https:/acks", 3, 30)
        refusals = [r.value["errors"][0]["message"] for r in dead_letters.records]
        assert any("already acknowledged" in m for m in refusals), refusals
        assert link["authorization"].split()[1] not in json.dumps(dead_letters.records[-1].value)

        assert await ended(audit, keys["ok"]) == ["delivered"]
        [hit] = scripted.hits[scripted_bookings["ok"].id]
        assert hit.verified
        [notice_delivery] = deliveries(audit, keys["ok"])
        assert hit.webhook_id == notice_delivery["message_id"]  # the notice's event_id

        # acknowledged on Kafka while its endpoint answers 503: no attempt after the ack
        acked = scripted_bookings["acked"]
        await until(lambda: scripted.hits[acked.id], 30, "a first attempt for the acked one")
        notice_id = deliveries(audit, acked.key)[0]["notice_id"]
        await kafka.publish(
            NOTICE_ACKS.name,
            f.envelope(
                "notice.acknowledged",
                {
                    "notice_id": notice_id,
                    "agency": "test-hooks",
                    "acknowledged_at": now().isoformat(),
                    "by": "integration test",
                },
                booking_id=acked.id,
                occurred_at=now().isoformat(),
            ),
        )
        [ack_record] = await audit.wait_for(
            lambda r: r.key == acked.key and r.value["data"].get("step") == "acknowledged", 1, 30
        )

        assert await ended(audit, keys["flaky"]) == ["retrying", "retrying", "delivered"]
        flaky_hits = scripted.hits[scripted_bookings["flaky"].id]
        assert [h.status for h in flaky_hits] == [500, 503, 200]
        assert len({h.webhook_id for h in flaky_hits}) == 1  # one webhook-id: retries dedupe
        assert all(h.verified for h in flaky_hits)

        assert await ended(audit, keys["gone"]) == ["gone"]
        assert len(scripted.hits[scripted_bookings["gone"].id]) == 1

        slow = await ended(audit, keys["slow"])
        assert slow == ["retrying", "delivered"]
        first_slow = min(deliveries(audit, keys["slow"]), key=lambda d: d["attempt"])
        assert first_slow["error"].startswith("timeout") and first_slow["status"] is None

        assert await ended(audit, keys["redirect"]) == ["retrying", "delivered"]
        redirected = min(deliveries(audit, keys["redirect"]), key=lambda d: d["attempt"])
        assert redirected["status"] == 307  # not followed

        down = await ended(audit, keys["down"], 90)
        assert down[-1] == "gave_up" and set(down[:-1]) == {"retrying"} and len(down) >= 3
        assert len(scripted.hits[scripted_bookings["down"].id]) == len(down)

        tls = await ended(audit, wrong_tls.key, 90)
        assert tls[-1] == "gave_up" and not stranger.hits  # never past the handshake
        assert all("TLS" in d["error"] for d in deliveries(audit, wrong_tls.key))

        refused = await ended(audit, loopback.key, 90)
        assert refused[-1] == "gave_up"
        assert all("127.0.0.1" in d["error"] for d in deliveries(audit, loopback.key))

        # Jail staff were told of each delivery that ended undelivered, whom to call included.
        for undelivered in (keys["gone"], keys["down"], wrong_tls.key, loopback.key):
            [told] = await escalations.wait_for_unique(booked(undelivered), 1, 30)
            assert "not delivered" in told.value["data"]["detail"]
        [gone_told] = escalations.unique(lambda r: r.key == keys["gone"])
        assert "410" in gone_told.value["data"]["detail"]
        assert "555-0100" in gone_told.value["data"]["detail"]

        # By now the acked booking would have given up if the ack had not stopped it. No
        # attempt after the service applied the ack: its ledger record's CreateTime (the ack's
        # own "at" is the agency's, earlier by however long the service took to read it; a
        # retry the agent made before reading the ack may land after that, CI saw +2.4 s).
        applied_at = ack_record.timestamp
        acked_hits = scripted.hits[acked.id]
        assert "gave_up" not in results(audit, acked.key)
        assert all(h.at <= applied_at + 0.1 for h in acked_hits), [
            h.at - applied_at for h in acked_hits
        ]

        # An acknowledgement link used after the token expired is refused with 410.
        [ok_hit] = scripted.hits[scripted_bookings["ok"].id]
        late_link = ok_hit.body["acknowledge"]
        expires = datetime.fromisoformat(late_link["expires_at"])
        await until(lambda: datetime.now(UTC) > expires, TOKEN_SECONDS + 30, "the token expired")
        assert await post_ack(late_link) == 410
        assert not audit.matching(acknowledged(keys["ok"]))

        # kill -9 mid-delivery: the restarted worker resumes the same delivery.
        resumed = await flagged(kafka, "test-hooks")
        scripted.scripts[resumed.id] = [503, 503, 503, 503, 200]
        await until(lambda: len(scripted.hits[resumed.id]) >= 2, 60, "two attempts")
        notification.kill()
        notification.start()
        assert (await ended(audit, resumed.key, 120))[-1] == "delivered"
        hits = scripted.hits[resumed.id]
        assert len({h.webhook_id for h in hits}) == 1 and len(hits) >= 5
        assert [h.status for h in hits][-1] == 200

        # Secrets and tokens never reach the log; the endpoints' paths and queries neither.
        logged = notification.log_text()
        assert "webhook_attempted" in logged
        for secret in (*SECRETS.values(), ACK_SECRET, link["authorization"].split()[1]):
            assert secret not in logged
        assert "/hooks/notices" not in logged
