"""The board: a live page for jail operations staff, served by the stack.

It reads every partition of the topics it shows (no consumer group), so it is a global view
whatever the number of workers, and serves ``/`` (the page), ``/api/board`` (JSON, filters
``jurisdiction`` and ``facility``), ``/health``, ``/ready``. With a users file
(``RELEASEWATCH_USERS_FILE``) only to people signed in (``/login``), each look recorded on
``ops.access.v1``; without one (development only) to anyone who reaches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from aiohttp import web

from schemas.access import AccessAction, AccessOutcome
from schemas.topics import pattern_of
from services.board.state import FOLDED, BoardState
from services.board.view import view
from services.kafka.client.follow import follow
from services.kafka.client.security import consumer_options
from services.ops import events
from services.ops.logging import get_logger
from services.ops.web import open_site
from services.people.web import People, for_settings, sign_in_set
from services.settings import Settings

log = get_logger(__name__)
SHOWN = pattern_of(*FOLDED, agencies=True)  # and every agency's notices


def make_app(
    state: BoardState, connected: asyncio.Event | None = None, people: People | None = None
) -> web.Application:
    connected = connected or asyncio.Event()
    page = resources.files("services.board").joinpath("board.html").read_text()

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    async def board(request: web.Request) -> web.Response:
        page_data = view(
            state,
            datetime.now(UTC),
            request.query.get("jurisdiction") or None,
            request.query.get("facility") or None,
        )
        if "user" in request:  # signed in (#46): the page offers to sign out
            page_data["signed_in_as"] = request["user"]
        return web.json_response(page_data)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": "board"})

    async def ready(request: web.Request) -> web.Response:
        """200 once the board follows the topics (probes and load balancers wait for it)."""
        ok = connected.is_set()
        return web.json_response({"ready": ok, "service": "board"}, status=200 if ok else 503)

    app = web.Application()
    if people is not None:  # signed-in people only, each look recorded (#46)
        people.install(app)
    app.router.add_get("/", index)
    app.router.add_get("/api/board", board)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    return app


async def serve(settings: Settings, port: int) -> None:
    state = BoardState()
    connected = asyncio.Event()
    people = for_settings(settings, "board")
    if people is None:
        log.warning(events.BOARD_OPEN_WITHOUT_SIGN_IN, setting="RELEASEWATCH_USERS_FILE")
    else:
        await people.audit.start()
        # who may sign in, at each start: a change of users or provider shows in the log
        await people.audit.record(
            AccessAction.CHANGE,
            "-",
            AccessOutcome.SUCCESS,
            sign_in_set(settings),
            socket.gethostname(),
        )
    runner = web.AppRunner(make_app(state, connected, people), access_log=None)
    await runner.setup()
    address = await open_site(runner, settings.web_host, port, settings.web_ssl_context())
    log.info(events.BOARD_SERVING, url=f"{address}/")
    follower = asyncio.create_task(
        follow(
            consumer_options(settings),
            SHOWN,
            state.apply,
            from_beginning=True,
            on_connected=connected.set,
        )
    )
    try:
        await follower
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await follower
        await runner.cleanup()
        if people is not None:
            await people.audit.stop()


def run(settings: Settings, port: int) -> Any:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings, port))
