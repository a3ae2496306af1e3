"""Restart stress for the booking service (``make stress``).

Each round publishes a backlog (six bookings, two events each), starts a fresh worker on
partitions that already have commits and changelog data, checks within 40 s that every
event became a ``booking.state.v1`` message, and stops the worker. Prints each round and
the number of rounds that lost anything.

This found the faust skip problems worked around in
``services/kafka/patches/`` and ``services/streams/gaps.py``: 5 of 16 rounds lost
events before them, 0 of 32 after. ``LVL=debug DEVLOG=1`` makes the workers' logs (kept in
a temporary folder, printed at the end) show faust's own decisions.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.harness import RUNNING, embedded  # noqa: E402
from services.kafka.admin.topics import ensure_topics  # noqa: E402
from services.kafka.broker.embedded import EmbeddedBroker  # noqa: E402
from services.kafka.broker.process import free_port  # noqa: E402
from tests import factories as f  # noqa: E402
from tests.support.topics import KafkaHelper  # noqa: E402

PARTITIONS = 4
ROUND_TIMEOUT = 40.0


def worker_env(broker: EmbeddedBroker) -> dict[str, str]:
    return {
        **os.environ,
        "RELEASEWATCH_BROKER_URL": broker.url,
        "RELEASEWATCH_BROKER_FLAVOR": RUNNING["flavor"],
        "RELEASEWATCH_PARTITIONS": str(PARTITIONS),
        "RELEASEWATCH_LOG_FORMAT": "json",
        "RELEASEWATCH_DATA_DIR": tempfile.mkdtemp(),
        "RELEASEWATCH_SESSION_TIMEOUT": "6",
        "RELEASEWATCH_LOG_LEVEL": os.environ.get("LVL", "info"),
        "DEVLOG": os.environ.get("DEVLOG", ""),
    }


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.cli",
                "service",
                "booking",
                "--port",
                str(free_port()),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )


async def run(rounds: int, logs: Path) -> int:
    with embedded() as broker:
        await ensure_topics(broker.bootstrap, PARTITIONS)
        kafka = KafkaHelper(broker.bootstrap)
        await kafka.start()
        states = await kafka.watch("booking.state.v1")
        env = worker_env(broker)
        lossy = 0
        for number in range(rounds):
            ids = [f"s{number}-{uuid.uuid4().hex[:6]}" for _ in range(6)]
            for booking in ids:
                await kafka.publish("jail.booking.v1", f.opened(booking_id=booking))
                await kafka.publish("jail.booking.v1", f.charges("1", booking_id=booking))
            worker = await asyncio.to_thread(
                start_worker, env, logs / f"restart-stress-{number}.log"
            )
            wanted = {(f"{f.JURISDICTION}/{b}", revision) for b in ids for revision in (1, 2)}
            started = time.monotonic()
            while time.monotonic() - started < ROUND_TIMEOUT:
                got = {(r.key, r.value["data"]["revision"]) for r in states.records}
                if wanted <= got:
                    break
                await asyncio.sleep(0.2)
            got = {(r.key, r.value["data"]["revision"]) for r in states.records}
            missing = sorted(wanted - got)
            verdict = "OK" if not missing else f"MISSING {missing}"
            print(f"round {number}: {verdict} in {time.monotonic() - started:.1f}s", flush=True)
            lossy += bool(missing)
            worker.terminate()
            await asyncio.to_thread(worker.wait, 20)
        await kafka.stop()
    print(f"rounds with loss: {lossy} of {rounds}")
    return lossy


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    logs = Path(tempfile.mkdtemp(prefix="restart-stress-"))
    lossy = asyncio.run(run(rounds, logs))
    print(f"worker logs in {logs}")
    return 1 if lossy else 0


if __name__ == "__main__":
    raise SystemExit(main())
