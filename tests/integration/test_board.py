"""The board in headless Chromium (Debian's chromium, installed by `make`), with a real
Prometheus scraping the services: each flagged release shows what happened to it (upcoming,
sent, acknowledged, late, withheld by policy, escalated, released, overdue), and when a notice
goes overdue the board says so and Prometheus fires ReleasewatchNoticeOverdue from the
project's own rules. A screenshot is kept in test-artifacts/."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from schemas.topics import AUDIT, ESCALATIONS, JAIL_BOOKING, NOTICE_ACKS, NOTICE_ALERTS
from services.board.statuses import LABELS, ORDER, Status
from tests import factories as f
from tests.integration.conftest import ARTIFACTS, ROOT
from tests.integration.test_notification_service import flagged_booking
from tests.support.poll import until
from tests.support.prometheus import Prometheus
from tests.support.topics import KafkaHelper, Watch
from tests.support.workers import Worker, all_ready

pytestmark = pytest.mark.integration
H = timedelta(hours=1)
S = timedelta(seconds=1)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LABELS_IN_ORDER = [LABELS[status] for status in ORDER]
A11Y = ROOT / "tests" / "a11y"
POLICY = """
default:
  notices: all
  ack_timeout_minutes: 10
jurisdictions:
  us-il-cook:
    notices: none
    legal_basis: "Illinois TRUST Act, 5 ILCS 805"
  us-mn-ramsey:
    ack_timeout_minutes: 0.05   # 3 s, no resend: escalated at once
    max_resends: 0
"""


class Rows(HTMLParser):
    """The text of each body row (not the header), per table id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[str]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id")
            self.tables.setdefault(self._table or "", [])
        elif tag == "tbody":
            self._body = True
        elif tag == "tr" and self._table and self._body:
            self._row = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._table and self._row is not None:
            self.tables[self._table].append(" | ".join(self._row))
            self._row = None
        elif tag == "tbody":
            self._body = False
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and data.strip():
            self._row.append(data.strip())


async def chromium(*args: str, profile: Path) -> str:
    assert CHROMIUM, "chromium is installed by `make` (Debian package chromium)"
    process = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=4000",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    return out.decode(errors="replace")


async def page_rows(url: str, profile: Path) -> dict[str, list[str]]:
    parser = Rows()
    parser.feed(await chromium("--dump-dom", url, profile=profile))
    return parser.tables


def row_of(rows: dict[str, list[str]], table: str, key: str) -> str:
    return next((row for row in rows.get(table, []) if key in row), "")


def label_of(row: str) -> str:
    """A release row's status word (the cell starts with its icon)."""
    cells = row.split(" | ")
    return cells[1] if len(cells) > 1 else ""


async def acknowledge(kafka: KafkaHelper, key: str, notice_id: str) -> None:
    jurisdiction, booking_id = key.split("/")
    now = datetime.now(UTC).isoformat()
    await kafka.publish(
        NOTICE_ACKS.name,
        f.envelope(
            "notice.acknowledged",
            {"notice_id": notice_id, "agency": "dhs-ice", "acknowledged_at": now, "by": "ERO"},
            booking_id=booking_id,
            jurisdiction=jurisdiction,
            occurred_at=now,
        ),
    )


async def release(kafka: KafkaHelper, key: str) -> None:
    jurisdiction, booking_id = key.split("/")
    at = datetime.now(UTC).isoformat()
    await kafka.publish(
        JAIL_BOOKING.name, f.released(at, booking_id=booking_id, jurisdiction=jurisdiction)
    )


def notice_of(notices: Watch, key: str) -> Any:
    return lambda r: r.key == key and r.value["data"]["kind"] == "notice_due"


async def test_the_board_tells_each_status_apart_and_prometheus_pages_when_a_notice_is_overdue(
    start_service: Any, kafka: KafkaHelper, tmp_path: Path
) -> None:
    policy = tmp_path / "policies.yaml"
    policy.write_text(POLICY)
    workers = [
        start_service(name, RELEASEWATCH_POLICY_FILE=str(policy))
        for name in ("booking", "scheduling", "notification")
    ]
    board = start_service("board")
    prometheus = Prometheus(tmp_path / "prometheus", [f"127.0.0.1:{w.port}" for w in workers])
    try:
        await all_ready([*workers, board])
        notices = await kafka.watch("notices.dhs-ice.v1")
        audit = await kafka.watch(AUDIT.name)
        escalations = await kafka.watch(ESCALATIONS.name)
        expected = await statuses_but_overdue(kafka, notices, audit, escalations)
        # A deadline nobody can act on: notice.alerts.v1 refuses every alert (a message size
        # limit below any alert's), so scheduling's timer cannot raise it.
        async with kafka.topic_config(NOTICE_ALERTS.name, max_message_bytes="64"):
            overdue = await flagged_booking(kafka, "us-mn-hennepin", release_in=48 * H + 5 * S)
            expected[overdue] = "Overdue: no notice"
            # axe-core and the keyboard, with the page open while the row turns overdue.
            a11y = asyncio.create_task(
                accessibility(f"http://127.0.0.1:{board.port}/", 150, announcement(overdue))
            )
            await until(
                lambda: any(
                    a["labels"]["alertname"] == "ReleasewatchNoticeOverdue"
                    and a["labels"]["service"] == "scheduling"
                    for a in prometheus.alerts()
                ),
                150,
                "Prometheus to fire ReleasewatchNoticeOverdue",
                every=1,
            )
            assert prometheus.targets_up() == len(workers)
            rows = await board_shows(board, expected, tmp_path / "profile")
            await chromium(
                "--screenshot=" + str(ARTIFACTS / "board.png"),
                "--window-size=1500,1400",
                f"http://127.0.0.1:{board.port}/",
                profile=tmp_path / "profile",
            )
            report = await a11y
    finally:
        prometheus.stop()
    assert_accessible(report, overdue)
    # Each row says what happened, in words (earlier tests' bookings are on the board too).
    said = {label: row_of(rows, "releases", key) for key, label in expected.items()}
    assert "late by 38 h" in said["Sent late"] or "late by 37 h" in said["Sent late"]
    assert (
        "withheld by notices: none (Illinois TRUST Act, 5 ILCS 805)" in said["Withheld by policy"]
    )
    assert "acknowledged by ERO at" in said["Acknowledged"]
    assert "awaiting acknowledgement" in said["Sent, awaiting ack"]
    assert "not_acknowledged" in said["Escalated"]
    assert "released; notice sent" in said["Released"]
    assert "none was sent" in said["Overdue: no notice"]
    assert all(re.search(r"\b[A-Z][SD]T\b", row) for row in said.values()), said  # zone in text
    # Rows that need action come first; the counters add up for each jurisdiction.
    order = [label_of(row) for row in rows["releases"]]
    ranks = [LABELS_IN_ORDER.index(label) for label in order]
    assert ranks == sorted(ranks), order
    for counted in rows["counts"]:
        jurisdiction, *numbers = counted.split(" | ")
        mine = [label_of(r) for r in rows["releases"] if f"{jurisdiction}/" in r]
        assert [int(n) for n in numbers] == [mine.count(lab) for lab in LABELS_IN_ORDER]
    assert (ARTIFACTS / "board.png").stat().st_size > 10_000


async def statuses_but_overdue(
    kafka: KafkaHelper, notices: Watch, audit: Watch, escalations: Watch
) -> dict[str, str]:
    """Bookings whose board rows say upcoming, sent, acknowledged, late, withheld by policy,
    escalated and released; by key, the status label each must show."""
    expected = {
        await flagged_booking(kafka, "us-mn-hennepin", release_in=60 * H): "Upcoming",
        await flagged_booking(kafka, "us-mn-hennepin", release_in=48 * H + 15 * S): "Sent",
        await flagged_booking(kafka, "us-mn-hennepin", release_in=48 * H + 15 * S): "Ack",
        await flagged_booking(kafka, "us-mn-hennepin", release_in=10 * H): "Sent late",
        await flagged_booking(kafka, "us-il-cook", release_in=10 * H): "Withheld by policy",
        await flagged_booking(kafka, "us-mn-ramsey", release_in=10 * H): "Escalated",
        await flagged_booking(kafka, "us-mn-hennepin", release_in=9 * H): "Released",
    }
    by_label = {label: key for key, label in expected.items()}
    for label in ("Sent", "Ack", "Sent late", "Released", "Escalated"):
        await notices.wait_for_unique(notice_of(notices, by_label[label]), 1, 90)
    [acked] = notices.unique(notice_of(notices, by_label["Ack"]))
    await acknowledge(kafka, by_label["Ack"], acked.value["data"]["notice_id"])
    await release(kafka, by_label["Released"])
    await audit.wait_for_unique(
        lambda r: (
            r.key == by_label["Withheld by policy"] and r.value["data"]["step"] == "suppressed"
        )
    )
    await escalations.wait_for_unique(lambda r: r.key == by_label["Escalated"], 1, 60)
    await notices.wait_for_unique(
        lambda r: r.key == by_label["Released"] and r.value["data"]["kind"] == "released", 1, 60
    )
    expected[by_label["Sent"]] = "Sent, awaiting ack"
    expected[by_label["Ack"]] = "Acknowledged"
    return expected


async def board_shows(
    board: Worker, expected: dict[str, str], profile: Path
) -> dict[str, list[str]]:
    """The board in Chromium, once each booking's row carries its status label."""
    url = f"http://127.0.0.1:{board.port}/"
    rows: dict[str, list[str]] = {}

    async def shown() -> bool:
        nonlocal rows
        rows = await page_rows(url, profile)
        return all(
            label_of(row_of(rows, "releases", key)) == label for key, label in expected.items()
        )

    try:
        await until(shown, 90, "every status on the board", every=1)
    except AssertionError:
        raise AssertionError(
            "the board never showed every status: "
            + json.dumps({key: row_of(rows, "releases", key) for key in expected}, indent=1)
        ) from None
    status, body = await asyncio.to_thread(board.get, "/ready")
    assert (status, json.loads(body)) == (200, {"ready": True, "service": "board"})
    return rows


def announcement(key: str) -> str:
    """What the live region says when the booking ``key``'s row turns overdue."""
    return f"Booking {key.split('/')[1]} for dhs-ice: {LABELS[Status.OVERDUE]}"


async def accessibility(url: str, timeout: float, announced: str) -> dict[str, Any]:
    """tests/a11y/board.mjs (axe-core 4 in Debian's Chromium through playwright-core, both
    pinned in tests/a11y/package-lock.json): its report once every status is on the page
    and the live region has said ``announced``. Other bookings on the broker (the
    simulator's, from tests run before on it) turn overdue too, and each change replaces
    the region's text: the report keeps each."""
    node = shutil.which("node")
    assert node and (A11Y / "node_modules").is_dir(), "`make test` installs tests/a11y (npm ci)"
    process = await asyncio.create_subprocess_exec(
        node,
        str(A11Y / "board.mjs"),
        url,
        "--statuses",
        ",".join(status.value for status in ORDER),
        "--announce",
        announced,
        "--timeout",
        str(timeout),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "CHROMIUM": CHROMIUM or ""},
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout + 120)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    (ARTIFACTS / "board-a11y.json").write_bytes(out)
    assert out, err.decode(errors="replace")
    report: dict[str, Any] = json.loads(out)
    return report


def assert_accessible(report: dict[str, Any], overdue: str) -> None:
    assert report["failures"] == [], report["failures"]
    assert sorted(report["statuses"]) == sorted(status.value for status in ORDER)
    names = [audit["name"] for audit in report["audits"]]
    assert names == ["every status", "filter open", "filtered by keyboard", "200% zoom"]
    for audit in report["audits"]:  # axe ran its rules: the ones this page must pass did
        assert audit["violations"] == [], audit
        assert {"color-contrast", "select-name", "th-has-data-cells"} <= set(audit["passes"])
    # The row turning overdue was announced politely, once, by its booking.
    assert report["live_region"]["live"] == "polite"
    said = [text for text in report["live_region"]["announced"] if announcement(overdue) in text]
    assert said, report["live_region"]
    assert report["countdowns_in_live_region"] == 0
    assert [r["id"] for r in report["keyboard"]["reached"]] == ["jurisdiction", "facility"]
