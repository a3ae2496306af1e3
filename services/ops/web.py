"""What every web server of ours shares: where it listens, over TLS when it has a context."""

from __future__ import annotations

import ssl

from aiohttp import web


async def open_site(runner: web.AppRunner, host: str, port: int, tls: ssl.SSLContext | None) -> str:
    """Listen on ``host:port`` (HTTPS with ``tls``); the address it serves."""
    await web.TCPSite(runner, host, port, ssl_context=tls).start()
    return f"{'https' if tls else 'http'}://{host}:{port}"
