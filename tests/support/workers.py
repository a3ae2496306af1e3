"""Service workers started as production starts them (``releasewatch service NAME``), with
what a test or a benchmark reads from them: /ready, /metrics, their log."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from services.kafka.broker.process import die_with_parent_preexec, free_port
from tests.support.poll import until

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Worker:
    """One worker process of one service; its log goes to ``log_path``."""

    name: str
    env: dict[str, str]
    log_path: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> Worker:
        self.port = free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "services.cli",
                    "service",
                    self.name,
                    "--port",
                    str(self.port),
                ],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent_preexec,
            )
        self.starts += 1
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """kill -9: no shutdown, no commit, no flush."""
        if self.alive():
            assert self.process is not None
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then kill -9 if it has not stopped within ``timeout``."""
        stop_all([self], timeout)

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""
        except OSError:
            return 0, ""

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def metrics(self) -> dict[str, float]:
        status, text = self.get("/metrics")
        return parse_metrics(text) if status == 200 else {}

    def cpu_seconds(self) -> float:
        """CPU time the worker's process has used so far (user + system, all its threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0


METRIC_LINE = re.compile(r"^(\w+)(\{[^}]*\})? (\S+)$")


def parse_metrics(text: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        match = METRIC_LINE.match(line)
        if match:
            values[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return values


def total(metrics: dict[str, float], name: str, **labels: str) -> float:
    """The sum of ``name`` over every series whose labels include ``labels``."""
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    return sum(
        value
        for series, value in metrics.items()
        if series.split("{")[0] == name and all(label in series for label in wanted)
    )


def stop_all(workers: Iterable[Worker], timeout: float = 20.0) -> None:
    """Stop every worker, all at once: each asked first (SIGTERM), then each waited for
    (kill -9 past ``timeout``), so their clean shutdowns overlap (one after another, a test's
    three or four took 5 to 7 s)."""
    running = [w for w in workers if w.alive()]
    for worker in running:
        assert worker.process is not None
        worker.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for worker in running:
        assert worker.process is not None
        try:
            worker.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.kill()


async def all_ready(workers: Iterable[Worker], timeout: float = 90.0) -> None:
    for worker in workers:
        await until(lambda w=worker: w.get("/ready")[0] == 200, timeout, f"{worker.name} ready")


def log_events(path: Path, event: str) -> list[tuple[float, dict[str, Any]]]:
    """(unix time, fields) of every JSON log line of ``event`` in a worker's log."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        if f'"{event}"' not in line:
            continue
        with contextlib.suppress(ValueError):
            fields = json.loads(line)
            if fields.get("event") == event:
                stamp = datetime.fromisoformat(fields["timestamp"].replace("Z", "+00:00"))
                found.append((stamp.timestamp(), fields))
    return found


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``releasewatch ARGS`` as a user runs it, with ``env``; its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
