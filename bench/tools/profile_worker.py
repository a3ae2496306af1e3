"""py-spy on one worker of one service working off a backlog; prints where its main
thread spends its time (self and inclusive, and self time by layer: faust, aiokafka, our
code, pydantic, logging, RocksDB, the event loop), busy samples only, and writes a flame graph
of the next seconds to bench/results/profile-<service>-<store>.svg, and the sampled stacks
beside it (``.folded.gz``).

    .venv/bin/python -m bench.tools.profile_worker booking|scheduling|notification [EVENTS]

notification works off the booking states and alerts the stages before made, and a tenth
of EVENTS more alerts (copies of a real one, as ``bench.pipeline``'s backlog).

py-spy needs ptrace rights over the worker (root, or kernel.yama.ptrace_scope = 0).
"""

from __future__ import annotations

import asyncio
import collections
import gzip
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.harness import PARTITIONS, ROOT, embedded, publish, worker_env
from bench.pipeline import alert_backlog, taken, traffic
from services.kafka.admin.topics import ensure_topics
from tests.support.poll import until
from tests.support.workers import Worker, total

PY_SPY = Path(sys.executable).parent / "py-spy"


# The layer a frame's code belongs to, by the path py-spy gives (relative to sys.path).
LAYERS = {
    "faust": "faust (streams, tables, acks)",
    "mode": "faust (streams, tables, acks)",
    "aiokafka": "aiokafka (client)",
    "services": "releasewatch (services/, schemas/)",
    "schemas": "releasewatch (services/, schemas/)",
    "pydantic": "pydantic (validation, JSON)",
    "pydantic_core": "pydantic (validation, JSON)",
    "structlog": "logging (structlog, logging)",
    "logging": "logging (structlog, logging)",
    "rocksdict": "rocksdict (RocksDB)",
    "asyncio": "asyncio (event loop, futures)",
    "selectors": "asyncio (event loop, futures)",
    "prometheus_client": "prometheus_client (/metrics)",
}


def layer_of(frame: str) -> str:
    """``function (faust/streams.py:123)`` -> its layer, "other" when not named above."""
    path = frame.rsplit(" (", 1)[-1]
    return LAYERS.get(path.split("/", 1)[0].split(".", 1)[0], "other")


def summarise(raw: Path, top: int = 30) -> dict[str, float]:
    """Prints the main thread's busy share, its self and inclusive time by function and its
    self time by layer; returns the layers' shares."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    layers: collections.Counter[str] = collections.Counter()
    others: collections.Counter[str] = collections.Counter()  # busy samples of other threads
    busy = idle = 0
    for line in raw.read_text().splitlines():
        stack, count_text = line.rsplit(" ", 1)
        count = int(count_text)
        frames = stack.split(";")
        names = [frame.split(" (")[0] for frame in frames]
        if names[-1] in ("EpollSelector.select", "select"):
            if "MainThread" in frames[0]:
                idle += count
            continue
        if "MainThread" not in frames[0]:
            others[frames[0].split(" (")[0]] += count
            continue
        busy += count
        own[names[-1]] += count
        layers[layer_of(frames[-1])] += count
        for name in set(names[1:]):
            inclusive[name] += count
    print(f"main thread: {busy} busy samples, {idle} idle ({busy / max(1, busy + idle):.0%} busy)")
    for thread, count in others.most_common(5):
        print(f"  other thread {thread}: {count} busy samples")
    print("main thread's self time by layer:")
    for name, count in layers.most_common():
        print(f"  {count / max(1, busy):6.1%}  {name}")
    print("self:")
    for name, count in own.most_common(top):
        print(f"  {count / busy:6.1%}  {name}")
    print("inclusive:")
    for name, count in inclusive.most_common(top + 10)[10:]:
        print(f"  {count / busy:6.1%}  {name}")
    return {name: count / max(1, busy) for name, count in layers.items()}


async def profile(name: str, count: int, seconds: int = 12) -> None:
    messages = traffic(count)
    with embedded() as broker, tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        await ensure_topics(broker.bootstrap, PARTITIONS)
        await publish(broker.bootstrap, messages)
        jail = sum(1 for topic, _, _ in messages if topic == "jail.booking.v1")
        if name != "booking":  # the later services work off what booking made
            booking = Worker("booking", worker_env(broker.url, data / "b"), data / "b.log")
            booking.start()
            await until(lambda: taken(booking) >= jail, 600, "booking done")
            states = total(
                booking.metrics(), "releasewatch_messages_out_total", topic="booking.state.v1"
            )
            booking.stop()
        if name == "notification":  # and scheduling made; with a backlog of alerts added
            scheduling = Worker("scheduling", worker_env(broker.url, data / "s"), data / "s.log")
            scheduling.start()
            inputs = states + len(messages) - jail  # booking's outputs and the requests
            await until(lambda: taken(scheduling) >= inputs, 600, "scheduling done")
            scheduling.stop()
            await alert_backlog(broker.bootstrap, count // 10)
        worker = Worker(name, worker_env(broker.url, data / "w"), data / "w.log").start()
        await until(lambda: worker.get("/ready")[0] == 200, 90, f"{name} ready")
        raw = data / "profile.txt"
        command = [str(PY_SPY), "record", "--pid", str(worker.pid), "--output", str(raw)]
        command += ["--format", "raw", "--rate", "100", "--duration", str(seconds)]
        command += ["--idle", "--threads", "--nonblocking"]
        await asyncio.to_thread(subprocess.run, command, check=True, capture_output=True, cwd=ROOT)
        store = worker.env.get("RELEASEWATCH_STORE", "rocksdb")
        svg = ROOT / "bench" / "results" / f"profile-{name}-{store}.svg"
        command = [str(PY_SPY), "record", "--pid", str(worker.pid), "--output", str(svg)]
        command += ["--format", "flamegraph", "--rate", "100", "--duration", str(seconds)]
        command += ["--nonblocking"]
        await asyncio.to_thread(subprocess.run, command, check=True, capture_output=True, cwd=ROOT)
        worker.stop()
        folded = svg.with_suffix(".folded.gz")  # the stacks behind the summary, to dig into
        folded.write_bytes(gzip.compress(raw.read_bytes()))
        summarise(raw)
        print(f"flame graph: {svg.relative_to(ROOT)} (Apache Kafka embedded, store {store})")


if __name__ == "__main__":
    asyncio.run(profile(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100_000))
