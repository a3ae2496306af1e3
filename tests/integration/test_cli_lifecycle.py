"""`releasewatch up` and `releasewatch broker` start what they say and leave nothing behind."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from services.kafka.broker.process import metadata_answers, port_is_free, port_range
from services.streams.app import SERVICE_PORT_OFFSETS
from tests.integration.conftest import ROOT, clean_env, launch
from tests.support.poll import wait_until
from tests.support.processes import alive, command_line, descendants, http_ok

pytestmark = pytest.mark.integration


def free_port_base() -> int:
    """A base whose services' ports are free now and lie below the kernel's ephemeral range
    (as ``free_port`` picks). Inside it, a client connection's local port took booking's
    port between this check and the worker's bind ("address already in use" on 41800, CI on
    4b561dd)."""
    start, stop = port_range()  # this process's slice (a run on several workers)
    for _ in range(100):
        base = random.randrange(start, stop - 100, 100)
        if all(port_is_free("127.0.0.1", base + o) for o in SERVICE_PORT_OFFSETS.values()):
            return base
    raise RuntimeError("no free port range")


def start_up(tmp_path: Path, launched: list, base: int) -> subprocess.Popen[str]:
    return launch(launched, clean_env(tmp_path, RELEASEWATCH_WEB_PORT_BASE=str(base)), "up")


def test_up_runs_the_stack_and_ctrl_c_stops_every_process(tmp_path: Path, launched: list) -> None:
    base = free_port_base()
    up = start_up(tmp_path, launched, base)
    assert up.stdout is not None
    broker_line = up.stdout.readline()
    assert broker_line.startswith("broker: kafka://127.0.0.1:"), broker_line
    host, port = broker_line.split("kafka://", 1)[1].strip().split(":")
    assert metadata_answers(host, int(port))
    start, stop = port_range()
    assert start <= int(port) < stop  # this test worker's slice, handed down to `up`
    health = f"http://127.0.0.1:{base + SERVICE_PORT_OFFSETS['booking']}/health"
    wait_until(lambda: http_ok(health), 60, f"{health} answers")
    started = descendants(up.pid)
    names = " ".join(command_line(pid) for pid in started)
    assert "kafka.Kafka" in names  # the embedded Apache Kafka, a JVM
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
    parent = start_broker(clean_env(tmp_path), launched)
    assert parent.stdout is not None
    url = parent.stdout.readline().strip()
    assert url.startswith("kafka://127.0.0.1:")
    host, port = url.removeprefix("kafka://").split(":")
    assert metadata_answers(host, int(port))
    [broker] = descendants(parent.pid)
    assert "kafka.Kafka" in command_line(broker)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    wait_until(lambda: not alive(broker), 10, "the orphaned broker is gone")
    assert not metadata_answers(host, int(port))


def test_kill_9_of_up_leaves_no_jvm_and_no_service(tmp_path: Path, launched: list) -> None:
    base = free_port_base()
    up = start_up(tmp_path, launched, base)
    health = f"http://127.0.0.1:{base + SERVICE_PORT_OFFSETS['scheduling']}/health"
    wait_until(lambda: http_ok(health), 60, f"{health} answers")
    started = descendants(up.pid)
    assert any("kafka.Kafka" in command_line(pid) for pid in started)
    up.send_signal(signal.SIGKILL)
    up.wait(10)
    gone = "every child, JVM included, gone"
    wait_until(lambda: not any(alive(pid) for pid in started), 20, gone)


def start_broker(env: dict[str, str], launched: list, *args: str) -> subprocess.Popen[str]:
    return launch(launched, env, "broker", *args)


def stop_with_ctrl_c(process: subprocess.Popen[str]) -> None:
    children = descendants(process.pid)
    process.send_signal(signal.SIGINT)
    assert process.wait(60) == 0
    wait_until(lambda: not any(alive(pid) for pid in children), 20, "the broker's JVMs gone")


async def _publish_and_read(bootstrap: str, value: bytes | None) -> list[bytes]:
    """Publish ``value`` (unless None), then every value the topic holds."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    if value is not None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait("jail.booking.v1", key=b"us-test/1", value=value)
        finally:
            await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition("jail.booking.v1", p) for p in range(2)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        values: list[bytes] = []
        for _ in range(30):  # 30 fetches of up to 1 s, far more than one message needs
            positions = {tp: await consumer.position(tp) for tp in tps}
            if all(positions[tp] >= ends[tp] for tp in tps):
                break
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                values.extend(r.value for r in records)
        return values
    finally:
        await consumer.stop()


def _create_topics(env: dict[str, str], url: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "topics", "create", "--wait", "30"],
        env={**env, "RELEASEWATCH_BROKER_URL": url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_restarted_broker_keeps_its_topics_and_messages(tmp_path: Path, launched: list) -> None:
    env = clean_env(tmp_path)
    first = start_broker(env, launched)
    assert first.stdout is not None
    url = first.stdout.readline().strip()
    _create_topics(env, url)
    bootstrap = url.removeprefix("kafka://")
    assert asyncio.run(_publish_and_read(bootstrap, b"kept")) == [b"kept"]
    stop_with_ctrl_c(first)

    second = start_broker(env, launched)
    assert second.stdout is not None
    assert second.stdout.readline().strip() == url  # same ports, from the data dir
    assert asyncio.run(_publish_and_read(bootstrap, None)) == [b"kept"]
    stop_with_ctrl_c(second)

    # A three-node cluster in the same data dir is a cluster of its own, not a mix of ids.
    cluster = start_broker(env, launched, "--nodes", "3")
    assert cluster.stdout is not None
    assert len(cluster.stdout.readline().strip().split(";")) == 3
    stop_with_ctrl_c(cluster)


TAIL = (sys.executable, "-m", "services.cli", "tail")


def test_a_service_on_three_nodes_replicates_every_topic_three_times(
    tmp_path: Path, launched: list
) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    env = clean_env(tmp_path)
    cluster = start_broker(env, launched, "--nodes", "3")
    assert cluster.stdout is not None
    url = cluster.stdout.readline().strip()
    hosts = url.removeprefix("kafka://").split(";")
    assert len(hosts) == 3
    assert len(descendants(cluster.pid)) == 3  # one JVM per node
    # A booking worker as a user starts it: the URL alone, no replication setting.
    service_env = {**env, "RELEASEWATCH_BROKER_URL": url}
    port = free_port_base()
    launch(launched, service_env, "service", "booking", "--port", str(port))
    wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/ready"), 90, "booking ready")
    published = subprocess.run(
        [sys.executable, "-m", "services.cli", "publish", "examples/booking-opened.json"],
        env=service_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert published.returncode == 0, published.stderr
    tail = subprocess.run(
        [*TAIL, "booking.state.v1", "--from-beginning", "--limit", "1", "--timeout", "60"],
        env=service_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    [state] = [json.loads(line) for line in tail.stdout.splitlines()]
    assert state["key"] == "us-mn-hennepin/2027-000123", state

    async def describe(topic_name: str) -> tuple[list[int], str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=",".join(hosts))
        await admin.start()
        try:
            [topic] = await admin.describe_topics([topic_name])
            replicas = sorted({len(p["replicas"]) for p in topic["partitions"]})
            [configs] = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic_name)]
            )
            [(_, _, _, _, entries)] = configs.resources
            min_isr = next(e[1] for e in entries if e[0] == "min.insync.replicas")
            return replicas, min_isr
        finally:
            await admin.close()

    for topic_name in ("booking.state.v1", "releasewatch-booking-bookings-changelog"):
        assert asyncio.run(describe(topic_name)) == ([3], "2"), topic_name
    stop_with_ctrl_c(cluster)


def test_without_java_the_broker_falls_back_to_tansu_and_says_why(
    tmp_path: Path, launched: list
) -> None:
    env = clean_env(tmp_path, PATH=str(Path(sys.executable).parent))
    env.pop("JAVA_HOME", None)
    fallback = start_broker(env, launched)
    assert fallback.stdout is not None and fallback.stderr is not None
    url = fallback.stdout.readline().strip()
    host, port = url.removeprefix("kafka://").split(":")
    assert metadata_answers(host, int(port))
    [broker] = descendants(fallback.pid)
    assert "tansu" in command_line(broker)
    stop_with_ctrl_c(fallback)
    said = fallback.stderr.read()
    assert "no `java` on PATH" in said and "using the embedded Tansu broker" in said, said
