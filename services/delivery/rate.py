"""A per-agency attempt rate (``rate_per_minute``): a token bucket (GCRA) a worker waits on.
Pure: the caller passes the time and sleeps for what it is told."""

from __future__ import annotations

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
