"""Decoding at the edge, in process: ``decode`` (pydantic-core parses and validates the bytes
in one step, the careful path only for what fails) against the careful path alone
(``json.loads`` then ``validate_python``: what every message took before), on the same
simulator jail events in the same run. Prints microseconds per message and the ratio;
asserts nothing.

    .venv/bin/python -m bench.codec [MESSAGES]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from schemas.jail_booking import JAIL_EVENT
from schemas.topics import JAIL_BOOKING
from services.simulator.generator import JailSimulator, SimulatorConfig
from services.streams.codec import Decoded, RawMessage, decode, decode_carefully


def per_message(messages: list[RawMessage], step: Callable[[RawMessage], object]) -> float:
    """Best of three passes, microseconds per message."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for raw in messages:
            step(raw)
        best = min(best, time.perf_counter() - started)
    return best / len(messages) * 1e6


def main(count: int = 20_000) -> dict[str, Any]:
    simulator = JailSimulator(SimulatorConfig(seed=11), lambda: datetime.now(UTC))
    jail = (o for o in simulator.events() if o.topic == JAIL_BOOKING.name)
    messages = [
        RawMessage(o.topic, 0, number, o.key, o.value)
        for number, o in enumerate(islice(jail, count))
    ]
    types = JAIL_BOOKING.event_types
    accepted = sum(isinstance(decode(raw, JAIL_EVENT, types), Decoded) for raw in messages)
    careful = per_message(
        messages, lambda raw: decode_carefully(raw.value or b"", JAIL_EVENT, types)
    )
    fast = per_message(messages, lambda raw: decode(raw, JAIL_EVENT, types))
    print(
        f"codec: {len(messages):,} simulator jail events ({len(messages) - accepted:,} refused): "
        f"decode {fast:.1f} us/message vs json.loads + validate_python {careful:.1f} us "
        f"(x{fast / careful:.2f})"
    )
    return {
        "messages": len(messages),
        "refused": len(messages) - accepted,
        "decode_us": fast,
        "careful_us": careful,
        "ratio": fast / careful,
    }


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
