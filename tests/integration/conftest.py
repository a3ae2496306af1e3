"""Integration fixtures: a real embedded broker and real service processes, on loopback.

The broker is the embedded Apache Kafka (``RELEASEWATCH_EMBEDDED_BROKER=tansu`` runs the suite
on Tansu instead); ``test_tansu_fallback.py`` keeps Tansu honest in every run. Every process
started here is stopped here; waits are on conditions with deadlines.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from schemas.deadletter import DeadLetter
from services.cli.deadletters import shown
from services.core import kek_file
from services.kafka.admin.topics import ensure_topics_sync
from services.kafka.broker.apache import EmbeddedKafka
from services.kafka.broker.embedded import HOW_TO_GET_KAFKA, EmbeddedBroker, embedded_broker
from services.kafka.broker.toolchain import missing_toolchain
from tests.support.processes import alive, descendants, without_settings
from tests.support.topics import KafkaHelper
from tests.support.workers import Worker as ServiceProcess  # started as production does
from tests.support.workers import stop_all

PARTITIONS = 4
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


BROKERS_USED: list[str] = []  # for the run's closing lines (tests/conftest.py)


def wanted_broker() -> str:
    return os.environ.get("RELEASEWATCH_EMBEDDED_BROKER", "kafka")


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """The embedded broker every integration test shares: Apache Kafka, never a silent
    fallback (a suite on Tansu says so by asking for it)."""
    ARTIFACTS.mkdir(exist_ok=True)
    wanted = wanted_broker()
    reason = missing_toolchain() if wanted == "kafka" else None
    if reason:
        pytest.fail(f"the integration suite runs on Apache Kafka: {reason}; {HOW_TO_GET_KAFKA}")
    with tempfile.TemporaryDirectory(prefix="releasewatch-broker-") as folder:
        running = embedded_broker(wanted, Path(folder))
        with running:
            BROKERS_USED.append(f"{running.name} at {running.bootstrap}")
            ensure_topics_sync(running.bootstrap, PARTITIONS)
            yield running
        _keep_log(running)


@contextlib.contextmanager
def own_kafka(folder: Path, label: str, nodes: int = 1) -> Iterator[EmbeddedKafka]:
    """An Apache Kafka of a test's own (``nodes`` 1 or 3), stopped after it, its nodes' logs
    kept as ``test-artifacts/broker-<label>-<node>.log``."""
    running = EmbeddedKafka(folder / "kafka", nodes=nodes)
    running.start()
    try:
        yield running
    finally:
        running.stop()
        for node in running.nodes:
            (ARTIFACTS / f"broker-{label}-{node.node_id}.log").write_bytes(
                node.log_file.read_bytes()
            )


def _keep_log(running: EmbeddedBroker) -> None:
    """The broker's log outlives its temporary data dir, for a failed run's artifacts."""
    if running.log_file and running.log_file.exists():
        worker = os.environ.get("PYTEST_XDIST_WORKER")  # one broker per worker of the run
        name = f"broker-{running.flavor}-{worker}.log" if worker else f"broker-{running.flavor}.log"
        (ARTIFACTS / name).write_bytes(running.log_file.read_bytes())


def shared_keks() -> Path:
    """The KEKs every service of this test process seals person data under, as in production
    (#46): one file, so that booking and notification, each with its own data dir, agree."""
    path = Path(tempfile.gettempdir()) / f"releasewatch-test-keks-{os.getpid()}.json"
    if not path.exists():
        kek_file.rotate(path)
    return path


def sent_value(letter: dict[str, Any]) -> bytes:
    """A dead letter's value as its publisher sent it, opened with the services' shared KEKs
    (#46) by what `releasewatch deadletters open` prints."""
    return shown(DeadLetter.model_validate(letter), kek_file.load(shared_keks()))


def service_env(broker: EmbeddedBroker, data_dir: Path, **extra: str | None) -> dict[str, str]:
    """A service's environment on ``broker``; ``extra`` settings on top (None: unset)."""
    env = without_settings()
    env.update(
        {
            "RELEASEWATCH_KEK_FILE": str(shared_keks()),
            "RELEASEWATCH_BROKER_URL": broker.url,
            "RELEASEWATCH_BROKER_FLAVOR": broker.flavor,
            "RELEASEWATCH_PARTITIONS": str(PARTITIONS),
            "RELEASEWATCH_LOG_FORMAT": "json",
            "RELEASEWATCH_DATA_DIR": str(data_dir),
            "RELEASEWATCH_SESSION_TIMEOUT": "6",
            "RELEASEWATCH_LOG_LEVEL": os.environ.get("TEST_SERVICE_LOG_LEVEL", "info"),
        }
    )
    env.update({name: value for name, value in extra.items() if value is not None})
    for name in (name for name, value in extra.items() if value is None):
        env.pop(name, None)
    return env


def start_services(
    broker: EmbeddedBroker,
    data_dir: Path,
    names: Iterable[str],
    label: str,
    **extra_env: str | None,
) -> list[ServiceProcess]:
    """The services ``names`` started on a broker a test runs itself (the caller stops them),
    each logging to ``test-artifacts/<label>-<name>.log`` (an earlier run's log removed)."""
    for name in names:
        (ARTIFACTS / f"{label}-{name}.log").unlink(missing_ok=True)
    workers = [
        ServiceProcess(
            name,
            service_env(broker, data_dir / name, **extra_env),
            ARTIFACTS / f"{label}-{name}.log",
        )
        for name in names
    ]
    for worker in workers:
        worker.start()
    return workers


@pytest.fixture
def start_service(broker: EmbeddedBroker, tmp_path: Path) -> Iterator:
    started: list[ServiceProcess] = []

    def start(name: str, **extra_env: str | None) -> ServiceProcess:
        index = len(started)
        env = service_env(broker, tmp_path / f"{name}-{index}", **extra_env)
        log_path = ARTIFACTS / f"{name}-{index}-{os.getpid()}-{time.time_ns()}.log"
        service = ServiceProcess(name, env, log_path).start()
        started.append(service)
        return service

    yield start
    stop_all(started)


@pytest.fixture
async def kafka(broker: EmbeddedBroker) -> KafkaHelper:
    async with KafkaHelper(broker.bootstrap) as helper:
        yield helper


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = without_settings()
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


def launch(launched: list, env: dict[str, str], *command: str) -> subprocess.Popen[str]:
    """``releasewatch COMMAND...``, stopped (with every descendant) by the fixture."""
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", *command],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    launched.append(process)
    return process
