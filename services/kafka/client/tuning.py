"""What a worker's faust and aiokafka clients do beyond faust's own settings, as one typed
value built from the settings: the producer's idempotence, the fetch wait (Tansu), the
input watchdog's interval, exactly-once, and the faust fixes switched off (fault suite)."""

from __future__ import annotations

from dataclasses import dataclass

# The faust fixes the fault suite can switch off one at a time to prove each still needed
# (services.kafka.patches; gap_guard acts in services.streams.consume).
FIX_SWITCHES = (
    "seek_beginning",
    "read_offset_drop",
    "commit_check",
    "gap_guard",
    "commit_in_step",
    "commit_before_revoke",
    "restart_fenced",
)


@dataclass(frozen=True)
class ClientTuning:
    idempotent: bool = False
    fetch_wait_ms: int | None = None  # None: the client's default
    fetch_wait_ceiling_ms: int | None = None  # None: the wait does not adapt
    watch_interval: float = 1.0
    exactly_once: bool = False
    fixes_off: frozenset[str] = frozenset()


def parse_fixes_off(text: str) -> frozenset[str]:
    """``gap_guard,commit_check`` -> the names; an unknown name is refused."""
    names = frozenset(name.strip() for name in text.split(",") if name.strip())
    unknown = names - set(FIX_SWITCHES)
    if unknown:
        raise ValueError(f"unknown {sorted(unknown)}; known: {', '.join(FIX_SWITCHES)}")
    return names
