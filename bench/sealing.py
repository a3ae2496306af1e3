"""What sealing person data costs (#46 item 7): the same traffic through the services without
key-encryption keys and with them (``RELEASEWATCH_KEK_FILE``), in the same run: the seal and
open of one person alone (against encoding the same record as JSON), each service alone on
its backlog, and end to end. The goal is at most 15 % of throughput lost. Prints figures and
ratios; asserts nothing.

    .venv/bin/python -m bench.sealing [EVENTS [ROUNDS]]   # end to end alternated ROUNDS times
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.pipeline import end_to_end, per_service, traffic
from services.core import field_crypto as fc
from services.core import kek_file

PERSON = {
    "person_id": "p-981",
    "first_name": "Alexandra",
    "last_name": "Quintanilla",
    "date_of_birth": "1990-04-12",
}
GOAL = 0.85  # of the throughput without sealing


def one_person(rounds: int = 20_000) -> dict[str, float]:
    """Microseconds to seal and to open one person with a kept data key, against encoding the
    person as JSON (what every record write does anyway)."""
    ring = fc.Keyring(fc.LocalKeks({"kek": os.urandom(32)}, "kek"))
    key, wrapped = ring.new_key("us-mn-hennepin/2027-000123")
    started = time.perf_counter()
    for _ in range(rounds):
        json.loads(json.dumps(PERSON))
    encode = (time.perf_counter() - started) / rounds * 1e6
    started = time.perf_counter()
    sealed = [fc.seal(PERSON, "us-mn-hennepin/2027-000123", "person", key) for _ in range(rounds)]
    seal = (time.perf_counter() - started) / rounds * 1e6
    started = time.perf_counter()
    for value in sealed:
        opened = ring.data_key("us-mn-hennepin/2027-000123", wrapped)
        fc.open_sealed(value, "us-mn-hennepin/2027-000123", "person", opened)
    unseal = (time.perf_counter() - started) / rounds * 1e6
    return {"json_us": encode, "seal_us": seal, "open_us": unseal}


async def run(count: int, rounds: int = 3) -> dict[str, Any]:
    messages = traffic(count)
    micro = one_person()
    base = micro["json_us"]
    print(
        f"sealing: one person sealed {micro['seal_us']:.1f} us, opened {micro['open_us']:.1f} us "
        f"(x{micro['seal_us'] / base:.1f} and x{micro['open_us'] / base:.1f} of a JSON round "
        f"trip of it, {base:.1f} us)"
    )
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        keks = data / "kek.json"
        kek_file.rotate(keks)
        settings: dict[str, dict[str, str]] = {
            "clear": {},
            "sealed": {"RELEASEWATCH_KEK_FILE": str(keks)},
        }
        for label, extra in settings.items():
            alone = await per_service(messages, data / label, extra)
            rows[label] = {"per_service": alone, "end_to_end_rounds": []}
        # End to end, alternated (clear, sealed, clear, ...): this machine's noise swings one
        # run by tens of percent (a service that does no sealing at all, x0.9 to x1.5)
        for round_ in range(rounds):
            for label, extra in settings.items():
                e2e = await end_to_end(messages, data / f"{label}-{round_}", extra=extra)
                e2e.pop("series", None)  # for plots; not kept here
                rows[label]["end_to_end_rounds"].append(e2e)
    print(f"  {count:,} simulator events, one worker per service; sealed against clear:")
    for name in ("booking", "scheduling", "notification"):
        clear = rows["clear"]["per_service"][name]
        sealed = rows["sealed"]["per_service"][name]
        print(
            f"  {name + ' alone':<20} clear {clear['per_second']:8,.0f} /s  sealed "
            f"{sealed['per_second']:8,.0f} /s  (x{sealed['per_second'] / clear['per_second']:.3f});"
            f" CPU per input {clear['cpu_us_per_message']:,.0f} -> "
            f"{sealed['cpu_us_per_message']:,.0f} us"
        )
    ratios = []
    for n, (clear, sealed) in enumerate(
        zip(rows["clear"]["end_to_end_rounds"], rows["sealed"]["end_to_end_rounds"], strict=True)
    ):
        ratios.append(sealed["per_second"] / clear["per_second"])
        print(
            f"  end to end, round {n + 1}  clear {clear['per_second']:8,.0f} /s  sealed "
            f"{sealed['per_second']:8,.0f} /s  (x{ratios[-1]:.3f})"
        )
    ratio = statistics.median(ratios)
    print(
        f"  end to end, median of {len(ratios)} rounds x{ratio:.3f} "
        f"(goal x{GOAL} or better: {'met' if ratio >= GOAL else 'NOT met'})"
    )
    return {"events": count, "one_person": micro, "rows": rows, "end_to_end_ratio": ratio}


def main(count: int = 20_000, rounds: int = 3) -> dict[str, Any]:
    return asyncio.run(run(count, rounds))


if __name__ == "__main__":
    from bench.harness import machine, save

    result = main(*(int(a) for a in sys.argv[1:3]))
    save("sealing", {"machine": machine(), **result})
