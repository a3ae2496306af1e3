"""An agency's HTTPS endpoint that answers as a test scripts it, per booking: a real aiohttp
server on 127.0.0.1 (TLS with the test's CA), recording every request and whether its
Standard Webhooks signature verifies with the reference package."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SLOW = -1  # in a script: answer nothing for ``slow_seconds``, then 200


@dataclass(frozen=True)
class Hit:
    booking_id: str
    webhook_id: str
    verified: bool
    attempt: int
    at: float  # time.time()
    status: int
    body: dict[str, object]


@dataclass
class ScriptedEndpoint:
    secret: str
    certfile: Path
    keyfile: Path
    slow_seconds: float = 3.0
    # booking id -> the answers to give, in order; the last one repeats; unlisted: 200
    scripts: dict[str, list[int]] = field(default_factory=dict)
    hits: dict[str, list[Hit]] = field(default_factory=lambda: defaultdict(list))
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}/hooks/notices"

    async def _answer(self, request: web.Request) -> web.Response:
        body = await request.text()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            Webhook(self.secret).verify(body, headers)
            verified = True
        except WebhookVerificationError:
            verified = False
        document = json.loads(body)
        data = document.get("data", {})
        booking = data.get("subject", {}).get("booking_id", "?")
        answers = self.scripts.get(booking, [200])
        done = self.hits[booking]
        status = answers[min(len(done), len(answers) - 1)]
        webhook_id = headers.get("webhook-id", "")
        hit = Hit(booking, webhook_id, verified, len(done) + 1, time.time(), status, document)
        done.append(hit)
        if status == SLOW:
            await asyncio.sleep(self.slow_seconds)
            status = 200
        return web.Response(status=status if verified else 401)

    async def __aenter__(self) -> ScriptedEndpoint:
        app = web.Application()
        app.router.add_post("/hooks/notices", self._answer)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certfile, self.keyfile)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
