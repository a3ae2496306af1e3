"""The embedded Apache Kafka: KRaft, broker and controller in one JVM per node, on loopback.

The jars come from Maven Central through ``deploy/kafka/pom.xml`` (one pinned version): the
first start runs ``mvn dependency:build-classpath`` on it and caches the classpath under
``~/.cache/releasewatch/kafka/<pom hash>/``; the jars stay in Maven's local repository, so
a second start fetches nothing. Each node keeps its data in ``<data dir>/node-<id>/`` (a
restart keeps topics and committed offsets) and logs to ``<data dir>/logs/node-<id>.log``.
Every JVM dies with the process that started it, also on ``kill -9`` (PR_SET_PDEATHSIG).

``nodes=3`` is a three-node cluster (replication factor 3, ``min.insync.replicas`` 2 for the
internal topics and as the default for new ones), every node a voter of the controller quorum.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from pathlib import Path

from services.kafka.broker.kraft import Node, new_cluster_id, server_properties
from services.kafka.broker.process import (
    BrokerStartError,
    Started,
    die_with_parent_preexec,
    free_port,
    group_coordinator_error,
    metadata_brokers,
    port_is_free,
    stop_processes,
)
from services.kafka.broker.secure import SecureListener
from services.kafka.broker.toolchain import (
    LOG_CONFIG,
    classpath,
    find_java,
    name,
)

# A small footprint: a test broker holds little; serial GC suits two cores and small heaps.
JVM_OPTIONS = (
    "-XX:+UseSerialGC",
    "-XX:MaxMetaspaceSize=160m",
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
)
HEAP_PER_NODE = {1: "768m", 3: "384m"}


class EmbeddedKafka(Started):
    """``start()`` (or ``with``); ``url`` is ``kafka://127.0.0.1:PORT[;...]``."""

    flavor = "apache"

    def __init__(
        self,
        data_dir: Path,
        nodes: int = 1,
        port: int = 0,
        host: str = "127.0.0.1",
        secure: SecureListener | None = None,
    ) -> None:
        if nodes not in HEAP_PER_NODE:
            raise ValueError(f"nodes must be one of {sorted(HEAP_PER_NODE)}, not {nodes}")
        self.data_dir = Path(data_dir)
        self.host = host
        self.requested_port = port
        self.count = nodes
        self.secure = secure
        self.nodes: list[Node] = []
        self.name = name()

    @property
    def url(self) -> str:
        return "kafka://" + ";".join(f"{self.host}:{n.port}" for n in self.nodes)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{self.host}:{n.port}" for n in self.nodes)

    @property
    def secure_url(self) -> str:
        """The ``SECURE`` listener's URL (``secure`` given): where secured clients connect."""
        return "kafka://" + ";".join(f"{self.host}:{n.secure_port}" for n in self.nodes)

    @property
    def log_file(self) -> Path:
        return self.nodes[0].log_file if self.nodes else self.data_dir / "logs" / "node-1.log"

    def start(self, timeout: float = 90.0) -> str:
        java = find_java()
        if java is None:
            raise BrokerStartError("no `java` on PATH")
        jars = classpath()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "logs").mkdir(exist_ok=True)
        self.nodes = self._plan_nodes()
        cluster_id = self._cluster_id()
        for node in self.nodes:
            node.directory.mkdir(parents=True, exist_ok=True)
            properties = node.directory / "server.properties"
            properties.write_text(server_properties(node, self.nodes, self.host, self.secure))
            if not (node.directory / "data" / "meta.properties").exists():
                self._format(java, jars, cluster_id, properties)
        for node in self.nodes:
            self._spawn(java, jars, node)
        if not self._wait_ready(timeout):
            tail = self._log_tail()
            self.stop()
            raise BrokerStartError(
                f"{self.name} was not ready within {timeout:.0f} s on {self.bootstrap}: {tail}"
            )
        return self.url

    def _plan_nodes(self) -> list[Node]:
        """Each node's ports: those of the last start when still free (clients that kept
        the URL reconnect), else new ones; kept in ``cluster.json``."""
        saved = self._saved()
        nodes = []
        for index in range(self.count):
            node_id = index + 1
            ports = saved.get("ports", {}).get(str(node_id))
            wanted = self.requested_port if index == 0 and self.requested_port else None
            if ports and (wanted is None or ports[0] == wanted) and self._both_free(ports):
                port, controller, *rest = ports
            else:
                port = wanted or free_port(self.host)
                controller, rest = free_port(self.host), []
            secure = (rest[0] if rest else free_port(self.host)) if self.secure else 0
            directory = self.data_dir / f"node-{node_id}"
            log = self.data_dir / "logs" / f"node-{node_id}.log"
            nodes.append(Node(node_id, port, controller, directory, log, secure))
        return nodes

    def _both_free(self, ports: list[int]) -> bool:
        return all(port_is_free(self.host, p) for p in ports)

    def _saved(self) -> dict:
        path = self.data_dir / "cluster.json"
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return saved if saved.get("nodes") == self.count else {}

    def _cluster_id(self) -> str:
        saved = self._saved()
        cluster_id = saved.get("cluster_id") or new_cluster_id()
        ports = {
            str(n.node_id): [n.port, n.controller_port, *([n.secure_port] if self.secure else [])]
            for n in self.nodes
        }
        record = {"cluster_id": cluster_id, "nodes": self.count, "ports": ports}
        (self.data_dir / "cluster.json").write_text(json.dumps(record, indent=2) + "\n")
        return str(cluster_id)

    def _format(self, java: str, jars: str, cluster_id: str, properties: Path) -> None:
        command = [java, "-cp", jars, "kafka.tools.StorageTool", "format"]
        command += ["-t", cluster_id, "-c", str(properties), "--ignore-formatted"]
        command += self.secure.format_arguments() if self.secure else []
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise BrokerStartError(
                f"formatting {properties.parent} failed: {(result.stdout + result.stderr)[-2000:]}"
            )

    def _spawn(self, java: str, jars: str, node: Node) -> None:
        command = [
            java,
            f"-Xmx{HEAP_PER_NODE[self.count]}",
            "-Xms64m",
            *JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={LOG_CONFIG}",
            "-cp",
            jars,
            "kafka.Kafka",
            str(node.directory / "server.properties"),
        ]
        with node.log_file.open("ab") as output:
            node.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent_preexec,
            )

    def _wait_ready(self, timeout: float) -> bool:
        """Ready when every node answers a Metadata request that names every node, and the
        group coordinator answers. Before, each new cluster's first consumer created the
        offsets topic, and aiokafka logged that wait as an error (GroupCoordinatorNotAvailable)
        in every service's log, on every fresh `make run`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not all(node.alive() for node in self.nodes):
                return False
            if (
                all(metadata_brokers(self.host, n.port) >= self.count for n in self.nodes)
                and group_coordinator_error(self.host, self.nodes[0].port) == 0
            ):
                return True
            time.sleep(0.1)
        return False

    def _log_tail(self) -> str:
        tails = []
        for node in self.nodes:
            with contextlib.suppress(OSError):
                tails.append(
                    f"node {node.node_id}: " + node.log_file.read_text(errors="replace")[-1500:]
                )
        return "\n".join(tails) or "(no log)"

    # One node at a time: the failover tests and the fault suite's broker mode.
    def quorum_leader(self) -> int | None:
        """The node that is the active controller now (the KRaft quorum's leader), as the
        nodes' own ``quorum-state`` files say: the highest epoch's leader, None if unknown."""
        best: tuple[int, int] | None = None
        for node in self.nodes:
            state = node.directory / "data" / "__cluster_metadata-0" / "quorum-state"
            with contextlib.suppress(OSError, ValueError):
                found = json.loads(state.read_text())
                epoch, leader = int(found.get("leaderEpoch", -1)), int(found.get("leaderId", -1))
                if leader >= 0 and (best is None or epoch > best[0]):
                    best = (epoch, leader)
        return best[1] if best else None

    def kill_node(self, node_id: int) -> None:
        node = self.nodes[node_id - 1]
        if node.process is not None and node.process.poll() is None:
            node.process.kill()
            node.process.wait(10)

    def start_node(self, node_id: int, timeout: float = 60.0) -> None:
        self.respawn_node(node_id)
        node = self.nodes[node_id - 1]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and node.alive():
            if metadata_brokers(self.host, node.port) >= 1:
                return
            time.sleep(0.1)
        raise BrokerStartError(f"node {node_id} did not come back within {timeout:.0f} s")

    # What ``services.kafka.broker.supervise`` watches.
    def node_ids(self) -> list[int]:
        return [node.node_id for node in self.nodes]

    def node_exit_code(self, node_id: int) -> int | None:
        process = self.nodes[node_id - 1].process
        return -1 if process is None else process.poll()

    def node_log(self, node_id: int) -> Path:
        return self.nodes[node_id - 1].log_file

    def respawn_node(self, node_id: int) -> None:
        """Start a stopped node again, with its data and ports; returns at once."""
        java = find_java()
        if java is None:
            raise BrokerStartError("no `java` on PATH")
        self._spawn(java, classpath(), self.nodes[node_id - 1])

    def stop(self, timeout: float = 15.0) -> None:
        """A controlled shutdown (SIGTERM) of every node, then SIGKILL for any still up."""
        stop_processes([n.process for n in self.nodes if n.process is not None], timeout)

    def alive(self) -> bool:
        return bool(self.nodes) and all(node.alive() for node in self.nodes)

    def pids(self) -> list[int]:
        return [n.process.pid for n in self.nodes if n.process is not None]
