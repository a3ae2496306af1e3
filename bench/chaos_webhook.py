"""The fault suite's webhook (`make chaos WEBHOOK=1`, #44): dhs-ice is also told by webhook,
to an endpoint in the suite's process that is down (503) for the first DOWN_SECONDS of the
replay, then answers 200, while workers are killed as usual.

The promise checked: every notice message on ``notices.dhs-ice.v1`` ends delivered (a 200
for its ``webhook-id``) or escalated (jail staff told it was not delivered); a repeat POST
carries the same ``webhook-id`` (a receiver dedupes on it); every 200 is for a notice message
that is on the topic. Shares no code with the services.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

DOWN_SECONDS = 60.0
SECRET = "whsec_" + "Y2hhb3Mgc3VpdGUgc2VjcmV0IG9mIDMyIGJ5dGVzISE="
REGISTRY = """
agencies:
  - slug: dhs-ice
    name: ICE ERO (the fault suite's endpoint)
    contact: the suite
    webhook:
      url: http://127.0.0.1:{port}/notices
      secrets: env:CHAOS_WEBHOOK_SECRETS
      allow_private_addresses: true
      max_retry_hours: 0.1   # 6 min: retries ~1, 2, 7, 29, 83, 192, 300 s after the first
      rate_per_minute: 60000
"""


@dataclass
class Endpoint:
    started: float = field(default_factory=time.monotonic)
    hits: Counter[str] = field(default_factory=Counter)  # webhook-id -> POSTs
    delivered: Counter[str] = field(default_factory=Counter)  # webhook-id -> 200s
    notice_of: dict[str, str] = field(default_factory=dict)  # webhook-id -> notice id
    port: int = 0
    _runner: web.AppRunner | None = None

    async def _answer(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        webhook_id = request.headers.get("webhook-id", "")
        self.hits[webhook_id] += 1
        self.notice_of[webhook_id] = body["data"]["notice_id"]
        if time.monotonic() - self.started < DOWN_SECONDS:
            return web.Response(status=503)
        self.delivered[webhook_id] += 1
        return web.Response(status=200)

    async def start(self, data: Path) -> dict[str, str]:
        """Listening; the workers' settings for it."""
        app = web.Application()
        app.router.add_post("/notices", self._answer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.started = time.monotonic()
        registry = data / "agencies.yaml"
        registry.write_text(REGISTRY.format(port=self.port))
        return {
            "RELEASEWATCH_AGENCIES_FILE": str(registry),
            "RELEASEWATCH_WEBHOOK_ALLOW_HTTP": "true",  # the suite's endpoint is local
            "CHAOS_WEBHOOK_SECRETS": SECRET,
        }

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def ended(self, notices: list[Any], escalations: list[Any]) -> bool:
        """Every notice message on the topic delivered or escalated."""
        return not self.open(notices, escalations)

    def open(self, notices: list[Any], escalations: list[Any]) -> set[str]:
        told = {
            (r.value or {}).get("data", {}).get("notice_id")
            for r in escalations
            if "not delivered" in ((r.value or {}).get("data", {}).get("detail") or "")
        }
        messages = {(r.value or {}).get("event_id"): r for r in notices}
        return {
            message_id
            for message_id, record in messages.items()
            if message_id not in self.delivered
            and (record.value or {}).get("data", {}).get("notice_id") not in told
        }

    def verdict(self, notices: list[Any], escalations: list[Any]) -> dict[str, Any]:
        on_topic = {(r.value or {}).get("event_id") for r in notices}
        unknown = set(self.delivered) - on_topic
        left = self.open(notices, escalations)
        outcome = {
            "webhook_notice_messages": len(on_topic),
            "webhook_delivered": len(set(self.delivered) & on_topic),
            "webhook_escalated": len(on_topic) - len(set(self.delivered) & on_topic) - len(left),
            "webhook_neither": len(left),
            "webhook_posts": sum(self.hits.values()),
            "webhook_repeated_2xx_same_id": sum(c - 1 for c in self.delivered.values()),
            "webhook_2xx_not_on_topic": len(unknown),
        }
        outcome["webhook_passed"] = not left and not unknown
        print(f"\n  webhook (dhs-ice; endpoint down the first {DOWN_SECONDS:.0f} s)")
        for label, value in outcome.items():
            print(f"    {label.replace('_', ' '):<44} {value!s:>8}")
        if left:
            print(f"    still open: {sorted(left)[:10]}")
        return outcome
