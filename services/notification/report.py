"""The compliance report (``releasewatch report``): figures per jurisdiction from the ledger.

Pure: ledger records in, rows out. The CLI reads ``notice.audit.v1`` up to its end.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

COLUMNS = (
    "jurisdiction",
    "requests_received",
    "requests_withdrawn",
    "notices_issued",
    "notices_suppressed",
    "suppressed_by_rule",
    "notices_late",
    "median_lead_hours",
    "min_lead_hours",
    "acknowledged_within_timeout",
    "acknowledged_late",
    "escalated",
    "notices_delivered",
    "notices_confirmed",
    "notices_unconfirmed",
    "deliveries_undelivered",
    "flagged_releases_without_notice",
    "releases_notice_withheld_by_policy",
)


@dataclass
class JurisdictionFigures:
    jurisdiction: str
    requests_received: int = 0
    requests_withdrawn: int = 0
    notices_issued: int = 0
    notices_suppressed: int = 0
    suppressed_by_rule: dict[str, int] = field(default_factory=dict)
    notices_late: int = 0
    median_lead_hours: float | None = None
    min_lead_hours: float | None = None
    acknowledged_within_timeout: int = 0
    acknowledged_late: int = 0
    escalated: int = 0
    # Delivery truth (#44): a notice is given when a channel confirmed it (webhook 2xx) or
    # the agency acknowledged it; one only written to its Kafka topic is unconfirmed.
    notices_delivered: int = 0  # issued notices a channel confirmed
    notices_confirmed: int = 0  # delivered or acknowledged: given
    notices_unconfirmed: int = 0  # on the agency's topic, nothing says anyone has it
    deliveries_undelivered: int = 0  # deliveries that ended 410 or gave up (escalated)
    flagged_releases_without_notice: int = 0  # the number that must be zero
    releases_notice_withheld_by_policy: int = 0  # the law withheld it: no ops failure


def compile_report(
    records: Iterable[dict[str, Any]],
    jurisdiction: str | None = None,
    since: datetime | None = None,
) -> list[JurisdictionFigures]:
    figures: dict[str, JurisdictionFigures] = {}
    leads: dict[str, list[float]] = defaultdict(list)
    seen: set[str] = set()
    issued: dict[str, set[str]] = defaultdict(set)  # jurisdiction -> notice ids
    delivered: set[str] = set()
    acknowledged: set[str] = set()
    for record in records:
        if record.get("event_id") in seen:
            continue  # a repeat after a rebalance carries the same id
        seen.add(record.get("event_id", ""))
        place = record.get("jurisdiction", "")
        if jurisdiction and place != jurisdiction:
            continue
        data = record.get("data") or {}
        at = datetime.fromisoformat(data["at"]) if data.get("at") else None
        if since and at and at < since:
            continue
        row = figures.setdefault(place, JurisdictionFigures(place))
        if record.get("type") == "notice.delivery":
            if data.get("result") == "delivered":
                delivered.add(str(data.get("notice_id")))
            elif data.get("result") in ("gone", "gave_up"):
                row.deliveries_undelivered += 1
            continue
        step, detail = data.get("step"), data.get("detail") or {}
        kind = detail.get("kind")
        if step == "request_received":
            row.requests_received += 1
        elif step == "request_withdrawn":
            row.requests_withdrawn += 1
        elif step in ("issued", "suppressed"):
            if step == "issued":
                row.notices_issued += 1
                issued[place].add(str(data.get("notice_id")))
            else:
                row.notices_suppressed += 1
                rule = data.get("rule") or "?"
                row.suppressed_by_rule[rule] = row.suppressed_by_rule.get(rule, 0) + 1
            if kind == "notice_due":
                if detail.get("late"):
                    row.notices_late += 1
                if step == "issued" and detail.get("lead_hours") is not None:
                    leads[place].append(float(detail["lead_hours"]))
            if kind == "released" and detail.get("notice_given") is False:
                if detail.get("notice_withheld_by"):
                    row.releases_notice_withheld_by_policy += 1
                else:
                    row.flagged_releases_without_notice += 1
        elif step == "acknowledged":
            acknowledged.add(str(data.get("notice_id")))
            if detail.get("within_timeout"):
                row.acknowledged_within_timeout += 1
            else:
                row.acknowledged_late += 1
        elif step == "escalated":
            row.escalated += 1
    for place, notices in issued.items():
        row = figures[place]
        row.notices_delivered = len(notices & delivered)
        row.notices_confirmed = len(notices & (delivered | acknowledged))
        row.notices_unconfirmed = len(notices) - row.notices_confirmed
    for place, values in leads.items():
        figures[place].median_lead_hours = round(statistics.median(values), 2)
        figures[place].min_lead_hours = round(min(values), 2)
    return [figures[place] for place in sorted(figures)]


def render(rows: list[JurisdictionFigures], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([asdict(row) for row in rows], indent=2)
    flat = [
        {
            **asdict(row),
            "suppressed_by_rule": "; ".join(
                f"{rule}: {count}" for rule, count in sorted(row.suppressed_by_rule.items())
            ),
        }
        for row in rows
    ]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(flat)
        return out.getvalue()
    lines = []
    for row in flat:
        lines.append(row["jurisdiction"])
        for column in COLUMNS[1:]:
            value = row[column]
            lines.append(f"  {column.replace('_', ' '):<34} {'-' if value is None else value}")
    return "\n".join(lines) if lines else "(no ledger records)"
