"""`releasewatch up` and `releasewatch broker` start what they say and leave nothing behind."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.runtime.app import SERVICE_PORT_OFFSETS, port_is_free
from services.runtime.broker import metadata_answers
from tests.integration.conftest import ROOT
from tests.integration.processes import (
    alive,
    command_line,
    descendants,
    http_ok,
    wait_until,
)

pytestmark = pytest.mark.integration


def free_port_base() -> int:
    for _ in range(100):
        base = random.randrange(20000, 50000, 100)
        if all(port_is_free("127.0.0.1", base + o) for o in SERVICE_PORT_OFFSETS.values()):
            return base
    raise RuntimeError("no free port range")


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELEASEWATCH_")}
    env.update(
        {
            "RELEASEWATCH_DATA_DIR": str(tmp_path),
            "RELEASEWATCH_PARTITIONS": "2",
            "RELEASEWATCH_SESSION_TIMEOUT": "6",
            **extra,
        }
    )
    return env


@pytest.fixture
def launched() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        for pid in descendants(process.pid):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()
            process.wait(10)


def start_up(tmp_path: Path, launched: list, base: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up"],
        env=clean_env(tmp_path, RELEASEWATCH_WEB_PORT_BASE=str(base)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    launched.append(process)
    return process


def test_up_runs_the_stack_and_ctrl_c_stops_every_process(tmp_path: Path, launched: list) -> None:
    base = free_port_base()
    up = start_up(tmp_path, launched, base)
    assert up.stdout is not None
    broker_line = up.stdout.readline()
    assert broker_line.startswith("broker: kafka://127.0.0.1:"), broker_line
    host, port = broker_line.split("kafka://", 1)[1].strip().split(":")
    assert metadata_answers(host, int(port))
    health = f"http://127.0.0.1:{base + SERVICE_PORT_OFFSETS['booking']}/health"
    wait_until(lambda: http_ok(health), 60, f"{health} answers")
    started = descendants(up.pid)
    names = " ".join(command_line(pid) for pid in started)
    assert "tansu" in names
    assert "service booking" in names

    up.send_signal(signal.SIGINT)
    assert up.wait(40) == 0
    wait_until(lambda: not any(alive(pid) for pid in started), 10, "every child gone")


def test_up_stops_everything_and_names_a_service_that_died(tmp_path: Path, launched: list) -> None:
    base = free_port_base()
    up = start_up(tmp_path, launched, base)
    health = f"http://127.0.0.1:{base + SERVICE_PORT_OFFSETS['booking']}/health"
    wait_until(lambda: http_ok(health), 60, f"{health} answers")
    started = descendants(up.pid)
    [booking] = [pid for pid in started if "service booking" in command_line(pid)]
    os.kill(booking, signal.SIGKILL)
    assert up.wait(40) == 1
    assert up.stderr is not None
    assert "booking exited" in up.stderr.read()
    wait_until(lambda: not any(alive(pid) for pid in started), 10, "every child gone")


def test_the_broker_dies_with_its_parent_even_on_kill_9(tmp_path: Path, launched: list) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "broker"],
        env=clean_env(tmp_path),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    launched.append(parent)
    assert parent.stdout is not None
    url = parent.stdout.readline().strip()
    assert url.startswith("kafka://127.0.0.1:")
    host, port = url.removeprefix("kafka://").split(":")
    assert metadata_answers(host, int(port))
    [broker] = descendants(parent.pid)
    assert "tansu" in command_line(broker)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    wait_until(lambda: not alive(broker), 10, "the orphaned broker is gone")
    assert not metadata_answers(host, int(port))
