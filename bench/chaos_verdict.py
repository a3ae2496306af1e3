"""The fault suite's verdict: what must have happened, checked against what the topics
carry (see ``bench.chaos``), and the table of faults and outcomes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

WINDOW = timedelta(hours=48)
LATE_AFTER = 60.0  # s, SPEC 3.4


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
    """A scheduling worker, or a broker, was down or rejoining around ``due`` (s since
    start): a broker's partitions move to new leaders, and the workers follow."""
    for fault in faults:
        if fault.service != "scheduling" and not fault.service.startswith("broker"):
            continue
        back = (fault.ready_again or fault.at + 120) + 15  # + the rebalance that follows
        if fault.at - 10 <= due <= back:
            return True
    return False


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
    once: bool = False,
) -> dict[str, Any]:
    """``once``: the outputs were read ``read_committed`` from exactly_once workers, so
    SPEC 8 promises each alert and notice once and a repeated id fails the run."""
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
    for field, records, counts in (
        ("alert_id", alert_records, alert_counts),
        ("notice_id", notice_records, notice_counts),
    ):
        print_repeats(field, records, counts)
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
        or (once and (outcome["alert_repeats"] or outcome["notice_repeats"]))
    )
    print_table(outcome, faults)
    return outcome


def print_repeats(field: str, records: list[Any], counts: Counter[str]) -> None:
    """Each repeated id's copies: where and when each was written, to trace the cause."""
    repeated = [ident for ident, count in counts.items() if count > 1]
    for ident in repeated[:10]:
        print(f"  repeated {field} {ident}:")
        for record in records:
            data = (record.value or {}).get("data") or {}
            if data.get(field) == ident:
                print(
                    f"    {record.topic}[{record.partition}]@{record.offset} "
                    f"written {datetime.fromtimestamp(record.timestamp, UTC):%H:%M:%S.%f} "
                    f"kind {data.get('kind')} emitted_at {data.get('emitted_at')}"
                )


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
