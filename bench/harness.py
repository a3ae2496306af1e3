"""What every benchmark and the fault suite share beyond ``tests.support`` (workers, the
topic reader, polling): the embedded broker of the run, the workers' environment, paced
publishing, percentiles and the results files."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.kafka.admin.topics import wait_for_leaders
from services.kafka.broker.embedded import EmbeddedBroker, embedded_broker

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PARTITIONS = 8
Message = tuple[str, bytes | None, bytes]  # topic, key, value
# The broker of the run, as `embedded()` started it: named in every result.
RUNNING: dict[str, str] = {"flavor": "apache", "name": "none (in process)"}


@contextlib.contextmanager
def embedded(data_dir: Path | None = None, nodes: int = 1) -> Iterator[EmbeddedBroker]:
    """The embedded broker a benchmark runs on, chosen as `releasewatch up` chooses it
    (RELEASEWATCH_EMBEDDED_BROKER, default Apache Kafka), its data in ``data_dir`` or in a
    temporary folder removed afterwards."""
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        wanted = os.environ.get("RELEASEWATCH_EMBEDDED_BROKER", "kafka")
        broker = stack.enter_context(embedded_broker(wanted, data_dir, nodes))
        RUNNING.update(flavor=broker.flavor, name=broker.name)
        print(f"broker: {broker.name} at {broker.bootstrap}", flush=True)
        yield broker


def worker_env(broker_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELEASEWATCH_")}
    env.update(
        RELEASEWATCH_BROKER_URL=broker_url,
        RELEASEWATCH_BROKER_FLAVOR=RUNNING["flavor"],
        RELEASEWATCH_PARTITIONS=str(PARTITIONS),
        RELEASEWATCH_LOG_FORMAT="json",
        RELEASEWATCH_LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "info"),
        RELEASEWATCH_DATA_DIR=str(data_dir),
        RELEASEWATCH_SESSION_TIMEOUT="6",
        RELEASEWATCH_POLICY_FILE=str(ROOT / "deploy" / "policies.yaml"),
        # BENCH_GUARANTEE=exactly_once: the same runs with the workers' transactions
        RELEASEWATCH_PROCESSING_GUARANTEE=os.environ.get("BENCH_GUARANTEE", "at_least_once"),
        # BENCH_FIXES_OFF=name[,name]: a patch's reproducer (services/kafka/patches)
        RELEASEWATCH_FAUST_FIXES_OFF=os.environ.get("BENCH_FIXES_OFF", ""),
    )
    if os.environ.get("BENCH_KEK_FILE"):  # person data sealed (#46): a profile of that
        env["RELEASEWATCH_KEK_FILE"] = os.environ["BENCH_KEK_FILE"]
    env.update(extra)
    return env


async def create_topics(bootstrap: str, names: Iterable[str], partitions: int = PARTITIONS) -> None:
    """Plain topics for a baseline, ``partitions`` each, served by their leaders on return."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = list(names)
        await admin.create_topics([NewTopic(name, partitions, 1) for name in names])
        await wait_for_leaders(admin, names, asyncio.get_running_loop().time() + 30)
    finally:
        await admin.close()


async def publish(
    bootstrap: str,
    messages: Sequence[Message],
    rate: float | None = None,
    positions: list[tuple[str, int, int]] | None = None,
    acks: int | str = 1,
) -> list[float]:
    """Publish in order (at ``rate`` per second if given); return each message's send time.
    With ``positions``, each message's (topic, partition, offset) is appended to it, in order."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=2, acks=acks
    )
    await producer.start()
    sent: list[float] = []
    deliveries: list[asyncio.Future[Any]] = []
    try:
        started = time.perf_counter()
        for number, (topic, key, value) in enumerate(messages):
            if rate:
                delay = started + number / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent.append(time.time())
            delivery = await producer.send(topic, key=key, value=value)
            if positions is not None:
                deliveries.append(delivery)
        await producer.flush()
        if positions is not None:
            placed = await asyncio.gather(*deliveries)
            positions.extend((record.topic, record.partition, record.offset) for record in placed)
    finally:
        await producer.stop()
    return sent


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def save(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return path


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = 0
    with contextlib.suppress(OSError):
        memory = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(memory / 2**30, 1),
        "python": sys.version.split()[0],
        "broker": RUNNING["name"],
    }
