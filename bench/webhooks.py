"""Notices delivered by webhook (#44) against the Kafka-only path, in the same run: COUNT
flagged bookings released 10 h from now (each notice due the moment its request is read),
published at once, for an agency read on Kafka only, then as many for an agency with an
HTTPS webhook to a local receiver (in this process, answering 200 at once; TLS with a CA made
for the run). Asserts nothing; prints and saves:

- notices/s: Kafka-only, from the first notice on the agency's topic to the last; webhook,
  from the first 2xx to the last (each notice once);
- latency p50/p95/p99: from each alert on ``notice.alerts.v1`` (its producer timestamp) to its
  notice on the topic (Kafka-only), or to the receiver's 2xx (webhook); the ratios between;
  and, for the webhook phase, to the same notice on its topic (sent just before the POST):
  what the notification worker's queue adds, apart from the HTTP hop.

    .venv/bin/python -m bench.webhooks [COUNT] [RATE_PER_MINUTE]
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.harness import PARTITIONS, embedded, machine, percentile, publish, save, worker_env
from schemas.topics import NOTICE_ALERTS
from services.kafka.admin.topics import ensure_topics
from tests.support.bookings import flagging
from tests.support.certs import Authority
from tests.support.poll import until
from tests.support.topics import Watch
from tests.support.workers import Worker, all_ready

SERVICES = ("booking", "scheduling", "notification")
SECRET = "whsec_" + "YmVuY2ggc2VjcmV0IG9mIHRoaXJ0eS10d28gYnl0ZXMh"
REGISTRY = """
agencies:
  - slug: bench-kafka
    name: read on Kafka only
  - slug: bench-hook
    name: told by webhook
    webhook:
      url: {url}
      secrets: env:BENCH_WEBHOOK_SECRETS
      allow_private_addresses: true
      rate_per_minute: {rate}
"""


class Receiver:
    """Answers 200 at once; notes when each notice first arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}

    async def notices(self, request: web.Request) -> web.Response:
        document = json.loads(await request.read())
        key = f"{document['jurisdiction']}/{document['booking_id']}"
        self.arrived.setdefault(key, time.time())
        return web.Response(status=200)


def documents(agency: str, count: int) -> tuple[list[tuple[str, bytes, bytes]], list[str]]:
    release = datetime.now(UTC) + timedelta(hours=10)
    messages, keys = [], []
    for _ in range(count):
        booking_id = f"wh-{uuid.uuid4().hex[:10]}"
        for topic, document in flagging(booking_id, release, agency):
            key = f"{document['jurisdiction']}/{booking_id}"
            messages.append((topic, key.encode(), json.dumps(document).encode()))
        keys.append(f"{document['jurisdiction']}/{booking_id}")
    return messages, keys


def figures(started: dict[str, float], done: dict[str, float]) -> dict[str, float]:
    latencies = [(done[key] - started[key]) * 1000 for key in done if key in started]
    ends = sorted(done.values())
    return {
        "notices": len(latencies),
        "per_second": (len(ends) - 1) / (ends[-1] - ends[0]) if len(ends) > 1 else 0.0,
        **{f"p{p}_ms": percentile(latencies, p) for p in (50, 95, 99)},
    }


async def run(count: int, rate: int = 60_000) -> dict[str, Any]:
    """``rate``: the webhook's rate_per_minute (the most the registry allows: the path itself
    is measured, not the limit an agency sets)."""
    print(
        f"webhooks: {count:,} notices for an agency on Kafka only, then {count:,} by webhook "
        f"(rate_per_minute {rate:,})"
    )
    folder = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    authority = Authority.create(folder / "ca")
    cert, key = authority.server("receiver", ("localhost",))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/notices", receiver.notices)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    registry = folder / "agencies.yaml"
    registry.write_text(REGISTRY.format(url=f"https://localhost:{port}/notices", rate=rate))
    extra = {
        "RELEASEWATCH_AGENCIES_FILE": str(registry),
        "RELEASEWATCH_DELIVERY_CAFILE": str(authority.ca_file),
        "BENCH_WEBHOOK_SECRETS": SECRET,
    }
    result: dict[str, Any] = {"count": count, "rate_per_minute": rate}
    try:
        with embedded() as broker:
            await ensure_topics(broker.bootstrap, PARTITIONS)
            workers = [
                Worker(
                    name, {**worker_env(broker.url, folder / name), **extra}, folder / f"{name}.log"
                )
                for name in SERVICES
            ]
            for worker in workers:
                worker.start()
            try:
                await all_ready(workers)
                async with (
                    Watch(broker.bootstrap, NOTICE_ALERTS.name) as alerts,
                    Watch(broker.bootstrap, pattern=r"^notices\.bench-kafka\.v1$") as notices,
                    Watch(broker.bootstrap, pattern=r"^notices\.bench-hook\.v1$") as hooked,
                ):
                    messages, kafka_keys = documents("bench-kafka", count)
                    await publish(broker.bootstrap, messages)
                    await until(
                        lambda: set(kafka_keys) <= {r.key for r in notices.records},
                        600,
                        "every Kafka-only notice",
                    )
                    messages, hook_keys = documents("bench-hook", count)
                    await publish(broker.bootstrap, messages)
                    await until(lambda: set(hook_keys) <= set(receiver.arrived), 600, "every 2xx")
                    alerted: dict[str, float] = {}
                    for record in alerts.records:
                        alerted.setdefault(record.key, record.timestamp)
                    on_topic: dict[str, float] = {}
                    for record in notices.records:
                        on_topic.setdefault(record.key, record.timestamp)
                    hook_topic: dict[str, float] = {}
                    for record in hooked.records:
                        hook_topic.setdefault(record.key, record.timestamp)
                result["kafka_only"] = figures(alerted, on_topic)
                result["webhook"] = figures(alerted, dict(receiver.arrived))
                # the same notices on their Kafka topic, written just before each POST
                result["webhook_phase_on_topic"] = figures(alerted, hook_topic)
            finally:
                for worker in workers:
                    worker.stop()
    finally:
        await runner.cleanup()
    kafka, hook = result["kafka_only"], result["webhook"]
    on_topic = result["webhook_phase_on_topic"]
    for name, row in (
        ("Kafka only", kafka),
        ("webhook (2xx)", hook),
        ("  (its topic)", on_topic),
    ):
        print(
            f"  {name:<14} {row['per_second']:>7,.0f} notices/s   alert -> "
            + "  ".join(f"p{p} {row[f'p{p}_ms']:,.0f} ms" for p in (50, 95, 99))
        )
    result["ratios"] = {
        "per_second": hook["per_second"] / kafka["per_second"],
        **{f"p{p}": hook[f"p{p}_ms"] / kafka[f"p{p}_ms"] for p in (50, 95, 99)},
    }
    print(
        "  webhook / Kafka only: "
        + "  ".join(f"{name} x{value:.2f}" for name, value in result["ratios"].items())
    )
    return result


def main(count: int = 2000, rate: int = 60_000) -> dict[str, Any]:
    return asyncio.run(run(count, rate))


if __name__ == "__main__":
    figures_of_run = main(*(int(a) for a in sys.argv[1:3]))
    print(f"  results: {save('webhooks', {'machine': machine(), **figures_of_run})}")
