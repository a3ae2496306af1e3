"""Garbage-collector pauses, measured: while Python's cyclic collector runs, the worker's
event loop (agents, the deadline timer, the web endpoints) stands still. A full collection
walks every tracked object, and a worker's tables are millions of them: with 200,000
bookings in a scheduling worker's table one full collection took ~650 ms here.

The ``gc.callbacks`` entry only notes each pause (a collection may start inside any
allocation, even one made while a metrics lock is held, so the callback takes no lock and
logs nothing); the worker drains the notes every second into
``releasewatch_gc_pause_seconds`` and logs the long ones.
"""

from __future__ import annotations

import gc
import time
from collections import deque
from collections.abc import Callable
from typing import Any

LOG_PAUSES_FROM = 0.1  # s


class GcPauses:
    def __init__(self, clock: Callable[[], float] = time.perf_counter, keep: int = 10_000):
        self.clock = clock
        self._started: float | None = None
        self._pauses: deque[tuple[int, float]] = deque(maxlen=keep)

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = self.clock()
        elif phase == "stop" and self._started is not None:
            self._pauses.append((int(info.get("generation", -1)), self.clock() - self._started))
            self._started = None

    def drain(self) -> list[tuple[int, float]]:
        """(generation, seconds) of each collection since the last drain, oldest first."""
        drained = []
        while self._pauses:
            drained.append(self._pauses.popleft())
        return drained


_installed: GcPauses | None = None


def install() -> GcPauses:
    """Time this process's collections (one worker per process; a second install, as in
    tests that build several apps, replaces the first)."""
    global _installed
    if _installed is not None and _installed in gc.callbacks:
        gc.callbacks.remove(_installed)
    _installed = GcPauses()
    gc.callbacks.append(_installed)
    return _installed


class Freezer:
    """When to move what survived a full collection out of the collector's sight
    (``gc.freeze``), so the next full collection walks only what is newer: a worker's tables
    are plain JSON values, freed by reference counting, never by the collector. What is
    frozen and later becomes cyclic garbage is not collected, so everything is unfrozen
    again every ``unfreeze_every`` seconds (the next full collection then walks it all once
    and the survivors are frozen again): one long pause per period instead of one every few
    seconds, and what that could leak is bounded by the period."""

    def __init__(self, unfreeze_every: float, now: float) -> None:
        self.unfreeze_every = unfreeze_every
        self.unfrozen_at = now

    def after(self, drained: list[tuple[int, float]], now: float) -> str | None:
        """ "unfreeze", "freeze" or None, given the collections since the last call."""
        if now - self.unfrozen_at >= self.unfreeze_every:
            self.unfrozen_at = now
            return "unfreeze"
        if any(generation == 2 for generation, _ in drained):
            return "freeze"
        return None


def freeze_survivors() -> None:
    """Collect the young generations first (cheap), so little fresh garbage is frozen."""
    gc.collect(1)
    gc.freeze()
