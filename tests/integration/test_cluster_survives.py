"""`releasewatch broker --nodes 3` outlives a node (issue 42): one broker JVM killed with
kill -9 under running services is logged and restarted while the two others keep serving; a
flagged schedule published after the kill gets its notice and a deadline armed before it
fires on time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from schemas.topics import NOTICE_ALERTS, agency_notices
from services.access import SERVICES
from tests import factories as f
from tests.integration.conftest import ARTIFACTS, clean_env, launch, start_services
from tests.support.bookings import flagging
from tests.support.poll import until
from tests.support.processes import alive, command_line, descendants
from tests.support.topics import KafkaHelper
from tests.support.workers import all_ready, stop_all

pytestmark = pytest.mark.integration


class Said:
    """What a command prints on stderr (its JSON log lines), read as it goes."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line)

    def events(self, name: str) -> list[dict[str, Any]]:
        found = []
        for line in self.lines:
            if line.startswith("{") and f'"{name}"' in line:
                record = json.loads(line)
                if record.get("event") == name:
                    found.append(record)
        return found


def broker_jvms(cli: subprocess.Popen[str]) -> dict[int, int]:
    """node id -> pid of each node's JVM started by the command."""
    found = {}
    for pid in descendants(cli.pid):
        line = command_line(pid)
        if "kafka.Kafka" in line:
            node = line.rsplit("node-", 1)[1].split("/", 1)[0]
            found[int(node)] = pid
    return found


@pytest.fixture
def cluster_command(tmp_path: Path, launched: list) -> Iterator[tuple[subprocess.Popen[str], Said]]:
    env = clean_env(tmp_path / "broker", RELEASEWATCH_LOG_FORMAT="json")
    cli = launch(launched, env, "broker", "--nodes", "3")
    said = Said(cli.stderr)
    try:
        yield cli, said
    finally:
        (ARTIFACTS / "cluster-survives-broker.log").write_text("".join(said.lines))


async def test_a_killed_node_is_restarted_and_notices_and_deadlines_go_on(
    cluster_command: tuple[subprocess.Popen[str], Said], tmp_path: Path
) -> None:
    cli, said = cluster_command
    assert cli.stdout is not None
    url = cli.stdout.readline().strip()
    assert len(url.split(";")) == 3, url
    broker = SimpleNamespace(url=url, flavor="apache")
    workers = start_services(broker, tmp_path, SERVICES, "cluster-survives")  # type: ignore[arg-type]
    try:
        await all_ready(workers, 120)
        async with KafkaHelper(url.removeprefix("kafka://").replace(";", ",")) as kafka:
            alerts = await kafka.watch(NOTICE_ALERTS.name)
            notices = await kafka.watch(agency_notices("dhs-ice").name)
            # Armed before the kill: due 45 s from now.
            armed = f"armed-{datetime.now(UTC).timestamp():.0f}"
            for topic, document in flagging(
                armed, datetime.now(UTC) + timedelta(hours=48, seconds=45)
            ):
                await kafka.publish(topic, document)
            armed_key = f"{f.JURISDICTION}/{armed}"

            jvms = broker_jvms(cli)
            assert sorted(jvms) == [1, 2, 3], jvms
            victim = jvms[2]
            os.kill(victim, signal.SIGKILL)
            await until(lambda: said.events("broker_node_lost"), 30, "the loss logged")
            [lost] = said.events("broker_node_lost")
            assert (lost["node"], lost["exit_code"], lost["alive"]) == (2, -9, 2)
            assert lost["log_file"].endswith("node-2.log")
            assert cli.poll() is None  # the survivors serve on

            # Published after the kill: its notice is due at once.
            after = f"after-{datetime.now(UTC).timestamp():.0f}"
            for topic, document in flagging(after, datetime.now(UTC) + timedelta(hours=10)):
                await kafka.publish(topic, document)
            after_key = f"{f.JURISDICTION}/{after}"
            await notices.wait_for(
                lambda r: r.key == after_key, 1, 120, "the notice after the kill"
            )

            [alert] = await alerts.wait_for_unique(
                lambda r: r.key == armed_key and r.value["data"]["kind"] == "notice_due",
                1,
                150,
                "event_id",
                "the deadline armed before the kill",
            )
            data = alert.value["data"]
            emitted = datetime.fromisoformat(data["emitted_at"])
            due = datetime.fromisoformat(data["due_at"])
            assert data["late"] is False
            assert timedelta(0) <= emitted - due < timedelta(seconds=20), (emitted, due)
            await notices.wait_for(lambda r: r.key == armed_key, 1, 60, "its notice")

        await until(lambda: said.events("broker_node_restarted"), 60, "the node restarted")
        await until(lambda: sorted(broker_jvms(cli)) == [1, 2, 3], 30, "three JVMs again")
        assert not alive(victim)
        assert cli.poll() is None
    finally:
        stop_all(workers)
    children = descendants(cli.pid)
    cli.send_signal(signal.SIGINT)
    assert cli.wait(60) == 0
    await until(lambda: not any(alive(pid) for pid in children), 20, "the broker's JVMs gone")
