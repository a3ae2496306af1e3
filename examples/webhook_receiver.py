"""An agency's webhook receiver for releasewatch notices: a starting point, not a product.

What it does, as Standard Webhooks (standardwebhooks.com) asks of a receiver:
- verifies ``webhook-signature`` over ``webhook-id.webhook-timestamp.body`` with the
  ``standardwebhooks`` package (the reference implementation), refusing a bad signature or a
  timestamp more than 5 minutes off with 401;
- answers 2xx only once the notice is kept (here: appended to ``--out``, one JSON per line),
  so releasewatch's ledger says "delivered" only for a notice the agency holds;
- drops a retry it already has by ``webhook-id`` (answering 200 again, so the sender stops);
- with ``--ack-by NAME``, acknowledges each notice it kept over HTTP, as the body's
  ``acknowledge`` object says (POST to its url with its authorization header): resends and
  escalation stop, as with an acknowledgement on Kafka. A real integration acknowledges
  once a person or system has taken the notice in hand.

Secrets: ``RELEASEWATCH_WEBHOOK_SECRETS`` holds one ``whsec_`` secret, or two space-separated
during a rotation (either verifies). Run it behind TLS (``--certfile``/``--keyfile``), as
releasewatch sends only to https:// endpoints outside development.

    pip install standardwebhooks aiohttp
    RELEASEWATCH_WEBHOOK_SECRETS=whsec_... python examples/webhook_receiver.py \\
        --port 8443 --certfile cert.pem --keyfile key.pem --out notices.jsonl

It prints one line per request: what it did and the notice's id and kind (never the
person's name or date of birth).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import ssl
import sys
from pathlib import Path

from aiohttp import ClientSession, web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from yarl import URL


class Receiver:
    def __init__(self, secrets: list[str], out: Path, ack_by: str | None = None) -> None:
        self.verifiers = [Webhook(secret) for secret in secrets]
        self.out = out
        self.ack_by = ack_by
        self.acknowledging: set[asyncio.Task[None]] = set()
        self.seen: set[str] = set()
        if out.exists():  # what was kept before a restart is still kept
            for line in out.read_text().splitlines():
                self.seen.add(json.loads(line)["webhook_id"])

    def verified(self, body: str, headers: dict[str, str]) -> bool:
        for verifier in self.verifiers:
            try:
                verifier.verify(body, headers)
            except WebhookVerificationError:
                continue
            return True
        return False

    async def notices(self, request: web.Request) -> web.Response:
        body = await request.text()
        headers = {k.lower(): v for k, v in request.headers.items()}
        message_id = headers.get("webhook-id", "")
        if not self.verified(body, headers):
            say("refused", message_id, "bad signature or stale timestamp")
            return web.Response(status=401, text="signature not verified\n")
        if message_id in self.seen:
            say("repeat", message_id, "already kept")
            return web.Response(status=200, text="already kept\n")
        notice = json.loads(body)
        data = notice.get("data", {})
        with self.out.open("a") as kept:
            kept.write(json.dumps({"webhook_id": message_id, "notice": notice}) + "\n")
        self.seen.add(message_id)
        say("kept", message_id, f"{data.get('kind')} attempt {data.get('attempt')}")
        link = notice.get("acknowledge")
        if self.ack_by and link and data.get("kind") != "released":
            task = asyncio.create_task(self.acknowledge(message_id, link))
            self.acknowledging.add(task)
            task.add_done_callback(self.acknowledging.discard)
        return web.Response(status=200, text="kept\n")

    async def acknowledge(self, message_id: str, link: dict[str, str]) -> None:
        """POST the acknowledgement the notice's body offers (after answering its delivery)."""
        async with (
            ClientSession() as session,
            session.request(
                link["method"],
                URL(link["url"]).extend_query(by=self.ack_by or ""),
                headers={"authorization": link["authorization"]},
            ) as answer,
        ):
            say(
                "acknowledged" if answer.status == 202 else "ack-refused",
                message_id,
                f"HTTP {answer.status} {await answer.text()}".strip(),
            )


def say(what: str, message_id: str, detail: str) -> None:
    print(f"{what} {message_id} {detail}", flush=True)


async def serve(args: argparse.Namespace) -> None:
    secrets = os.environ.get("RELEASEWATCH_WEBHOOK_SECRETS", "").split()
    if not secrets:
        sys.exit("set RELEASEWATCH_WEBHOOK_SECRETS to the whsec_ secret(s) releasewatch signs with")
    receiver = Receiver(secrets, Path(args.out), args.ack_by)
    app = web.Application()
    app.router.add_post(args.path, receiver.notices)
    context = None
    if args.certfile:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.certfile, args.keyfile)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    say("listening", "-", f"{'https' if context else 'http'}://{args.host}:{port}{args.path}")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443, help="0: any free port (printed)")
    parser.add_argument("--path", default="/releasewatch/notices")
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    parser.add_argument("--out", default="notices.jsonl")
    parser.add_argument("--ack-by", help="acknowledge each kept notice over HTTP as NAME")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
