"""``releasewatch service sealer``: the sealer (``services.ledger.sealer``) with its
``/health``, ``/ready`` and ``/metrics``."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.core.ledger_seal import key_id
from services.kafka.client.clients import running
from services.kafka.client.security import client_options, consumer_options, producer_options
from services.ledger import keys
from services.ledger.sealer import GROUP, Sealer, SealsUnreadable, check_partitions
from services.ops import events
from services.ops.logging import get_logger
from services.ops.metrics import CONTENT_TYPE, Metrics
from services.ops.web import open_site
from services.settings import Settings

SERVICE = "sealer"
log = get_logger(__name__)


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The configured key; in development one made under the data dir on first use."""
    path = keys.signing_key_path(settings)
    if settings.ledger_signing_key is None and not path.exists():
        made = keys.write_new(path)
        log.info(events.LEDGER_KEY_CREATED, path=str(path), key_id=key_id(made.public_key()))
    return keys.load_signing_key(path)


def make_app(sealer: Sealer, metrics: Metrics) -> web.Application:
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": SERVICE})

    async def ready(request: web.Request) -> web.Response:
        ok = sealer.ready
        return web.json_response({"ready": ok, "service": SERVICE}, status=200 if ok else 503)

    async def scrape(request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"content-type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", scrape)
    return app


async def serve(settings: Settings, port: int) -> None:
    signer = signing_key(settings)
    metrics = Metrics(SERVICE)
    consumer = AIOKafkaConsumer(
        **consumer_options(settings),
        group_id=GROUP,
        enable_auto_commit=False,  # the seals are the position
        isolation_level="read_committed",  # what a verifier reads: aborted records never count
        auto_offset_reset="earliest",
        session_timeout_ms=int(settings.session_timeout * 1000),
        heartbeat_interval_ms=int(settings.heartbeat_interval * 1000),
    )
    reader = AIOKafkaConsumer(**consumer_options(settings), group_id=None, enable_auto_commit=False)
    producer = AIOKafkaProducer(**client_options(settings), **producer_options(settings))
    async with running(reader), running(producer), running(consumer):
        await check_partitions(reader)
        sealer = Sealer(consumer, reader, producer, signer, settings.ledger_seal_every, metrics)
        runner = web.AppRunner(make_app(sealer, metrics), access_log=None)
        await runner.setup()
        address = await open_site(runner, settings.web_host, port, settings.web_ssl_context())
        log.info(events.SERVICE_STARTING, web=address, key_id=key_id(signer.public_key()))
        try:
            await sealer.run()
        finally:
            await runner.cleanup()


def run(settings: Settings, port: int) -> None:
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings, port))
    except SealsUnreadable as exc:  # one line naming what is wrong, exit 1
        raise SystemExit(f"releasewatch service sealer: {exc}") from None
