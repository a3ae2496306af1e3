"""A per-agency attempt rate (``rate_per_minute``): a token bucket (GCRA) a worker waits on.
``Bucket`` is pure (the caller passes the time); ``turn`` waits for a slot."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class Bucket:
    per_minute: int
    burst: int = 0  # attempts at once after a quiet spell (0: a second's worth, at least 1)
    _tat: float = field(default=float("-inf"), repr=False)  # theoretical arrival time

    def reserve(self, now: float) -> float:
        """Take one slot; the seconds to wait before using it (0: at once)."""
        interval = 60.0 / self.per_minute
        burst = self.burst or max(1, self.per_minute // 60)
        tat = max(self._tat, now)
        self._tat = tat + interval
        return max(0.0, tat - (burst - 1) * interval - now)


async def turn(bucket: Bucket) -> None:
    """Wait for this attempt's slot."""
    wait = bucket.reserve(time.monotonic())
    if wait > 0:
        await asyncio.sleep(wait)
