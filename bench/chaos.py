"""The fault suite (`make chaos`): kill -9 workers during a replay and check the promise.

Two workers of each service run on the embedded broker. While EVENTS events are published
at RATE events/s (the jail simulator's traffic, bad messages included, plus flagged probe
bookings whose deadlines fall due all through the run), a random worker of a random
service is killed with SIGKILL every few seconds and started again. Then the outputs are
checked against an independent model of what must have happened:

- every probe's `notice_due` alert exists (none lost), with due_at = release - 48 h;
- every probe in a jurisdiction whose policy allows notices has its notice on
  notices.dhs-ice.v1, and no probe in a `notices: none` jurisdiction has one;
- the number of repeated alert_ids and notice_ids (allowed at-least-once, where consumers
  dedupe; under exactly_once a repeat fails the run, SPEC 8), each repeat's copies printed;
- no `late` flag that disagrees with emitted_at - due_at, and no late alert that nothing
  explains: either the deadline was armed too late to be met (scheduling had the booking's
  schedule and request, as its release.schedule.v1 and ledger records show, only after
  due_at + 60 s: its input was behind) or a scheduling worker was down or rejoining then;
- every injected bad message is on deadletter.v1 (by source partition and offset);
- every ledger record is sealed by the two sealers (killed like the other workers) and
  `report --verify`'s check finds nothing (#46: no false alarm after kills and rebalances).

The model reads the policy file itself (YAML) and knows what it published; it shares no
code with the services. Prints a table of faults and outcomes; exits 1 if anything was lost.

    .venv/bin/python -m bench.chaos [EVENTS] [RATE] [SEED]

SEED (default 1) picks the traffic, the probes and the kill schedule; results go to
bench/results/chaos.json (seed 1) or chaos-seed<SEED>.json.

CHAOS_FIXES_OFF=name[,name] runs the workers with those faust fixes switched off
(services.kafka.client.tuning.FIX_SWITCHES), to prove each still needed; results then go to
bench/results/chaos-off/<names>-seed<SEED>.json.

CHAOS_MODE=brokers (`make chaos MODE=brokers`): the three-node cluster, and brokers killed
instead of workers (``bench.chaos_brokers``); results in chaos-brokers[-seed<SEED>].json.
CHAOS_GUARANTEE=exactly_once (`make chaos GUARANTEE=exactly_once`): the workers run faust's
transactions, and the outputs are read as a `read_committed` consumer (an agency) reads
them; results in chaos-exactly-once[-seed<SEED>].json.
CHAOS_WEBHOOK=1 (`make chaos WEBHOOK=1`): dhs-ice is also told by webhook, to an endpoint
of the suite's that is down for the first minute (``bench.chaos_webhook``); every notice
message must end delivered or escalated; results in chaos-webhook[...].json.
CHAOS_IDEMPOTENCE unset: the producers as releasewatch ships them (idempotent on Apache Kafka,
not on Tansu); `make chaos IDEMPOTENCE=false` (or true) sets
``RELEASEWATCH_PRODUCER_IDEMPOTENCE``; results in chaos-no-idempotence[...].json (or
chaos-idempotent[...].json).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from bench.chaos_brokers import inject_broker_faults
from bench.chaos_ledger import ledger_sealed, signing_key
from bench.chaos_verdict import WINDOW, Fault, Probe, armed_at, verify
from bench.chaos_webhook import Endpoint
from bench.harness import PARTITIONS, ROOT, RUNNING, Message, embedded, publish, save, worker_env
from services.kafka.admin.topics import ensure_topics
from services.kafka.broker.apache import EmbeddedKafka
from services.kafka.client.tansu_quirks import quirks
from services.simulator.generator import JailSimulator, SimulatorConfig
from services.simulator.places import FACILITIES
from tests.support.poll import until
from tests.support.topics import Watch
from tests.support.workers import Worker, all_ready, total

SERVICES = ("booking", "scheduling", "notification", "sealer")  # sealer: #46, since 892a142
WORKERS_PER_SERVICE = 2
KILL_EVERY = (3.0, 7.0)  # s, uniform
PROBE_SHARE = 0.06  # of the positions: ~2,700 flagged probe bookings in 50,000 events
IMMEDIATE_SHARE = 0.1  # probes released inside the window already: a late notice at once
FIXES_OFF = os.environ.get("CHAOS_FIXES_OFF", "")
MODE = os.environ.get("CHAOS_MODE") or "workers"  # or "brokers"
GUARANTEE = os.environ.get("CHAOS_GUARANTEE") or "at_least_once"  # or "exactly_once"
WEBHOOK = os.environ.get("CHAOS_WEBHOOK", "") not in ("", "0")
IDEMPOTENCE = os.environ.get("CHAOS_IDEMPOTENCE", "")  # "": the default; or "true", "false"
if (
    MODE not in ("workers", "brokers")
    or GUARANTEE not in ("at_least_once", "exactly_once")
    or IDEMPOTENCE not in ("", "true", "false")
):
    sys.exit(
        f"CHAOS_MODE={MODE!r} / CHAOS_GUARANTEE={GUARANTEE!r} / CHAOS_IDEMPOTENCE="
        f"{IDEMPOTENCE!r}: workers|brokers, at_least_once|exactly_once and unset|true|false"
    )
SET_IDEMPOTENCE = {"RELEASEWATCH_PRODUCER_IDEMPOTENCE": IDEMPOTENCE} if IDEMPOTENCE else {}


def policy_allows_notices(jurisdiction: str) -> bool:
    """The model's reading of deploy/policies.yaml: notices unless `none` (probes carry no
    charge that a `listed_offenses` policy lists, and are placed only where it is all/none)."""
    policies = yaml.safe_load((ROOT / "deploy" / "policies.yaml").read_text())
    entry = {**policies["default"], **policies.get("jurisdictions", {}).get(jurisdiction, {})}
    return entry["notices"] == "all"


def plan(events: int, rate: float, seed: int) -> tuple[list[Message], list[Probe], set[int]]:
    """The messages in publish order, the probes, and the positions of injected bad ones."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    simulator = JailSimulator(SimulatorConfig(seed=seed, bad_rate=0.01), lambda: now)
    duration = events / rate
    places = [f for f in FACILITIES if f.jurisdiction in ("us-mn-hennepin", "us-il-cook")]
    probe_positions = set(rng.sample(range(events - 3), int(events * PROBE_SHARE)))
    messages: list[Message] = []
    probes: list[Probe] = []
    bad: set[int] = set()
    background = simulator.events()
    while len(messages) < events:
        position = len(messages)
        if position in probe_positions:
            facility = rng.choice(places)
            at = now + timedelta(seconds=position / rate)  # when it will be published
            if rng.random() < IMMEDIATE_SHARE:
                release = at + timedelta(hours=rng.uniform(2, 40))
            else:  # due while the run goes on, after this booking is in
                due = at + timedelta(seconds=rng.uniform(15, duration - position / rate + 30))
                release = due + WINDOW
            story = simulator.flagged(release, facility)
            key = (story[0].key or b"").decode()
            allowed = policy_allows_notices(facility.jurisdiction)
            probes.append(Probe(key, facility.jurisdiction, release - WINDOW, allowed))
            messages.extend((o.topic, o.key, o.value) for o in story)
            continue
        outgoing = next(background)
        if outgoing.kind.startswith("bad:"):
            bad.add(position)
        messages.append((outgoing.topic, outgoing.key, outgoing.value))
    return messages, probes, bad


async def inject_faults(
    workers: dict[str, list[Worker]],
    faults: list[Fault],
    started: float,
    stop: asyncio.Event,
    seed: int,
) -> None:
    rng = random.Random(seed + 6)  # seed 1: the schedule of the first published runs
    watchers: list[asyncio.Task[None]] = []
    while not stop.is_set():
        await asyncio.sleep(rng.uniform(*KILL_EVERY))
        if stop.is_set():
            break
        service = rng.choice(SERVICES)
        number = rng.randrange(WORKERS_PER_SERVICE)
        worker = workers[service][number]
        if not worker.alive():
            continue
        fault = Fault(time.perf_counter() - started, service, number, worker.pid)
        worker.kill()
        faults.append(fault)
        worker.start()
        watchers.append(asyncio.create_task(mark_ready(worker, fault, started)))
    await asyncio.gather(*watchers)  # each gives up after 120 s


async def mark_ready(worker: Worker, fault: Fault, started: float) -> None:
    try:
        ready = await until(lambda: worker.get("/ready")[0] == 200, 120, "ready", every=0.25)
        fault.ready_again = ready - started
    except TimeoutError:
        pass


async def run(events: int = 50_000, rate: float = 400.0, seed: int = 1) -> dict[str, Any]:
    messages, probes, bad = plan(events, rate, seed)
    victims = (
        "a broker of three every 16-30 s"
        if MODE == "brokers"
        else f"a worker every {KILL_EVERY[0]:.0f}-{KILL_EVERY[1]:.0f} s"
    )
    print(
        f"chaos: {len(messages):,} events at {rate:,.0f}/s, {len(probes):,} flagged probes "
        f"(deadlines due throughout), {len(bad)} bad messages; {WORKERS_PER_SERVICE} workers "
        f"per service, {GUARANTEE}; kill -9 {victims}"
    )
    faults: list[Fault] = []
    data = ROOT / "test-artifacts" / f"chaos-{int(time.time())}"  # worker logs, kept
    data.mkdir(parents=True, exist_ok=True)
    endpoint = Endpoint() if WEBHOOK else None
    hooked = await endpoint.start(data) if endpoint else {}
    sealing = {
        "RELEASEWATCH_LEDGER_SIGNING_KEY": str(signing_key(data)),
        "RELEASEWATCH_LEDGER_SEAL_EVERY": "2",
    }
    with embedded(data, nodes=3 if MODE == "brokers" else 1) as broker:
        await ensure_topics(broker.bootstrap, PARTITIONS)
        workers = {
            name: [
                Worker(
                    name,
                    worker_env(
                        broker.url,
                        data / f"{name}-{n}",
                        RELEASEWATCH_FAUST_FIXES_OFF=FIXES_OFF,
                        RELEASEWATCH_PROCESSING_GUARANTEE=GUARANTEE,
                        **SET_IDEMPOTENCE,
                        **hooked,
                        **sealing,
                    ),
                    data / f"{name}.log",
                )
                for n in range(WORKERS_PER_SERVICE)
            ]
            for name in SERVICES
        }
        for group in workers.values():
            for worker in group:
                worker.start()
        try:
            await all_ready([w for group in workers.values() for w in group], 120)
            isolation = "read_committed" if GUARANTEE == "exactly_once" else "read_uncommitted"

            def reader(pattern: str) -> Watch:
                return Watch(broker.bootstrap, pattern=pattern, isolation_level=isolation)

            async with (
                reader(r"^notice\.alerts\.v1$") as alerts,
                reader(r"^notices\.dhs-ice\.v1$") as notices,
                reader(r"^deadletter\.v1$") as deadletters,
                reader(r"^release\.schedule\.v1$") as schedules,
                reader(r"^notice\.audit\.v1$") as ledger,
                reader(r"^ops\.escalations\.v1$") as escalations,
            ):
                started = time.perf_counter()
                clock_start = time.time()
                if endpoint is not None:  # down from the replay's start
                    endpoint.started = time.monotonic()
                stop = asyncio.Event()
                if MODE == "brokers":
                    assert isinstance(broker, EmbeddedKafka), "broker mode needs Apache Kafka"
                    faulting = inject_broker_faults(broker, faults, started, stop, seed)
                else:
                    faulting = inject_faults(workers, faults, started, stop, seed)
                chaos = asyncio.create_task(faulting)
                placed: list[tuple[str, int, int]] = []
                # acks=all: an input the test published is never lost with a leader
                await publish(broker.bootstrap, messages, rate, positions=placed, acks="all")
                last_due = max(p.due_at for p in probes)
                wait = (last_due - datetime.now(UTC)).total_seconds()
                if wait > 0:
                    await asyncio.sleep(wait)
                stop.set()
                await chaos
                probe_keys = {p.key for p in probes}
                expected_notices = {p.key for p in probes if p.notice_expected}

                def settled() -> bool:
                    alerted = {r.key for r in alerts.records} & probe_keys
                    noticed = {r.key for r in notices.records} & expected_notices
                    hooks_ended = endpoint is None or endpoint.ended(
                        notices.records, escalations.records
                    )
                    return alerted == probe_keys and noticed == expected_notices and hooks_ended

                live = [w for group in workers.values() for w in group]

                def backlog() -> float:
                    return sum(total(w.metrics(), "releasewatch_consumer_lag") for w in live)

                def caught_up() -> bool:
                    return settled() or backlog() == 0

                # Wait for the expected outputs, or for every worker to have consumed all
                # its input (then what is missing is lost, not late).
                with contextlib.suppress(TimeoutError):
                    await until(caught_up, 600, "expected outputs or no backlog", every=2.0)
                if not settled():  # backlog 0 once may be a commit in flight: look again
                    with contextlib.suppress(TimeoutError):
                        await until(settled, 30, "expected outputs", every=1.0)
                backlog_left = backlog()
                await asyncio.sleep(3)  # late repeats and dead letters
                sealed = await ledger_sealed(
                    broker.bootstrap, Path(sealing["RELEASEWATCH_LEDGER_SIGNING_KEY"])
                )
        finally:
            for group in workers.values():
                for worker in group:
                    worker.stop()
    outcome = verify(
        probes,
        bad,
        placed,
        alerts.records,
        notices.records,
        deadletters.records,
        armed_at(schedules.records, ledger.records),
        faults,
        clock_start,
        events,
        rate,
        once=GUARANTEE == "exactly_once",
    )
    if endpoint is not None:
        await endpoint.stop()
        hooks = endpoint.verdict(notices.records, escalations.records)
        outcome.update(hooks)
        outcome["passed"] = outcome["passed"] and hooks["webhook_passed"]
    outcome.update(sealed)
    outcome["passed"] = outcome["passed"] and sealed["ledger_passed"]
    outcome["backlog_at_verification"] = backlog_left
    outcome["logs"] = str(data)
    print(f"  input backlog at verification: {backlog_left:,.0f}; worker logs: {data}")
    return outcome


def main(events: int = 50_000, rate: float = 400.0, seed: int = 1) -> int:
    if MODE == "brokers":  # the suite's own readers name every refused connection
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    outcome = asyncio.run(run(events, rate, seed))
    outcome["seed"] = seed
    outcome["broker"] = RUNNING["name"]
    outcome["fixes_off"] = FIXES_OFF
    outcome["mode"], outcome["guarantee"] = MODE, GUARANTEE
    outcome["idempotence"] = IDEMPOTENCE == "true" or (
        not IDEMPOTENCE and quirks(RUNNING["flavor"]).idempotence_and_transactions
    )
    name = "chaos"
    name += "-brokers" if MODE == "brokers" else ""
    name += "-exactly-once" if GUARANTEE == "exactly_once" else ""
    name += "-webhook" if WEBHOOK else ""
    if GUARANTEE != "exactly_once":  # transactional producers are idempotent anyway
        name += {"true": "-idempotent", "false": "-no-idempotence"}.get(IDEMPOTENCE, "")
    name += "" if seed == 1 else f"-seed{seed}"
    if FIXES_OFF:
        name = f"chaos-off/{FIXES_OFF.replace(',', '+')}-seed{seed}"
        (ROOT / "bench" / "results" / "chaos-off").mkdir(parents=True, exist_ok=True)
    path = save(name, outcome)
    print(f"  results: {path.relative_to(ROOT)}")
    return 0 if outcome["passed"] else 1


if __name__ == "__main__":
    kinds = (int, float, int)  # events, rate, seed
    sys.exit(main(*(kind(a) for kind, a in zip(kinds, sys.argv[1:4], strict=False))))
