"""What every benchmark and the fault suite share: the embedded broker, service workers
started as production starts them (`releasewatch service NAME`), their /metrics, a
group-less collector of output topics, paced publishing, percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.kafka.embedded import EmbeddedBroker, embedded_broker
from services.kafka.process import die_with_parent_preexec, free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PARTITIONS = 8
Message = tuple[str, bytes | None, bytes]  # topic, key, value
# The broker of the run, as `embedded()` started it: named in every result.
RUNNING: dict[str, str] = {"flavor": "apache", "name": "none (in process)"}


@contextlib.contextmanager
def embedded(data_dir: Path | None = None) -> Iterator[EmbeddedBroker]:
    """The embedded broker a benchmark runs on, chosen as `releasewatch up` chooses it
    (RELEASEWATCH_EMBEDDED_BROKER, default Apache Kafka), its data in ``data_dir`` or in a
    temporary folder removed afterwards."""
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        wanted = os.environ.get("RELEASEWATCH_EMBEDDED_BROKER", "kafka")
        broker = stack.enter_context(embedded_broker(wanted, data_dir))
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
    )
    env.update(extra)
    return env


async def create_topics(bootstrap: str, names: Iterable[str]) -> None:
    """Plain topics for a baseline, PARTITIONS each."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1) for name in names])
    finally:
        await admin.close()


@dataclass
class Worker:
    """One worker process of one service; its log goes to ``log_path``."""

    name: str
    env: dict[str, str]
    log_path: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> Worker:
        self.port = free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "services.cli",
                    "service",
                    self.name,
                    "--port",
                    str(self.port),
                ],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent_preexec,
            )
        self.starts += 1
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """kill -9: no shutdown, no commit, no flush."""
        if self.alive():
            assert self.process is not None
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 20.0) -> None:
        if not self.alive():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""
        except OSError:
            return 0, ""

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def metrics(self) -> dict[str, float]:
        status, text = self.get("/metrics")
        return parse_metrics(text) if status == 200 else {}

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0


METRIC_LINE = re.compile(r"^(\w+)(\{[^}]*\})? (\S+)$")


def parse_metrics(text: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        match = METRIC_LINE.match(line)
        if match:
            values[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return values


def total(metrics: dict[str, float], name: str, **labels: str) -> float:
    """The sum of ``name`` over every series whose labels include ``labels``."""
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    return sum(
        value
        for series, value in metrics.items()
        if series.split("{")[0] == name and all(label in series for label in wanted)
    )


async def until(condition: Any, timeout: float, what: str, every: float = 0.2) -> float:
    """Poll ``condition`` until true; return the time it became true (perf_counter)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if await asyncio.to_thread(condition):
            return time.perf_counter()
        await asyncio.sleep(every)
    raise TimeoutError(f"not within {timeout:.0f}s: {what}")


async def all_ready(workers: Iterable[Worker], timeout: float = 90.0) -> None:
    for worker in workers:
        await until(lambda w=worker: w.get("/ready")[0] == 200, timeout, f"{worker.name} ready")


async def publish(
    bootstrap: str,
    messages: Sequence[Message],
    rate: float | None = None,
    positions: list[tuple[str, int, int]] | None = None,
) -> list[float]:
    """Publish in order (at ``rate`` per second if given); return each message's send time.
    With ``positions``, each message's (topic, partition, offset) is appended to it, in order."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=2)
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


@dataclass
class Record:
    topic: str
    key: str | None
    value: Any
    timestamp: float  # the producer's CreateTime, s
    received: float  # when the collector read it, s


@dataclass
class Collector:
    """Reads ``pattern`` topics from the beginning, every partition, no consumer group."""

    bootstrap: str
    pattern: str
    records: list[Record] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Collector:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            metadata_max_age_ms=2000,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_wait_ms=50,  # Tansu answers a waiting fetch only when the wait ends
        )
        await consumer.start()
        consumer.subscribe(pattern=self.pattern)
        self._task = asyncio.create_task(self._run(consumer))
        return self

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                now = time.time()
                for batch in batches.values():
                    for message in batch:
                        try:
                            value = json.loads(message.value) if message.value else None
                        except ValueError:
                            value = None
                        key = message.key.decode(errors="replace") if message.key else None
                        self.records.append(
                            Record(message.topic, key, value, message.timestamp / 1000, now)
                        )
        finally:
            await consumer.stop()

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def on(self, topic_prefix: str) -> list[Record]:
        return [r for r in self.records if r.topic.startswith(topic_prefix)]


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


def log_events(path: Path, event: str) -> list[tuple[float, dict[str, Any]]]:
    """(unix time, fields) of every JSON log line of ``event`` in a worker's log."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        if f'"{event}"' not in line:
            continue
        with contextlib.suppress(ValueError):
            fields = json.loads(line)
            if fields.get("event") == event:
                stamp = datetime.fromisoformat(fields["timestamp"].replace("Z", "+00:00"))
                found.append((stamp.timestamp(), fields))
    return found
