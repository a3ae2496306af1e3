"""Keeping the embedded cluster up: a node that dies is logged and restarted after a back-off,
while the survivors go on serving; the cluster is given up only when a majority of its
controllers is gone (no quorum, nothing can be written) or on Ctrl-C/SIGTERM.

``Supervisor.check`` is one look, called every fraction of a second by ``releasewatch broker``;
the cluster and the clock are injected (``Cluster``), so the rules are unit-tested without a
JVM.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from services.ops import events
from services.ops.logging import get_logger

log = get_logger(__name__)

FIRST_BACKOFF = 2.0  # seconds before the first restart of a node
MAX_BACKOFF = 60.0  # a node that keeps dying waits at most this long between restarts
STABLE_AFTER = 60.0  # seconds up after which a node's back-off starts again from the first


class Cluster(Protocol):
    """What the supervisor needs of the embedded cluster (``EmbeddedKafka``)."""

    def node_ids(self) -> list[int]: ...

    def node_exit_code(self, node_id: int) -> int | None:
        """None while the node's process runs."""
        ...

    def node_log(self, node_id: int) -> Path: ...

    def respawn_node(self, node_id: int) -> None:
        """Start the node's process again (its data and ports kept), without waiting."""
        ...


@dataclass
class NodeWatch:
    """One node as the supervisor has seen it."""

    down_since: float | None = None
    restart_at: float | None = None
    up_since: float = 0.0
    backoff: float = FIRST_BACKOFF
    restarts: int = 0


@dataclass
class Supervisor:
    cluster: Cluster
    clock: Callable[[], float]
    restart: bool = True
    nodes: dict[int, NodeWatch] = field(default_factory=dict)

    def __post_init__(self) -> None:
        now = self.clock()
        self.nodes = {node_id: NodeWatch(up_since=now) for node_id in self.cluster.node_ids()}

    @property
    def majority(self) -> int:
        return len(self.nodes) // 2 + 1

    def check(self) -> str | None:
        """Look once: log what died, restart what is due. Returns why the cluster must be given
        up (no majority of controllers alive), else None."""
        now = self.clock()
        alive = 0
        for node_id, watch in self.nodes.items():
            code = self.cluster.node_exit_code(node_id)
            if code is None:
                alive += 1
                if watch.down_since is None and now - watch.up_since >= STABLE_AFTER:
                    watch.backoff = FIRST_BACKOFF
                continue
            if watch.down_since is None:
                self._lost(node_id, watch, code, now)
            if watch.restart_at is not None and now >= watch.restart_at:
                self._restart(node_id, watch, now)
                alive += 1
        if alive < self.majority:
            down = sorted(n for n, w in self.nodes.items() if w.down_since is not None)
            return (
                f"{len(down)} of {len(self.nodes)} nodes are down (nodes {down}): a majority "
                f"of the controllers is gone"
            )
        return None

    def _lost(self, node_id: int, watch: NodeWatch, code: int, now: float) -> None:
        watch.down_since = now
        watch.restart_at = now + watch.backoff if self.restart else None
        log.error(
            events.BROKER_NODE_LOST,
            node=node_id,
            exit_code=code,
            log_file=str(self.cluster.node_log(node_id)),
            restart_in=watch.backoff if self.restart else None,
            alive=len(self.nodes) - self._down(),
            of=len(self.nodes),
        )

    def _restart(self, node_id: int, watch: NodeWatch, now: float) -> None:
        self.cluster.respawn_node(node_id)
        watch.restarts += 1
        log.warning(
            events.BROKER_NODE_RESTARTED,
            node=node_id,
            restarts=watch.restarts,
            down_seconds=round(now - (watch.down_since or now), 1),
        )
        watch.down_since = watch.restart_at = None
        watch.up_since = now
        watch.backoff = min(watch.backoff * 2, MAX_BACKOFF)

    def _down(self) -> int:
        return sum(1 for watch in self.nodes.values() if watch.down_since is not None)
