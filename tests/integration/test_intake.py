"""Jail intake over HTTP (#45), end to end: `releasewatch service intake` as production runs
it, a real HTTP client (aiohttp) posting NIEM Booking and Release documents, the embedded
Apache Kafka, and the three services turning them into a notice.

Beside the path that works: each refusal a jail's integrator meets (401, 403, 413, 415, 422
with an RFC 9457 problem, XML attacks), each refused document kept on ``deadletter.v1``; the
same document posted twice is one booking; and with the broker stopped, 503 with
``Retry-After``, then after it returns the document sent again is stored, nothing lost.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from schemas.topics import BOOKING_STATE, DEADLETTER, JAIL_BOOKING, agency_notices
from services.kafka.broker.apache import EmbeddedKafka
from tests import factories as f
from tests.integration.conftest import ARTIFACTS, own_kafka, service_env
from tests.support.bookings import Booking, now
from tests.support.niem import ATTACKS, CHARGES, document, network_attack, ori, scheduled
from tests.support.poll import until
from tests.support.topics import KafkaHelper, Watch
from tests.support.workers import Worker

pytestmark = pytest.mark.integration
TOKEN = "rwj_intake-test-token"
OTHER_TOKEN = "rwj_another-jails-token"
TIMEZONE = "America/Chicago"
JAILS = f"""
jails:
  - slug: test-county
    name: Test County Jail
    facility: {{id: tcj, name: Test County Jail, timezone: {TIMEZONE}}}
    jurisdictions:
      - {{id: {f.JURISDICTION}, ori: MN0270000}}
    token_sha256: {hashlib.sha256(TOKEN.encode()).hexdigest()}
  - slug: other-county
    name: Another County's Jail
    facility: {{id: ocj, name: Other County Jail, timezone: {TIMEZONE}}}
    jurisdictions:
      - {{id: us-mn-ramsey, ori: MN0620000}}
    token_sha256: {hashlib.sha256(OTHER_TOKEN.encode()).hexdigest()}
"""


def jails_file(folder: Path) -> Path:
    path = folder / "jails.yaml"
    path.write_text(JAILS)
    return path


def booking_document(
    booking_id: str, operation: str = "add", release: str = "", charges: str = CHARGES
) -> bytes:
    number = f"<nc:IdentificationID>{booking_id}</nc:IdentificationID>"
    booked = now() - timedelta(hours=2)
    return document(
        operation=operation,
        release=release,
        charges=charges,
        booking_id=number,
        booked=booked.astimezone(ZoneInfo(TIMEZONE)).isoformat(timespec="seconds"),
    )


def local_in(hours: float) -> str:
    """The facility's wall-clock time ``hours`` from now, without an offset (as JMSs send)."""
    return (
        (now() + timedelta(hours=hours))
        .astimezone(ZoneInfo(TIMEZONE))
        .strftime("%Y-%m-%dT%H:%M:%S")
    )


async def post(
    port: int,
    body: bytes,
    token: str | None = TOKEN,
    content_type: str = "application/xml",
) -> tuple[int, dict[str, str], Any]:
    headers = {"content-type": content_type}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://127.0.0.1:{port}/bookings", data=body, headers=headers) as answer,
    ):
        text = await answer.text()
        return answer.status, dict(answer.headers), json.loads(text) if text else None


@pytest.fixture
def intake_env(broker: Any, tmp_path: Path) -> dict[str, str]:
    return service_env(
        broker, tmp_path / "intake", RELEASEWATCH_JAILS_FILE=str(jails_file(tmp_path))
    )


@pytest.fixture
def intake(intake_env: dict[str, str]) -> Iterator[Worker]:
    worker = Worker("intake", intake_env, ARTIFACTS / f"intake-{uuid.uuid4().hex[:8]}.log")
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


async def ready(worker: Worker) -> None:
    await until(lambda: worker.get("/ready")[0] == 200, 60, "the intake's /ready")


async def test_a_niem_booking_then_its_release_date_reach_the_agency(
    start_service: Any, intake: Worker, kafka: KafkaHelper
) -> None:
    start_service("booking")
    start_service("scheduling")
    start_service("notification")
    booking = Booking(kafka)  # its id and key; the jail's events come over HTTP
    states = await kafka.watch(BOOKING_STATE.name)
    notices = await kafka.watch(agency_notices("dhs-ice").name)
    await ready(intake)

    opened = booking_document(booking.id)
    status, _, answer = await post(intake.port, opened)
    assert status == 202, answer
    assert answer["accepted"] == 1
    await states.wait_for(booking.mine, 1, what="the booking opened from NIEM")
    again = await post(intake.port, opened)  # the JMS did not hear the 202 and sends again
    assert again[0] == 202 and again[2]["event_ids"] == answer["event_ids"]

    await booking.request()  # ICE flags it (on Kafka here; over HTTP below)
    release = scheduled(local_in(10))  # in 10 hours: inside the 48-hour window
    update = booking_document(booking.id, operation="update", release=release, charges="")
    status, _, answer = await post(intake.port, update)
    assert status == 202 and answer["accepted"] == 1, answer

    [notice] = await notices.wait_for(booking.mine, what="the notice of the NIEM release")
    assert notice.value["booking_id"] == booking.id
    # one state per distinct event: the repeated booking made none
    mine = await states.wait_for(booking.mine, 2, what="the booking's states")
    assert [s.value["data"]["cause"]["type"] for s in mine] == [
        "booking.opened",
        "release.scheduled",
    ]
    jail_events = await kafka.watch(JAIL_BOOKING.name)
    sent = await jail_events.wait_for(booking.mine, 3, what="the jail events published")
    assert [r.value["type"] for r in sent] == [
        "booking.opened",
        "booking.opened",  # the repeat, same event_id: dropped by the booking service
        "release.scheduled",
    ]
    assert sent[0].value["event_id"] == sent[1].value["event_id"]
    assert sent[2].value["data"]["release_at"] == release.split("<nc:DateTime>")[1][:19]


def problem_of(answer: Any, status: int) -> list[dict[str, str]]:
    assert answer["status"] == status and answer["title"] and answer["detail"], answer
    return list(answer.get("errors", []))


async def test_each_refusal_is_answered_clearly_and_each_refused_document_kept(
    intake: Worker, kafka: KafkaHelper
) -> None:
    dead = await kafka.watch(DEADLETTER.name)
    await ready(intake)
    good = booking_document(f"ref-{uuid.uuid4().hex[:8]}")

    for token in (None, "rwj_not-a-token", TOKEN.upper()):
        status, _, answer = await post(intake.port, good, token=token)
        assert status == 401, (token, answer)
        problem_of(answer, 401)
    status, _, answer = await post(intake.port, good, content_type="application/json")
    assert status == 415 and problem_of(answer, 415) == []
    huge = good + b" " * (1 << 20)  # whitespace after the root: well-formed, and over 1 MiB
    status, _, answer = await post(intake.port, huge)
    assert status == 413, answer

    bad_id = f"bad-{uuid.uuid4().hex[:8]}"
    number = f"<nc:IdentificationID>{bad_id}</nc:IdentificationID>"
    bad = document(booking_id=number, booked="soon").replace(b"Rivera", b"")
    status, headers, answer = await post(intake.port, bad)
    assert status == 422 and headers["Content-Type"].startswith("application/problem+json")
    pointers = [e["pointer"] for e in problem_of(answer, 422)]
    assert any(p.endswith("nc:PersonSurName") for p in pointers), pointers
    assert any(p.endswith("nc:ActivityDate/nc:DateTime") for p in pointers), pointers
    assert all(p.startswith("/BookingExchange/j:Booking[1]") for p in pointers), pointers

    foreign = document(
        agency=ori("MN0620000"), booking_id="<nc:IdentificationID>F-1</nc:IdentificationID>"
    )
    status, _, answer = await post(intake.port, foreign)  # Ramsey's ORI, from Hennepin's jail
    assert status == 403
    assert "MN0620000" in problem_of(answer, 403)[0]["detail"]
    status, _, _ = await post(intake.port, foreign, token=OTHER_TOKEN)  # Ramsey's own jail
    assert status == 202

    attacks = [*ATTACKS.values(), network_attack(9)]
    for attack in attacks:
        status, _, answer = await post(intake.port, attack)
        assert status == 422
        assert "root:" not in json.dumps(answer) and "lollol" not in json.dumps(answer)

    letters = await dead.wait_for(
        lambda r: r.key == "test-county" and r.value["service"] == "intake",
        2 + len(attacks),
        what="the refused documents kept",
    )
    kept = {letter.value["value"]["content"]: letter.value for letter in letters}
    assert bad.decode() in kept and foreign.decode() in kept
    assert all(attack.decode() in kept for attack in attacks)
    assert kept[bad.decode()]["reason"] == "schema"
    assert kept[foreign.decode()]["reason"] == "inconsistent"
    assert "Alexandra" not in intake.log_text() and "1990-05-17" not in intake.log_text()
    assert '"intake_refused"' in intake.log_text()


async def test_broker_down_is_503_then_the_document_sent_again_is_stored(
    tmp_path: Path,
) -> None:
    with own_kafka(tmp_path, "intake-503") as cluster:
        await broker_down_then_up(cluster, tmp_path)


async def broker_down_then_up(cluster: EmbeddedKafka, tmp_path: Path) -> None:
    env = service_env(
        cluster, tmp_path / "intake", RELEASEWATCH_JAILS_FILE=str(jails_file(tmp_path))
    )
    worker = Worker("intake", env, ARTIFACTS / "intake-503.log").start()
    try:
        await ready(worker)
        first = booking_document("down-1", release=scheduled(local_in(30)))
        status, _, answer = await post(worker.port, first)
        assert status == 202, answer
        [node] = cluster.node_ids()
        cluster.kill_node(node)
        second = booking_document("down-2", release=scheduled(local_in(30)))
        status, headers, answer = await post(worker.port, second)
        assert status == 503, answer
        assert int(headers["Retry-After"]) > 0 and problem_of(answer, 503) == []
        cluster.start_node(node)

        async def stored() -> bool:
            return (await post(worker.port, second))[0] == 202

        await until(stored, 90, "a 202 once the broker is back", every=2)
        async with Watch(cluster.bootstrap, JAIL_BOOKING.name) as events:
            for booking_id in ("down-1", "down-2"):
                got = await events.wait_for(
                    lambda r, b=booking_id: r.value["booking_id"] == b, 2, what=booking_id
                )
                assert {r.value["type"] for r in got} == {"booking.opened", "release.scheduled"}
    finally:
        worker.stop()
