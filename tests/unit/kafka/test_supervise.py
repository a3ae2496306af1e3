"""The embedded cluster's supervisor: a node lost is logged and restarted after a back-off,
the survivors keep serving, and the cluster is given up only without a majority."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from services.kafka.broker.supervise import FIRST_BACKOFF, MAX_BACKOFF, STABLE_AFTER, Supervisor


class FakeCluster:
    def __init__(self, nodes: int) -> None:
        self.codes: dict[int, int | None] = dict.fromkeys(range(1, nodes + 1))
        self.respawned: list[int] = []

    def node_ids(self) -> list[int]:
        return list(self.codes)

    def node_exit_code(self, node_id: int) -> int | None:
        return self.codes[node_id]

    def node_log(self, node_id: int) -> Path:
        return Path(f"/logs/node-{node_id}.log")

    def respawn_node(self, node_id: int) -> None:
        self.codes[node_id] = None
        self.respawned.append(node_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def supervised(nodes: int = 3, restart: bool = True) -> tuple[FakeCluster, Clock, Supervisor]:
    cluster, clock = FakeCluster(nodes), Clock()
    return cluster, clock, Supervisor(cluster, clock, restart=restart)


def test_a_healthy_cluster_is_left_alone() -> None:
    cluster, clock, supervisor = supervised()
    for _ in range(10):
        clock.now += 1
        assert supervisor.check() is None
    assert cluster.respawned == []


def test_a_killed_node_is_logged_with_its_exit_code_and_log_and_the_rest_keep_serving() -> None:
    cluster, _, supervisor = supervised()
    cluster.codes[2] = -9
    with capture_logs() as logs:
        assert supervisor.check() is None
    [lost] = [line for line in logs if line["event"] == "broker_node_lost"]
    assert lost["node"] == 2
    assert lost["exit_code"] == -9
    assert lost["log_file"] == "/logs/node-2.log"
    assert (lost["alive"], lost["of"]) == (2, 3)
    assert lost["restart_in"] == FIRST_BACKOFF
    assert cluster.respawned == []  # not before its back-off


def test_the_node_is_restarted_after_its_back_off_once() -> None:
    cluster, clock, supervisor = supervised()
    cluster.codes[3] = 137
    supervisor.check()
    clock.now += FIRST_BACKOFF - 0.1
    supervisor.check()
    assert cluster.respawned == []
    clock.now += 0.2
    with capture_logs() as logs:
        supervisor.check()
    assert cluster.respawned == [3]
    assert [line["event"] for line in logs] == ["broker_node_restarted"]
    clock.now += 10
    supervisor.check()
    assert cluster.respawned == [3]


def test_a_node_that_keeps_dying_waits_longer_each_time_up_to_a_ceiling() -> None:
    cluster, clock, supervisor = supervised()
    waits = []
    for _ in range(8):
        cluster.codes[1] = 1
        supervisor.check()
        started = clock.now
        while cluster.codes[1] is not None:
            clock.now += 0.5
            supervisor.check()
        waits.append(clock.now - started)
    assert waits[0] == pytest.approx(FIRST_BACKOFF, abs=0.5)
    assert all(later >= earlier for earlier, later in itertools.pairwise(waits))
    assert waits[-1] == pytest.approx(MAX_BACKOFF, abs=0.5)


def test_a_node_up_long_enough_starts_its_back_off_again() -> None:
    cluster, clock, supervisor = supervised()
    for _ in range(3):  # three quick deaths: the back-off has grown
        cluster.codes[1] = 1
        supervisor.check()
        clock.now += MAX_BACKOFF
        supervisor.check()
    clock.now += STABLE_AFTER
    supervisor.check()
    cluster.codes[1] = 1
    with capture_logs() as logs:
        supervisor.check()
    assert logs[0]["restart_in"] == FIRST_BACKOFF


def test_without_restart_the_node_stays_down_and_the_cluster_serves() -> None:
    cluster, clock, supervisor = supervised(restart=False)
    cluster.codes[2] = -9
    for _ in range(100):
        clock.now += 1
        assert supervisor.check() is None
    assert cluster.respawned == []


def test_losing_a_majority_gives_up_naming_the_nodes() -> None:
    cluster, _, supervisor = supervised()
    cluster.codes[1] = cluster.codes[3] = -9
    reason = supervisor.check()
    assert reason is not None
    assert "2 of 3 nodes are down (nodes [1, 3])" in reason
    assert "majority" in reason


def test_a_single_node_that_dies_is_given_up_at_once() -> None:
    cluster, _, supervisor = supervised(nodes=1)
    cluster.codes[1] = 1
    assert supervisor.check() is not None
