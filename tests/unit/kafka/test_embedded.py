"""The embedded brokers' pure parts: node configuration, cluster ids, the choice of broker."""

from __future__ import annotations

import base64
import itertools
import subprocess
import sys
from pathlib import Path

import pytest

from services.kafka.admin.topics import replicas_for
from services.kafka.broker import embedded, toolchain
from services.kafka.broker.kraft import Node, new_cluster_id, server_properties
from services.kafka.broker.process import BrokerStartError
from services.kafka.broker.toolchain import parse_java_major


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def nodes(count: int) -> list[Node]:
    return [
        Node(i, 9000 + i, 9100 + i, Path(f"/data/node-{i}"), Path(f"/logs/node-{i}.log"))
        for i in range(1, count + 1)
    ]


def test_one_node_is_broker_and_controller_with_internal_topics_on_one_replica() -> None:
    [node] = nodes(1)
    conf = properties(server_properties(node, [node], "127.0.0.1"))
    assert conf["process.roles"] == "broker,controller"
    assert conf["controller.quorum.voters"] == "1@127.0.0.1:9101"
    assert conf["listeners"] == "PLAINTEXT://127.0.0.1:9001,CONTROLLER://127.0.0.1:9101"
    assert conf["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9001"
    assert conf["log.dirs"] == "/data/node-1/data"
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
        "default.replication.factor",
        "min.insync.replicas",
    ):
        assert conf[key] == "1", key
    assert conf["group.initial.rebalance.delay.ms"] == "0"


def test_three_nodes_share_one_quorum_and_keep_three_replicas_two_in_sync() -> None:
    cluster = nodes(3)
    confs = [properties(server_properties(n, cluster, "127.0.0.1")) for n in cluster]
    assert {c["controller.quorum.voters"] for c in confs} == {
        "1@127.0.0.1:9101,2@127.0.0.1:9102,3@127.0.0.1:9103"
    }
    assert [c["node.id"] for c in confs] == ["1", "2", "3"]
    assert len({c["listeners"] for c in confs}) == 3
    for conf in confs:
        assert conf["default.replication.factor"] == "3"
        assert conf["offsets.topic.replication.factor"] == "3"
        assert conf["transaction.state.log.replication.factor"] == "3"
        assert conf["min.insync.replicas"] == "2"
        assert conf["transaction.state.log.min.isr"] == "2"


def test_topics_are_never_created_by_a_typo() -> None:
    [node] = nodes(1)
    assert properties(server_properties(node, [node], "h"))["auto.create.topics.enable"] == "false"


@pytest.mark.parametrize("_", range(50))
def test_a_cluster_id_is_kafkas_16_bytes_in_url_safe_base64(_: int) -> None:
    text = new_cluster_id()
    assert len(text) == 22 and not text.startswith("-")
    assert len(base64.urlsafe_b64decode(text + "==")) == 16


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_392"', 8),
        ('openjdk version "11.0.2" 2019-01-15', 11),
        ("no java here", None),
    ],
)
def test_the_java_version_is_read_from_its_banner(output: str, major: int | None) -> None:
    assert parse_java_major(output) == major


def test_the_pinned_kafka_version_is_4x() -> None:
    assert toolchain.version().startswith("4.")
    assert toolchain.name().startswith("Apache Kafka 4.")


def test_kafka_is_chosen_where_java_and_maven_are_there(monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[str] = []
    monkeypatch.setattr(embedded, "missing_toolchain", lambda: None)
    assert embedded.choose("kafka", said.append) == "kafka"
    assert said == []


def test_without_java_tansu_runs_and_one_line_says_why_and_how_to_get_kafka(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    said: list[str] = []
    monkeypatch.setattr(embedded, "missing_toolchain", lambda: "no `java` on PATH")
    assert embedded.choose("kafka", said.append) == "tansu"
    [line] = said
    assert "no `java` on PATH" in line and "Tansu" in line and "apt-get install" in line


def test_tansu_asked_for_is_tansu_without_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[str] = []
    monkeypatch.setattr(embedded, "missing_toolchain", lambda: None)
    assert embedded.choose("tansu", said.append) == "tansu"
    assert said == []


def test_tansu_refuses_three_nodes(tmp_path: Path) -> None:
    with pytest.raises(BrokerStartError, match="one node only"):
        embedded.embedded_broker("tansu", tmp_path, nodes=3)


@pytest.mark.parametrize(
    ("brokers", "configured", "replicas"),
    [(1, None, 1), (2, None, 2), (3, None, 3), (5, None, 3), (0, None, 1), (3, 1, 1), (5, 5, 5)],
)
def test_topics_take_three_replicas_where_the_cluster_has_them(
    brokers: int, configured: int | None, replicas: int
) -> None:
    assert replicas_for(brokers, configured) == replicas


def test_free_ports_are_outside_the_outgoing_range_and_never_given_twice() -> None:
    from services.kafka.broker.process import ephemeral_range, free_port, port_is_free

    low, high = ephemeral_range()
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    assert all(not low <= port <= high for port in ports)
    assert all(port_is_free("127.0.0.1", port) for port in ports)


def test_processes_side_by_side_pick_from_slices_that_do_not_overlap() -> None:
    from services.kafka.broker import process

    before = process._SHARE  # a test run on several workers has its own
    try:
        process.share_ports(0, 1)
        whole = process.port_range()
        slices = []
        for index in range(3):
            process.share_ports(index, 3)
            slices.append(process.port_range())
            assert all(slices[-1][0] <= process.free_port() < slices[-1][1] for _ in range(20))
        assert slices[0][0] == whole[0] and slices[-1][1] <= whole[1]
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(slices))
        with pytest.raises(ValueError, match="slice 3 of 3"):
            process.share_ports(3, 3)
    finally:
        process.share_ports(*before)


def test_a_child_process_picks_from_its_parents_slice() -> None:
    """``releasewatch up`` started by a test on one of several workers stays in its slice."""
    from services.kafka.broker import process

    before = process._SHARE
    show = "from services.kafka.broker import process; print(*process.port_range())"
    try:
        process.share_ports(1, 3)
        child = subprocess.run(
            [sys.executable, "-c", show], capture_output=True, text=True, check=True
        )
        assert tuple(map(int, child.stdout.split())) == process.port_range()
    finally:
        process.share_ports(*before)


@pytest.mark.parametrize("handed_down", ["", "2", "1/x", "3/3", "-1/2", "1/2/3"])
def test_a_garbled_slice_from_a_parent_means_the_whole_range(
    monkeypatch: pytest.MonkeyPatch, handed_down: str
) -> None:
    from services.kafka.broker import process

    monkeypatch.setenv(process.SHARE_ENV, handed_down)
    assert process._inherited_share() == (0, 1)
    monkeypatch.setenv(process.SHARE_ENV, "1/2")
    assert process._inherited_share() == (1, 2)
