"""One node's KRaft configuration (broker and controller combined, a static quorum), and the
cluster id its storage is formatted with."""

from __future__ import annotations

import base64
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from services.kafka.broker.secure import LISTENER, SecureListener


def new_cluster_id() -> str:
    """Kafka's own form: 16 random bytes, URL-safe base64 without padding, not led by '-'."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


@dataclass
class Node:
    node_id: int
    port: int
    controller_port: int
    directory: Path
    log_file: Path
    secure_port: int = 0  # the SECURE listener's, when the broker has one
    process: subprocess.Popen[bytes] | None = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def server_properties(
    node: Node, nodes: list[Node], host: str, secure: SecureListener | None = None
) -> str:
    """One node's configuration: combined broker + controller, static quorum of all nodes,
    and the ``SECURE`` client listener when ``secure`` is given."""
    count = len(nodes)
    replicas = 3 if count >= 3 else 1
    min_isr = 2 if count >= 3 else 1
    voters = ",".join(f"{n.node_id}@{host}:{n.controller_port}" for n in nodes)
    settings = {
        "process.roles": "broker,controller",
        "node.id": node.node_id,
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://{host}:{node.port},CONTROLLER://{host}:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(node.directory / "data"),
        "auto.create.topics.enable": "false",
        "num.partitions": 1,
        "default.replication.factor": replicas,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": replicas,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": min_isr,
        "group.initial.rebalance.delay.ms": 0,
        # Kafka's own test harness keeps a test broker cheap with these.
        "offsets.topic.num.partitions": 5,
        "transaction.state.log.num.partitions": 1,
        "log.cleaner.dedupe.buffer.size": 2 * 1024 * 1024,
        "num.network.threads": 2,
        "num.io.threads": 2,
        "background.threads": 2,
        "log.initial.task.delay.ms": 100,
        # A dead letter carries the refused message verbatim; inputs may exceed 1 MiB.
        "message.max.bytes": 8 * 1024 * 1024 + 1024,
        "replica.fetch.max.bytes": 8 * 1024 * 1024 + 1024,
    }
    if secure is not None:
        address = f"{LISTENER}://{host}:{node.secure_port}"
        settings["listeners"] = f"{settings['listeners']},{address}"
        settings["advertised.listeners"] = f"{settings['advertised.listeners']},{address}"
        settings["listener.security.protocol.map"] = (
            f"{settings['listener.security.protocol.map']},{LISTENER}:{secure.protocol}"
        )
        settings.update(secure.properties())
    return "".join(f"{key}={value}\n" for key, value in settings.items())
