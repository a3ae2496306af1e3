"""What every embedded broker shares: free ports, the readiness probe, dying with the parent."""

from __future__ import annotations

import abc
import contextlib
import ctypes
import os
import random
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

PR_SET_PDEATHSIG = 1


class BrokerStartError(RuntimeError):
    """An embedded broker did not become ready; the message carries the end of its log."""


class Started(abc.ABC):
    """``with broker:`` starts it and stops it, whatever happens inside."""

    @abc.abstractmethod
    def start(self) -> str: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def stop_processes(processes: Iterable[subprocess.Popen[Any]], timeout: float) -> None:
    """SIGTERM to every process still running, then SIGKILL to any not gone within
    ``timeout`` seconds in all."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        process.terminate()
    deadline = time.monotonic() + timeout
    for process in running:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)


def die_with_parent_preexec() -> None:
    """Runs in each child releasewatch starts, between fork and exec: the kernel kills the
    child when its parent dies (also on kill -9), and a terminal's Ctrl-C reaches the parent
    only (own process group), which then stops its children in order."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    os.setpgid(0, 0)


_HANDED_OUT: set[int] = set()  # ports this process gave out: never twice


def ephemeral_range() -> tuple[int, int]:
    """The ports the OS picks for outgoing connections (Linux's default if unreadable)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


# This process's slice of the range, of how many (``share_ports``); its children inherit it.
SHARE_ENV = "RELEASEWATCH_PORT_SLICE"


def _inherited_share() -> tuple[int, int]:
    """The slice a parent process handed down (``index/count``), else the whole range."""
    index, _, count = os.environ.get(SHARE_ENV, "").partition("/")
    if index.isdigit() and count.isdigit() and int(index) < int(count):
        return int(index), int(count)
    return 0, 1


_SHARE = _inherited_share()


def share_ports(index: int, count: int) -> None:
    """Pick this process's ports, and its children's (``releasewatch up`` started by a test),
    from slice ``index`` of ``count`` equal slices of the range: processes started side by
    side (a test run on several workers) never pick the same port, which a check that it is
    free cannot rule out between the pick and the server's bind."""
    if not 0 <= index < count:
        raise ValueError(f"slice {index} of {count}")
    global _SHARE
    _SHARE = (index, count)
    if count == 1:
        os.environ.pop(SHARE_ENV, None)
    else:
        os.environ[SHARE_ENV] = f"{index}/{count}"


def port_range() -> tuple[int, int]:
    """Where ``free_port`` picks: below the outgoing range (above it where it starts too low),
    this process's slice of it."""
    low, high = ephemeral_range()
    start, stop = (20000, low) if low > 21000 else (high + 1, 65535)
    index, count = _SHARE
    size = (stop - start) // count
    return start + index * size, start + (index + 1) * size


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on, for a server this process starts next. Chosen below the
    range the OS hands out for outgoing connections: a port the OS gives for ``bind(0)`` is
    one of those, and a client connecting anywhere could take it before the server binds it
    (seen: a worker started in a test died with "address already in use"). Never the same
    port twice from one process."""
    start, stop = port_range()
    for _ in range(500):
        port = random.randrange(start, stop)
        if port not in _HANDED_OUT and port_is_free(host, port):
            _HANDED_OUT.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # a very busy machine
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


PROBE_ID = b"releasewatch-probe"


def _ask(
    host: str, port: int, api_key: int, version: int, body: bytes, timeout: float
) -> bytes | None:
    """One request (header v1, correlation id 42) and its answer's body after the correlation
    id; None without an answer or with someone else's."""
    request = struct.pack(">hhih", api_key, version, 42, len(PROBE_ID)) + PROBE_ID + body
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            (size,) = struct.unpack(">i", _read_exactly(sock, 4))
            payload = _read_exactly(sock, size)
    except OSError:
        return None
    (correlation_id,) = struct.unpack(">i", payload[:4])
    return payload[4:] if correlation_id == 42 else None


def metadata_brokers(host: str, port: int, timeout: float = 1.0) -> int:
    """How many brokers a Kafka Metadata (v1) request's answer names; 0 without an answer."""
    # v1: topics -1 (null) asks for none; v0 had no null and meant "all".
    answer = _ask(host, port, 3, 1, struct.pack(">i", -1), timeout)
    return struct.unpack(">i", answer[:4])[0] if answer else 0


def group_coordinator_error(host: str, port: int, timeout: float = 1.0) -> int | None:
    """The error code a FindCoordinator (v1, group) request gets; None without an answer.

    The first such request on a new cluster creates ``__consumer_offsets`` and is answered
    COORDINATOR_NOT_AVAILABLE (15) until its partitions have leaders."""
    group = struct.pack(">h", len(PROBE_ID)) + PROBE_ID + struct.pack(">b", 0)  # a group
    answer = _ask(host, port, 10, 1, group, timeout)
    return struct.unpack(">h", answer[4:6])[0] if answer else None  # after throttle_time_ms


def metadata_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a Kafka Metadata request gets an answer naming at least one broker."""
    return metadata_brokers(host, port, timeout) >= 1


def accepts_connections(host: str, port: int) -> bool:
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
