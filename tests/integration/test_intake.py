"""Jail intake over HTTP (#45), end to end: `releasewatch service intake` as production runs
it, a real HTTP client (aiohttp) posting NIEM Booking and Release documents, the embedded
Apache Kafka, and the three services turning them into a notice.

Beside the path that works: each refusal a jail's integrator meets (401, 403, 413, 415, 422
with an RFC 9457 problem, XML attacks), each refused document kept on ``deadletter.v1``; the
same document posted twice is one booking; and with the broker stopped, 503 with
``Retry-After``, then after it returns the document sent again is stored, nothing lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web

from schemas.topics import (
    AGENCY_REQUESTS,
    BOOKING_STATE,
    DEADLETTER,
    JAIL_BOOKING,
    agency_notices,
)
from services.kafka.broker.apache import EmbeddedKafka
from services.kafka.broker.process import free_port
from tests import factories as f
from tests.integration.conftest import ARTIFACTS, ROOT, own_kafka, sent_value, service_env
from tests.support.bookings import Booking, now
from tests.support.niem import ATTACKS, CHARGES, document, network_attack, ori, scheduled
from tests.support.poll import until
from tests.support.topics import KafkaHelper, Watch
from tests.support.workers import Worker, total

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


AGENCY_TOKEN = "rwa_ero-field-office-test-token"
AGENCIES = f"""
agencies:
  - slug: dhs-ice
    name: ICE ERO (its field office files over HTTP)
    request_tokens_sha256: [{hashlib.sha256(AGENCY_TOKEN.encode()).hexdigest()}]
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
    path: str = "/bookings",
) -> tuple[int, dict[str, str], Any]:
    headers = {"content-type": content_type}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://127.0.0.1:{port}{path}", data=body, headers=headers) as answer,
    ):
        text = await answer.text()
        return answer.status, dict(answer.headers), json.loads(text) if text else None


@pytest.fixture
def intake_env(broker: Any, tmp_path: Path) -> dict[str, str]:
    agencies = tmp_path / "agencies.yaml"
    agencies.write_text(AGENCIES)
    return service_env(
        broker,
        tmp_path / "intake",
        RELEASEWATCH_JAILS_FILE=str(jails_file(tmp_path)),
        RELEASEWATCH_AGENCIES_FILE=str(agencies),
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

    # ICE's field office flags it over HTTP, as an office without Kafka would
    filed = {"request_id": f"I247A-{booking.id}", "jurisdiction": f.JURISDICTION}
    filed |= {"booking_id": booking.id, "contact": {"office": "ERO test", "phone": "555-0100"}}
    request_body = json.dumps(filed).encode()
    as_json = {"path": "/requests", "content_type": "application/json"}
    refused = await post(intake.port, request_body, token=TOKEN, **as_json)  # a jail's token
    assert refused[0] == 401
    status, _, answer = await post(intake.port, request_body, token=AGENCY_TOKEN, **as_json)
    assert status == 202 and answer["event_ids"][0].startswith("http:dhs-ice:"), answer
    release = scheduled(local_in(10))  # in 10 hours: inside the 48-hour window
    update = booking_document(booking.id, operation="update", release=release, charges="")
    status, _, answer = await post(intake.port, update)
    assert status == 202 and answer["accepted"] == 1, answer

    [notice] = await notices.wait_for(booking.mine, what="the notice of the NIEM release")
    assert notice.value["booking_id"] == booking.id
    assert notice.value["data"]["request_id"] == f"I247A-{booking.id}"  # the one filed by HTTP
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
    assert sent[0].value["data"]["person"]["sealed"] == "A256GCM"  # sealed inline (#46)
    assert sent[2].value["data"]["release_at"] == release.split("<nc:DateTime>")[1][:19]

    # the detainer lifted: withdrawn over HTTP too
    lifted = json.dumps({"jurisdiction": f.JURISDICTION, "booking_id": booking.id}).encode()
    withdraw = {
        "path": f"/requests/I247A-{booking.id}/withdraw",
        "content_type": "application/json",
    }
    status, _, answer = await post(intake.port, lifted, token=AGENCY_TOKEN, **withdraw)
    assert status == 202, answer
    requests_sent = await kafka.watch(AGENCY_REQUESTS.name)
    mine = await requests_sent.wait_for(booking.mine, 2, what="the request and its withdrawal")
    assert [r.value["type"] for r in mine] == [
        "notice_request.received",
        "notice_request.withdrawn",
    ]


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
    kept = {sent_value(letter.value).decode(): letter.value for letter in letters}
    assert all(letter.value["value"]["sealed"] == "A256GCM" for letter in letters)  # #46
    assert bad.decode() in kept and foreign.decode() in kept
    assert all(attack.decode() in kept for attack in attacks)
    assert kept[bad.decode()]["reason"] == "schema"
    assert kept[foreign.decode()]["reason"] == "inconsistent"
    assert "Alexandra" not in intake.log_text() and "1990-05-17" not in intake.log_text()
    assert '"intake_refused"' in intake.log_text()
    answers = intake.metrics()  # what the ReleasewatchIntakeRefusing alert counts
    for status, count in (("401", 3), ("413", 1), ("415", 1), ("403", 1), ("202", 1)):
        assert total(answers, "releasewatch_intake_answers_total", status=status) == count
    assert total(answers, "releasewatch_intake_answers_total", status="422") == 1 + len(attacks)


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


ROSTER_HEADER = "Booking Number,Last Name,First Name,DOB,SID,Booked,Projected Release,Unit\n"


def roster_row(booking: str, release: str = "") -> str:
    return f"{booking},Example,Avery,01/15/1988,,03/01/2027 22:14,{release},4B\n"


async def roster_round(
    env: dict[str, str], source: list[str], jurisdiction: str, *extra: str
) -> tuple[int, str]:
    """One round of `releasewatch intake roster` as its own process (a restart each time)."""
    command = [sys.executable, "-m", "services.cli", "intake", "roster", *source]
    command += [
        "--jurisdiction",
        jurisdiction,
        "--mapping",
        str(ROOT / "deploy/roster-mapping.yaml"),
    ]
    command += ["--once", *extra]
    process = await asyncio.create_subprocess_exec(
        *command, env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return process.returncode, out.decode() + err.decode()


async def test_a_roster_polled_across_restarts_publishes_only_its_changes(
    broker: Any, kafka: KafkaHelper, tmp_path: Path
) -> None:
    jurisdiction = f"us-mn-roster-{uuid.uuid4().hex[:6]}"  # this test's own events
    env = service_env(broker, tmp_path / "poller")
    csv_file = tmp_path / "roster.csv"
    source = ["--file", str(csv_file)]
    jail_events = await kafka.watch(JAIL_BOOKING.name)
    dead = await kafka.watch(DEADLETTER.name)

    def mine(types: int) -> Any:
        return jail_events.wait_for(
            lambda r: r.jurisdiction_is(jurisdiction), types, what=f"{types} roster events"
        )

    rows = [roster_row(f"R{n}", "03/09/2027 09:00" if n == 1 else "") for n in range(1, 7)]
    csv_file.write_text(ROSTER_HEADER + "".join(rows))
    code, said = await roster_round(env, source, jurisdiction)
    assert code == 0 and "applied: 7 event(s)" in said, said  # six opened, one date
    await mine(7)

    code, said = await roster_round(env, source, jurisdiction)  # restarted, nothing new
    assert code == 0 and "unchanged: 0 event(s)" in said, said

    # changed while the poller was down: R1's date moved, R2 given one, R6 gone, R7 new, and
    # one row the jail's export broke (line 4: R3's birth date)
    rows = [
        roster_row("R1", "03/10/2027 09:00"),
        roster_row("R2", "03/12/2027 08:00"),
        roster_row("R3").replace("01/15/1988", "1988-15-01"),
        roster_row("R4"),
        roster_row("R5"),
        roster_row("R7"),
    ]
    csv_file.write_text(ROSTER_HEADER + "".join(rows))
    code, said = await roster_round(env, source, jurisdiction)
    assert code == 0 and "applied: 4 event(s), 1 malformed row(s), 1 release(s)" in said, said
    published = await mine(11)  # (in partition order: the bookings are keys of their own)
    first_ids = {r.value["event_id"] for r in published[:7]}
    changes = {(r.value["booking_id"], r.value["type"]): r.value for r in published[7:]}
    assert sorted(changes) == [
        ("R1", "release.scheduled"),
        ("R2", "release.scheduled"),
        ("R6", "inmate.released"),
        ("R7", "booking.opened"),
    ]
    assert changes["R6", "inmate.released"]["data"]["inferred"] is True
    assert first_ids.isdisjoint(r.value["event_id"] for r in published[7:])
    [letter] = await dead.wait_for(
        lambda r: r.key == jurisdiction and r.value["source_topic"].startswith("roster:"),
        what="the malformed row kept",
    )
    assert letter.value["errors"][0]["path"] == "line 4"
    assert "is not a date" in letter.value["errors"][0]["message"]

    csv_file.write_text(ROSTER_HEADER + roster_row("R1", "03/10/2027 09:00"))  # 5 of 6 gone
    code, said = await roster_round(env, source, jurisdiction)
    assert code == 1 and "held" in said, said
    held = await dead.wait_for(
        lambda r: r.key == jurisdiction and r.value["reason"] == "inconsistent",
        what="the held roster kept for the operators",
    )
    assert "held as suspect" in held[0].value["errors"][0]["message"]
    assert '"roster_held"' in said and "Avery" not in said  # logged, without names

    async with serving(ROSTER_HEADER + roster_row("R1", "03/10/2027 09:00")) as url:
        code, said = await roster_round(env, ["--url", url], jurisdiction, "--accept-shrink")
    assert code == 0 and "applied: 5 event(s), 0 malformed row(s), 5 release(s)" in said, said
    await mine(16)
    assert len(jail_events.matching(lambda r: r.jurisdiction_is(jurisdiction))) == 16


@contextlib.asynccontextmanager
async def serving(body: str) -> AsyncIterator[str]:
    """The roster on a local HTTP server, as a jail's web export."""

    async def roster_csv(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="text/csv")

    app = web.Application()
    app.router.add_get("/roster.csv", roster_csv)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/roster.csv"
    finally:
        await runner.cleanup()
