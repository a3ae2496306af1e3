"""Process-tree helpers for lifecycle tests (Linux /proc; no extra dependency)."""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

from services.kafka.broker.process import SHARE_ENV


def without_settings() -> dict[str, str]:
    """This process's environment without any releasewatch setting, for a process a test
    starts with its own; the port slice of this test worker is kept (``share_ports``)."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith("RELEASEWATCH_") or k == SHARE_ENV
    }


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    result: list[int] = []
    stack = [pid]
    while stack:
        for child in children(stack.pop()):
            result.append(child)
            stack.append(child)
    return result


def alive(pid: int) -> bool:
    """Running and not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False
