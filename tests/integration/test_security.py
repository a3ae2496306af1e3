"""What the embedded broker can enforce of SASL, proved against it (Tansu 0.6 `--authentication`).

Tansu refuses every client that does not log in, and offers SCRAM only. It cannot be given
users while it enforces logins (its `user create` itself needs a login, and its storage is
memory only), so a successful SCRAM login, TLS and ACLs are checked statically only
(tests/unit/runtime/test_security.py, tests/unit/test_deploy_files.py).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.kafka.embedded import EmbeddedBroker
from services.kafka.security import client_options
from services.kafka.tansu import TansuBroker
from services.settings import Settings
from tests.integration.conftest import ARTIFACTS, service_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def locked_broker() -> Iterator[TansuBroker]:
    ARTIFACTS.mkdir(exist_ok=True)
    with TansuBroker(log_file=ARTIFACTS / "broker-auth.log", authentication=True) as running:
        yield running


def topics_create(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "topics", "create", "--wait", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


SCRAM = {
    "RELEASEWATCH_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "RELEASEWATCH_SASL_MECHANISM": "SCRAM-SHA-512",
    "RELEASEWATCH_SASL_USERNAME": "dhs-ice",
    "RELEASEWATCH_SASL_PASSWORD": "not-a-user-here",
}


def test_a_client_without_credentials_is_refused(
    locked_broker: EmbeddedBroker, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    # Control: the same job against the open broker succeeds.
    opened = topics_create(service_env(broker, tmp_path))
    assert opened.returncode == 0, opened.stderr
    assert "already there" in opened.stdout

    refused = topics_create(service_env(locked_broker, tmp_path))
    assert refused.returncode == 1, (refused.stdout, refused.stderr)
    assert f"cannot create topics on {locked_broker.url}" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_client_with_unknown_credentials_is_refused(
    locked_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    refused = topics_create(service_env(locked_broker, tmp_path, **SCRAM))
    assert refused.returncode == 1, (refused.stdout, refused.stderr)
    assert "cannot create topics" in refused.stderr
    assert SCRAM["RELEASEWATCH_SASL_PASSWORD"] not in refused.stderr


async def test_the_producer_configured_from_settings_cannot_publish_unauthenticated(
    locked_broker: EmbeddedBroker,
) -> None:
    for extra in ({}, {key.removeprefix("RELEASEWATCH_").lower(): v for key, v in SCRAM.items()}):
        settings = Settings.model_validate({"broker_url": locked_broker.url, **extra})
        producer = AIOKafkaProducer(**client_options(settings), request_timeout_ms=3000)
        with pytest.raises((KafkaError, KeyError)):  # aiokafka's SCRAM client raises KeyError
            await asyncio.wait_for(producer.start(), 30)
        await producer.stop()
