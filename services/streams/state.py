"""A worker's local state directory (RocksDB tables): one per worker, kept only when it can
be trusted.

Each worker claims the first free slot ``<data dir>/state/<service>-<n>`` and holds its lock
for as long as it runs, so two workers on one machine never share a RocksDB, and a worker
restarted in place finds its own tables again: faust then replays only the changelog's tail
after the offset each table persisted.

Local state is trusted only when the worker that wrote it stopped cleanly. RocksDB keeps a
write the moment the agent makes it, while its changelog record may still sit in the
producer's buffer: after a ``kill -9`` the local table can hold updates the changelog never
got, whose inputs are then read again and look like duplicates, and another worker taking
the partition over later would rebuild it without them. So a worker marks its slot
"running" as it starts and "clean" only after faust has stopped (producer flushed, offsets
committed); a slot found "running" was left by a crash and is rebuilt from the changelog.
A slot written for another app, cluster or partition count (foreign), or a table RocksDB
cannot open (corrupt), is rebuilt too. Each rebuild says why, in one log line.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

IDENTITY = "identity.json"
LOCK = "lock"
TABLES = "tables"
MAX_SLOTS = 64


@dataclass
class StateDir:
    """A claimed slot: ``tables`` is where faust keeps this worker's RocksDB tables."""

    path: Path
    identity: dict[str, Any]
    _lock: TextIO | None = field(default=None, repr=False)

    @property
    def tables(self) -> Path:
        return self.path / TABLES

    def prepare(self, can_open: Callable[[Path], str | None]) -> str | None:
        """Keep the tables if they can be trusted, else empty them. Returns why they were
        emptied (None: kept, or there were none). Marks the slot as running.
        ``can_open(path)``: None when the table at ``path`` opens, else the error."""
        reason = self._distrust(can_open)
        if reason is not None:
            shutil.rmtree(self.tables, ignore_errors=True)
        self.tables.mkdir(parents=True, exist_ok=True)
        self._write(clean=False)
        return reason

    def table_count(self) -> int:
        """Partition tables kept (RocksDB directories)."""
        return len(list(self.tables.glob("**/*.db"))) if self.tables.is_dir() else 0

    def mark_clean(self) -> None:
        """The worker stopped cleanly: its tables match their changelogs."""
        self._write(clean=True)

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file drops the lock
            self._lock = None

    def _distrust(self, can_open: Callable[[Path], str | None]) -> str | None:
        tables = sorted(self.tables.glob("**/*.db")) if self.tables.is_dir() else []
        if not tables:
            return None
        try:
            found = json.loads((self.path / IDENTITY).read_text())
        except (OSError, ValueError):
            return "no identity: not written by this worker"
        stored = {k: v for k, v in found.items() if k != "clean"}
        if stored != self.identity:
            differ = sorted(
                k
                for k in stored.keys() | self.identity.keys()
                if stored.get(k) != self.identity.get(k)
            )
            return f"foreign: written for another {', '.join(differ)}"
        if not found.get("clean"):
            return "unclean shutdown: the tables may hold writes their changelogs never got"
        for table in tables:
            error = can_open(table)
            if error is not None:
                return f"corrupt: {table.relative_to(self.path)}: {error}"
        return None

    def _write(self, clean: bool) -> None:
        target = self.path / IDENTITY
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps({**self.identity, "clean": clean}, sort_keys=True))
        os.replace(temporary, target)


def claim(data_dir: Path, service: str, identity: dict[str, Any]) -> StateDir:
    """The first slot of ``service`` under ``data_dir`` no running worker holds."""
    root = data_dir.resolve() / "state"  # absolute: faust reads a relative one as its own
    root.mkdir(parents=True, exist_ok=True)
    for number in range(MAX_SLOTS):
        path = root / f"{service}-{number}"
        path.mkdir(exist_ok=True)
        lock = (path / LOCK).open("a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        return StateDir(path, identity, lock)
    raise RuntimeError(f"{MAX_SLOTS} workers of {service} already hold state in {root}")
