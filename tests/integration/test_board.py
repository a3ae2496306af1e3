"""The board in headless Chromium (Debian's chromium, installed by `make`): a flagged booking
appears with its countdown, its notice awaits acknowledgement, and leaves the list once the
agency acknowledges it through the topics. A screenshot is kept in test-artifacts/."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import urllib.request
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from schemas.topics import AUDIT, NOTICE_ACKS
from tests import factories as f
from tests.integration.conftest import ARTIFACTS
from tests.integration.test_notification_service import flagged_booking
from tests.support.topics import KafkaHelper

pytestmark = pytest.mark.integration
H = timedelta(hours=1)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Rows(HTMLParser):
    """The text of each table row, per table id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[str]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id")
            self.tables.setdefault(self._table or "", [])
        elif tag == "tr" and self._table:
            self._row = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._table and self._row is not None:
            self.tables[self._table].append(" | ".join(self._row))
            self._row = None
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


async def until_page(url: str, profile: Path, check: Any, timeout: float, what: str) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    rows: dict[str, list[str]] = {}
    while loop.time() < deadline:
        rows = await page_rows(url, profile)
        if check(rows):
            return rows
        await asyncio.sleep(1)
    raise AssertionError(f"the board never showed {what}: {rows}")


async def test_the_board_shows_countdowns_and_clears_acknowledged_notices(
    start_service: Any, kafka: KafkaHelper, tmp_path: Path
) -> None:
    for name in ("booking", "scheduling", "notification"):
        start_service(name)
    board = start_service("board")
    url = f"http://127.0.0.1:{board.port}/"
    audit = await kafka.watch(AUDIT.name)
    notices = await kafka.watch("notices.dhs-ice.v1")
    upcoming_key = await flagged_booking(kafka, "us-mn-hennepin", release_in=50 * H)
    noticed_key = await flagged_booking(kafka, "us-mn-hennepin", release_in=10 * H)
    [notice] = await notices.wait_for_unique(lambda r: r.key == noticed_key, 1, 90)
    notice_id = notice.value["data"]["notice_id"]

    def shows_both(rows: dict[str, list[str]]) -> bool:
        return any(upcoming_key in row for row in rows.get("upcoming", [])) and any(
            notice_id in row for row in rows.get("awaiting", [])
        )

    rows = await until_page(url, tmp_path / "profile", shows_both, 90, "both bookings")
    ready = await asyncio.to_thread(urllib.request.urlopen, url + "ready", timeout=5)
    assert json.loads(ready.read()) == {"ready": True, "service": "board"}  # it follows topics
    [row] = [r for r in rows["upcoming"] if upcoming_key in r]
    # Due 48 h before a release 50 h away: about two hours from now, in Chicago time.
    countdown = re.search(r"\b(0[12]):(\d\d):(\d\d)\b", row)
    assert countdown, row
    assert 100 <= int(countdown[1]) * 60 + int(countdown[2]) <= 121, row
    assert re.search(r"\bC[SD]T\b", row), row
    await chromium(
        "--screenshot=" + str(ARTIFACTS / "board.png"),
        "--window-size=1400,1100",
        url,
        profile=tmp_path / "profile",
    )

    jurisdiction, booking_id = noticed_key.split("/")
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
    await audit.wait_for_unique(
        lambda r: r.key == noticed_key and r.value["data"]["step"] == "acknowledged", 1, 60
    )
    await until_page(
        url,
        tmp_path / "profile",
        lambda rows: not any(notice_id in r for r in rows.get("awaiting", [])),
        30,
        "the acknowledged notice leave the awaiting list",
    )
    assert (ARTIFACTS / "board.png").stat().st_size > 10_000
