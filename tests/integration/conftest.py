"""Integration fixtures: a real embedded broker and real service processes, on loopback.

Every process started here is stopped here; waits are on conditions with deadlines.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.harness import Worker as ServiceProcess  # one worker, started as production does
from services.runtime.broker import EmbeddedBroker
from services.runtime.topics import ensure_topics_sync
from tests.integration.kafka import KafkaHelper

PARTITIONS = 4
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    ARTIFACTS.mkdir(exist_ok=True)
    with EmbeddedBroker(log_file=ARTIFACTS / "broker.log") as running:
        ensure_topics_sync(running.bootstrap, PARTITIONS)
        yield running


def service_env(broker: EmbeddedBroker, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELEASEWATCH_")}
    env.update(
        {
            "RELEASEWATCH_BROKER_URL": broker.url,
            "RELEASEWATCH_BROKER_FLAVOR": "tansu",
            "RELEASEWATCH_PARTITIONS": str(PARTITIONS),
            "RELEASEWATCH_LOG_FORMAT": "json",
            "RELEASEWATCH_DATA_DIR": str(data_dir),
            "RELEASEWATCH_SESSION_TIMEOUT": "6",
            "RELEASEWATCH_LOG_LEVEL": os.environ.get("TEST_SERVICE_LOG_LEVEL", "info"),
        }
    )
    env.update(extra)
    return env


@pytest.fixture
def start_service(broker: EmbeddedBroker, tmp_path: Path) -> Iterator:
    started: list[ServiceProcess] = []

    def start(name: str, **extra_env: str) -> ServiceProcess:
        index = len(started)
        env = service_env(broker, tmp_path / f"{name}-{index}", **extra_env)
        log_path = ARTIFACTS / f"{name}-{index}-{os.getpid()}-{time.time_ns()}.log"
        service = ServiceProcess(name, env, log_path).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture
async def kafka(broker: EmbeddedBroker) -> KafkaHelper:
    helper = KafkaHelper(broker.bootstrap)
    await helper.start()
    yield helper
    await helper.stop()
