"""When the broker refuses an output, the input message is not at fault: read it again.

Outputs are published before the table is written and carry ids fixed by the input, so
processing a message again after a refused write repeats nothing the consumers keep. A
refusal the broker calls retriable (a leader moving, too few in-sync replicas, a timeout) is
retried for as long as it lasts, with backoff; one it calls permanent (a message too large,
a topic not authorized) gets ``permanent_attempts`` tries, and then the message is
dead-lettered naming the error, so no message can stop its partition for good.
Pure: failures in, a delay (or None: give up) out.
"""

from __future__ import annotations

from collections.abc import Hashable


class OutputRetry:
    def __init__(self, first: float = 0.5, cap: float = 10.0, permanent_attempts: int = 5) -> None:
        self.first = first
        self.cap = cap
        self.permanent_attempts = permanent_attempts
        self._failures: dict[tuple[Hashable, int], int] = {}

    def failed(self, tp: Hashable, offset: int, retriable: bool) -> float | None:
        """Seconds to wait before reading the message again; None: give it up."""
        failures = self._failures.get((tp, offset), 0) + 1
        if not retriable and failures > self.permanent_attempts:
            self._failures.pop((tp, offset), None)
            return None
        self._failures[(tp, offset)] = failures
        return min(self.cap, self.first * 2 ** (failures - 1))

    def done(self, tp: Hashable, offset: int) -> None:
        """The message went through (or was dead-lettered)."""
        self._failures.pop((tp, offset), None)

    def reset(self) -> None:
        """Partitions were reassigned: whoever reads them now starts afresh."""
        self._failures.clear()

    def __len__(self) -> int:
        return len(self._failures)
