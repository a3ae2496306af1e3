"""The fault suite (`make chaos`): kill -9 workers during a replay and check the promise.

Two workers of each service run on the embedded broker. While EVENTS events are published
at RATE events/s (the jail simulator's traffic, bad messages included, plus flagged probe
bookings whose deadlines fall due all through the run), a random worker of a random
service is killed with SIGKILL every few seconds and started again. Then the outputs are
checked against an independent model of what must have happened:

- every probe's `notice_due` alert exists (none lost), with due_at = release - 48 h;
- every probe in a jurisdiction whose policy allows notices has its notice on
  notices.dhs-ice.v1, and no probe in a `notices: none` jurisdiction has one;
- the number of repeated alert_ids and notice_ids (allowed: at-least-once; consumers dedupe);
- no `late` flag that disagrees with emitted_at - due_at, and no late alert that nothing
  explains: either the deadline was armed too late to be met (scheduling had the booking's
  schedule and request, as its release.schedule.v1 and ledger records show, only after
  due_at + 60 s: its input was behind) or a scheduling worker was down or rejoining then;
- every injected bad message is on deadletter.v1 (by source partition and offset).

The model reads the policy file itself (YAML) and knows what it published; it shares no
code with the services. Prints a table of faults and outcomes; exits 1 if anything was lost.

    .venv/bin/python -m bench.chaos [EVENTS] [RATE] [SEED]

SEED (default 1) picks the traffic, the probes and the kill schedule; results go to
bench/results/chaos.json (seed 1) or chaos-seed<SEED>.json.

CHAOS_FIXES_OFF=name[,name] runs the workers with those faust fixes switched off
(services.kafka.tuning.FIX_SWITCHES), to prove each still needed; results then go to
bench/results/chaos-off/<names>-seed<SEED>.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from bench.harness import PARTITIONS, ROOT, RUNNING, Message, embedded, publish, save, worker_env
from services.kafka.topics import ensure_topics
from services.simulator.generator import FACILITIES, JailSimulator, SimulatorConfig
from tests.support.poll import until
from tests.support.topics import Watch
from tests.support.workers import Worker, all_ready, total

SERVICES = ("booking", "scheduling", "notification")
WORKERS_PER_SERVICE = 2
WINDOW = timedelta(hours=48)
LATE_AFTER = 60.0  # s, SPEC 3.4
KILL_EVERY = (3.0, 7.0)  # s, uniform
PROBE_SHARE = 0.06  # of the positions: ~2,700 flagged probe bookings in 50,000 events
IMMEDIATE_SHARE = 0.1  # probes released inside the window already: a late notice at once
FIXES_OFF = os.environ.get("CHAOS_FIXES_OFF", "")


@dataclass(frozen=True)
class Probe:
    key: str
    jurisdiction: str
    due_at: datetime
    notice_expected: bool


@dataclass
class Fault:
    at: float  # s since start
    service: str
    worker: int
    pid: int
    ready_again: float | None = None  # s since start


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


def first_by(records: list[Any], field: str) -> tuple[dict[str, Any], Counter[str]]:
    """Records' data by ``field`` (the first of each id), and how often each id appeared."""
    firsts: dict[str, Any] = {}
    counts: Counter[str] = Counter()
    for record in records:
        data = (record.value or {}).get("data") or {}
        ident = data.get(field)
        if ident:
            counts[ident] += 1
            firsts.setdefault(ident, {**data, "_key": record.key})
    return firsts, counts


def armed_at(schedule_records: list[Any], audit_records: list[Any]) -> dict[str, float]:
    """When scheduling had each booking's deadline armed: it needs the release (its first
    ``scheduled`` release.schedule.v1 record) and the request (its ledger record of it),
    whichever it wrote later. Unix time, by the records' CreateTime (stamped when sent)."""
    scheduled: dict[str, float] = {}
    for record in schedule_records:
        data = (record.value or {}).get("data") or {}
        if record.key and data.get("status") == "scheduled":
            scheduled.setdefault(record.key, record.timestamp)
    requested: dict[str, float] = {}
    for record in audit_records:
        data = (record.value or {}).get("data") or {}
        if record.key and data.get("step") == "request_received":
            requested.setdefault(record.key, record.timestamp)
    return {key: max(at, requested[key]) for key, at in scheduled.items() if key in requested}


def downtime_explains(due: float, faults: list[Fault]) -> bool:
    """A scheduling worker was down or rejoining around ``due`` (s since start)."""
    for fault in faults:
        if fault.service != "scheduling":
            continue
        back = (fault.ready_again or fault.at + 120) + 15  # + the rebalance that follows
        if fault.at - 10 <= due <= back:
            return True
    return False


async def run(events: int = 50_000, rate: float = 400.0, seed: int = 1) -> dict[str, Any]:
    messages, probes, bad = plan(events, rate, seed)
    print(
        f"chaos: {len(messages):,} events at {rate:,.0f}/s, {len(probes):,} flagged probes "
        f"(deadlines due throughout), {len(bad)} bad messages; {WORKERS_PER_SERVICE} workers "
        f"per service; kill -9 every {KILL_EVERY[0]:.0f}-{KILL_EVERY[1]:.0f} s"
    )
    faults: list[Fault] = []
    data = ROOT / "test-artifacts" / f"chaos-{int(time.time())}"  # worker logs, kept
    data.mkdir(parents=True, exist_ok=True)
    with embedded(data) as broker:
        await ensure_topics(broker.bootstrap, PARTITIONS)
        workers = {
            name: [
                Worker(
                    name,
                    worker_env(
                        broker.url,
                        data / f"{name}-{n}",
                        RELEASEWATCH_FAUST_FIXES_OFF=FIXES_OFF,
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
            async with (
                Watch(broker.bootstrap, pattern=r"^notice\.alerts\.v1$") as alerts,
                Watch(broker.bootstrap, pattern=r"^notices\.dhs-ice\.v1$") as notices,
                Watch(broker.bootstrap, pattern=r"^deadletter\.v1$") as deadletters,
                Watch(broker.bootstrap, pattern=r"^release\.schedule\.v1$") as schedules,
                Watch(broker.bootstrap, pattern=r"^notice\.audit\.v1$") as ledger,
            ):
                started = time.perf_counter()
                clock_start = time.time()
                stop = asyncio.Event()
                chaos = asyncio.create_task(inject_faults(workers, faults, started, stop, seed))
                placed: list[tuple[str, int, int]] = []
                await publish(broker.bootstrap, messages, rate, positions=placed)
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
                    return alerted == probe_keys and noticed == expected_notices

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
    )
    outcome["backlog_at_verification"] = backlog_left
    outcome["logs"] = str(data)
    print(f"  input backlog at verification: {backlog_left:,.0f}; worker logs: {data}")
    return outcome


def verify(
    probes: list[Probe],
    bad: set[int],
    placed: list[tuple[str, int, int]],
    alert_records: list[Any],
    notice_records: list[Any],
    deadletter_records: list[Any],
    armed: dict[str, float],
    faults: list[Fault],
    clock_start: float,
    events: int,
    rate: float,
) -> dict[str, Any]:
    alerts, alert_counts = first_by(alert_records, "alert_id")
    notices, notice_counts = first_by(notice_records, "notice_id")
    due_alerts: dict[str, dict[str, Any]] = {}
    for alert in alerts.values():
        if alert["kind"] == "notice_due":
            due_alerts.setdefault(alert["_key"], alert)
    noticed = {n["_key"] for n in notices.values() if n.get("kind") == "notice_due"}
    lost_alerts = [p for p in probes if p.key not in due_alerts]
    wrong_due = [
        p
        for p in probes
        if p.key in due_alerts
        and abs(datetime.fromisoformat(due_alerts[p.key]["due_at"]) - p.due_at)
        > timedelta(seconds=1)
    ]
    lost_notices = [p for p in probes if p.notice_expected and p.key not in noticed]
    forbidden_notices = [p for p in probes if not p.notice_expected and p.key in noticed]
    wrong_flag = unexplained_late = explained_late = armed_late = 0
    for probe in probes:
        alert = due_alerts.get(probe.key)
        if not alert:
            continue
        lateness = (
            datetime.fromisoformat(alert["emitted_at"]) - datetime.fromisoformat(alert["due_at"])
        ).total_seconds()
        if alert["late"] != (lateness > LATE_AFTER):
            wrong_flag += 1
        due_in_run = probe.due_at.timestamp() - clock_start
        if alert["late"] and due_in_run > 0:
            if armed.get(probe.key, 0.0) > probe.due_at.timestamp() + LATE_AFTER:
                armed_late += 1
            elif downtime_explains(due_in_run, faults):
                explained_late += 1
            else:
                unexplained_late += 1
                print(
                    f"  late, unexplained: {probe.key} due {probe.due_at:%H:%M:%S} "
                    f"(+{due_in_run:.0f} s), emitted {lateness:.0f} s after, armed "
                    f"{armed.get(probe.key, float('nan')) - probe.due_at.timestamp():+.0f} s "
                    "from due_at"
                )
    dead = {
        (d.get("source_topic"), d.get("source_partition"), d.get("source_offset"))
        for d in (r.value or {} for r in deadletter_records)
    }
    missing_dead = [placed[i] for i in bad if placed[i] not in dead]
    for probe in lost_alerts[:10]:
        print(f"  lost alert: {probe.key} due {probe.due_at:%H:%M:%S.%f} ({probe.jurisdiction})")
    for probe in lost_notices[:10]:
        print(f"  lost notice: {probe.key} due {probe.due_at:%H:%M:%S.%f}")
    for topic, partition, offset in missing_dead[:10]:
        print(f"  bad message not dead-lettered: {topic}[{partition}]@{offset}")
    outcome = {
        "events": events,
        "rate": rate,
        "probes": len(probes),
        "faults": [fault.__dict__ for fault in faults],
        "faults_by_service": dict(Counter(fault.service for fault in faults)),
        "alerts_expected": len(probes),
        "alerts_lost": len(lost_alerts),
        "alerts_wrong_due_at": len(wrong_due),
        "notices_expected": sum(1 for p in probes if p.notice_expected),
        "notices_lost": len(lost_notices),
        "notices_forbidden": len(forbidden_notices),
        "alert_ids_repeated": sum(1 for c in alert_counts.values() if c > 1),
        "alert_repeats": sum(c - 1 for c in alert_counts.values()),
        "notice_ids_repeated": sum(1 for c in notice_counts.values() if c > 1),
        "notice_repeats": sum(c - 1 for c in notice_counts.values()),
        "late_flag_wrong": wrong_flag,
        "late_armed_after_due": armed_late,
        "late_explained_by_downtime": explained_late,
        "late_unexplained": unexplained_late,
        "bad_injected": len(bad),
        "bad_not_dead_lettered": len(missing_dead),
    }
    outcome["passed"] = not (
        lost_alerts
        or wrong_due
        or lost_notices
        or forbidden_notices
        or wrong_flag
        or unexplained_late
        or missing_dead
    )
    print_table(outcome, faults)
    return outcome


def print_table(outcome: dict[str, Any], faults: list[Fault]) -> None:
    print("\n  faults injected (kill -9, then started again)")
    print("    t (s)  service        worker  pid      ready again after")
    for fault in faults:
        back = f"{fault.ready_again - fault.at:6.1f} s" if fault.ready_again else "   never"
        print(
            f"    {fault.at:6.1f}  {fault.service:<13}  {fault.worker:>6}  {fault.pid:<7}  {back}"
        )
    rows = [
        ("kills", sum(outcome["faults_by_service"].values()), str(outcome["faults_by_service"])),
        ("alerts expected / lost", outcome["alerts_expected"], outcome["alerts_lost"]),
        ("alerts with a wrong due_at", outcome["alerts_wrong_due_at"], ""),
        ("notices expected / lost", outcome["notices_expected"], outcome["notices_lost"]),
        ("notices where policy forbids", outcome["notices_forbidden"], ""),
        ("alert_ids repeated (repeats)", outcome["alert_ids_repeated"], outcome["alert_repeats"]),
        (
            "notice_ids repeated (repeats)",
            outcome["notice_ids_repeated"],
            outcome["notice_repeats"],
        ),
        ("late flag disagreeing with times", outcome["late_flag_wrong"], ""),
        ("late: armed only after due (input behind)", outcome["late_armed_after_due"], ""),
        (
            "late: downtime explains / not",
            outcome["late_explained_by_downtime"],
            outcome["late_unexplained"],
        ),
        (
            "bad messages / not dead-lettered",
            outcome["bad_injected"],
            outcome["bad_not_dead_lettered"],
        ),
    ]
    print("\n  outcome")
    for label, first, second in rows:
        print(f"    {label:<44} {first!s:>8}  {second!s}")
    print(f"\n  {'PASSED: nothing lost' if outcome['passed'] else 'FAILED'}")


def main(events: int = 50_000, rate: float = 400.0, seed: int = 1) -> int:
    outcome = asyncio.run(run(events, rate, seed))
    outcome["seed"] = seed
    outcome["broker"] = RUNNING["name"]
    outcome["fixes_off"] = FIXES_OFF
    name = "chaos" if seed == 1 else f"chaos-seed{seed}"
    if FIXES_OFF:
        name = f"chaos-off/{FIXES_OFF.replace(',', '+')}-seed{seed}"
        (ROOT / "bench" / "results" / "chaos-off").mkdir(parents=True, exist_ok=True)
    path = save(name, outcome)
    print(f"  results: {path.relative_to(ROOT)}")
    return 0 if outcome["passed"] else 1


if __name__ == "__main__":
    kinds = (int, float, int)  # events, rate, seed
    sys.exit(main(*(kind(a) for kind, a in zip(kinds, sys.argv[1:4], strict=False))))
