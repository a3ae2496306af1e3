"""Every command answers bad input with one clear line and the right exit code, never a
traceback: 2 for what the user typed or set, 1 for what failed while working."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from services.kafka.broker.process import free_port
from tests.integration.conftest import ROOT
from tests.support.processes import without_settings

pytestmark = pytest.mark.integration

EVENT = (ROOT / "examples" / "booking-opened.json").read_text()
CLOSED = f"kafka://127.0.0.1:{free_port()}"  # nothing listens there


def run(argv: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    base = without_settings()
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *argv],
        env={**base, **env},
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def cases(tmp: Path) -> list[tuple[str, list[str], dict[str, str], str, int, list[str]]]:
    """(what, argv, environment, stdin, exit code, what the line must say)."""
    url = {"RELEASEWATCH_BROKER_URL": CLOSED}
    not_utf8 = tmp / "latin1.json"
    not_utf8.write_bytes(b'{"name": "J\xfcrgen"}')
    bad_policy = {"RELEASEWATCH_POLICY_FILE": str(tmp / "no-policies.yaml"), **url}
    hooked = tmp / "agencies.yaml"
    hooked.write_text(
        "agencies:\n  - slug: dhs-ice\n    name: ICE\n    webhook:\n"
        "      url: https://hooks.example.gov/n\n      secrets: env:RW_NOT_SET_SECRETS\n"
    )
    no_secret = {"RELEASEWATCH_AGENCIES_FILE": str(hooked), **url}
    plain = tmp / "plain-agencies.yaml"
    plain.write_text(hooked.read_text().replace("https://", "http://"))
    plain_http = {
        "RELEASEWATCH_AGENCIES_FILE": str(plain),
        "RW_NOT_SET_SECRETS": "whsec_c2VjcmV0",
        **url,
    }
    return [
        (
            "missing file",
            ["publish", "/nonexistent.json"],
            url,
            "",
            2,
            ["/nonexistent.json", "no such file"],
        ),
        ("a directory", ["publish", str(tmp)], url, "", 2, ["is a directory"]),
        ("not UTF-8", ["publish", str(not_utf8)], url, "", 2, ["not UTF-8"]),
        ("empty stdin", ["publish", "-"], url, "", 2, ["no event to publish"]),
        ("JSON array", ["publish", "-"], url, "[1, 2]", 2, ["an array", "not an event object"]),
        (
            "no key",
            ["publish", "-"],
            url,
            '{"type":"booking.opened"}',
            2,
            ["jurisdiction or booking_id", "--topic"],
        ),
        ("not JSON", ["publish", "-"], url, "{nope", 2, ["not JSON", "--topic"]),
        (
            "unknown type",
            ["publish", "-"],
            url,
            '{"type":"x","jurisdiction":"j","booking_id":"b"}',
            2,
            ["'x'", "--topic"],
        ),
        (
            "second line bad",
            ["publish", "-"],
            url,
            EVENT.strip() + "\n[]\n",
            2,
            ["document 2", "nothing was published"],
        ),
        ("closed port", ["publish", "-"], url, EVENT, 1, [CLOSED, "gave up after"]),
        ("closed port, report", ["report"], url, "", 1, [CLOSED]),
        ("closed port, tail", ["tail", "jail.booking.v1"], url, "", 1, [CLOSED]),
        (
            "http scheme",
            ["tail", "jail.booking.v1"],
            {"RELEASEWATCH_BROKER_URL": "http://x"},
            "",
            2,
            ["RELEASEWATCH_BROKER_URL", "kafka://"],
        ),
        (
            "no port",
            ["watch"],
            {"RELEASEWATCH_BROKER_URL": "kafka://localhost"},
            "",
            2,
            ["host:port"],
        ),
        (
            "bad port",
            ["trace", "j/b"],
            {"RELEASEWATCH_BROKER_URL": "kafka://h:99999"},
            "",
            2,
            ["valid port"],
        ),
        (
            "bad date",
            ["report", "--since", "notadate"],
            url,
            "",
            2,
            ["--since 'notadate' is not a date"],
        ),
        ("bad trace key", ["trace", "no-slash"], url, "", 2, ["<jurisdiction>/<booking_id>"]),
        ("bad agency", ["agency", "listen", "--agency", "Not A Slug"], url, "", 2, ["--agency"]),
        ("bad agency topic", ["topics", "create", "--agency", "UPPER"], url, "", 2, ["UPPER"]),
        ("no broker URL", ["tail", "x"], {}, "", 2, ["set RELEASEWATCH_BROKER_URL"]),
        (
            "bad partitions",
            ["topics", "list"],
            {"RELEASEWATCH_PARTITIONS": "abc"},
            "",
            2,
            ["RELEASEWATCH_PARTITIONS"],
        ),
        ("tail limit 0", ["tail", "x", "--limit", "0"], url, "", 2, ["--limit 0"]),
        ("simulate rate 0", ["simulate", "--rate", "0"], url, "", 2, ["--rate"]),
        ("health without port", ["health"], {}, "", 2, ["--port"]),
        (
            "missing policy file",
            ["service", "notification"],
            bad_policy,
            "",
            2,
            ["no-policies.yaml"],
        ),
        (
            "webhook secret not set",
            ["service", "notification"],
            no_secret,
            "",
            2,
            ["agencies[dhs-ice].webhook.secrets: RW_NOT_SET_SECRETS is not set"],
        ),
        (
            "webhook on plain http",
            ["service", "notification"],
            plain_http,
            "",
            2,
            ["agencies[dhs-ice].webhook.url: http:// is refused outside development"],
        ),
    ]


def test_every_bad_input_gets_one_clear_line_and_its_exit_code(tmp_path: Path) -> None:
    failures = []
    every = cases(tmp_path)
    # Each case is its own process and none shares anything with another: run four at once.
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda case: run(case[1], case[2], case[3]), every))
    for (what, argv, _, _, code, says), result in zip(every, results, strict=True):
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        problems = []
        if result.returncode != code:
            problems.append(f"exit {result.returncode}, expected {code}")
        if len(lines) != 1:
            problems.append(f"{len(lines)} lines on stderr")
        if "Traceback" in result.stderr + result.stdout or "Unclosed" in result.stderr:
            problems.append("a traceback or an unclosed client")
        missing = [s for s in says if s not in result.stderr]
        if missing:
            problems.append(f"does not say {missing}")
        if problems:
            failures.append(f"{what} {argv}: {problems}; stderr: {result.stderr[-600:]!r}")
    assert not failures, "\n".join(failures)


def test_debug_shows_the_traceback_behind_the_line() -> None:
    result = run(["--debug", "publish", "/nonexistent.json"], {"RELEASEWATCH_BROKER_URL": CLOSED})
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "no such file" in result.stderr


def test_tail_of_a_topic_that_does_not_exist_says_so(broker: Any) -> None:
    result = run(["tail", "no.such.topic.v1"], {"RELEASEWATCH_BROKER_URL": broker.url})
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert "'no.such.topic.v1' does not exist" in line


def test_publish_without_a_key_but_with_topic_goes_out_as_given(broker: Any) -> None:
    raw = json.dumps({"type": "booking.opened"})
    result = run(
        ["publish", "-", "--topic", "jail.booking.v1"],
        {"RELEASEWATCH_BROKER_URL": broker.url},
        raw,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("jail.booking.v1[") and "key=None" in result.stdout
