"""Signing in to a web surface that shows CJI (the board): ``/login`` (name, password, code of
the authenticator app), ``/logout``, and a middleware that lets through only a signed-in
person's requests, each look recorded on ``ops.access.v1`` (at most once a minute per person
and address). ``/health``, ``/ready`` and ``/metrics`` stay open: they carry no CJI."""

from __future__ import annotations

import html
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from aiohttp import web

from schemas.access import AccessAction, AccessOutcome
from services.ops import events
from services.ops.logging import get_logger
from services.people import sessions, users
from services.people.audit import AccessLog
from services.people.signin import Outcome, SignIn
from services.settings import Settings

log = get_logger(__name__)
OPEN = frozenset({"/health", "/ready", "/metrics", "/login", "/logout"})
VIEW_EVERY = 60.0  # s: one "view" event per person and address in this time
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in: releasewatch</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem}}
label{{display:block;margin-top:1rem}}input{{font:inherit;width:100%;padding:.4rem}}
button{{font:inherit;margin-top:1.5rem;padding:.5rem 1.5rem}}
[role=alert]{{color:#8a1c1c;font-weight:600}}</style></head>
<body><main><h1>Sign in</h1>
<p>Release notices board. Every sign-in and every look is recorded.</p>
{message}
<form method="post" action="/login">
<input type="hidden" name="next" value="{next}">
<label for="name">Name</label>
<input id="name" name="name" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<label for="code">Code from your authenticator app</label>
<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code"
 pattern="[0-9]{{6}}" required>
<button type="submit">Sign in</button>
</form></main></body></html>
"""


def _page(message: str = "", next_path: str = "/") -> str:
    shown = f'<p role="alert">{html.escape(message)}</p>' if message else ""
    return PAGE.format(message=shown, next=html.escape(next_path, quote=True))


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _local(path: str) -> str:
    """Only a path of this site to go back to (never another site's address)."""
    return path if path.startswith("/") and not path.startswith("//") else "/"


@dataclass
class People:
    """The sign-in of one web surface: who may, the session secret, the access log."""

    signin: SignIn
    secret: bytes
    audit: AccessLog
    secure_cookie: bool
    clock: Callable[[], float] = time.time
    _viewed: dict[tuple[str, str], float] = field(default_factory=dict)

    def _source(self, request: web.Request) -> str:
        return request.remote or "-"

    def _cookie(self, response: web.StreamResponse, session: sessions.Session) -> None:
        response.set_cookie(
            sessions.COOKIE,
            sessions.issue(self.secret, session),
            httponly=True,
            samesite="Strict",
            secure=self.secure_cookie,
            path="/",
            max_age=int(sessions.IDLE),
        )

    async def login_page(self, request: web.Request) -> web.Response:
        return web.Response(
            text=_page(next_path=_local(request.query.get("next", "/"))), content_type="text/html"
        )

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        name, next_path = str(form.get("name", "")).strip(), _local(str(form.get("next", "/")))
        now = self.clock()
        outcome = self.signin.attempt(
            name, str(form.get("password", "")), str(form.get("code", "")), now
        )
        success = outcome is Outcome.SUCCESS
        recorded = await self.audit.record(
            AccessAction.SIGN_IN,
            name,
            AccessOutcome.SUCCESS if success else AccessOutcome.FAILURE,
            "/login",
            self._source(request),
            None if success else outcome.value,
        )
        if not recorded:
            return web.Response(status=503, text=_page("Signing in is not possible now."))
        if not success:
            log.warning(events.SIGN_IN_REFUSED, user=name, reason=outcome.value)
            message, status = (
                ("Too many failed attempts: this name is locked for 10 minutes.", 423)
                if outcome is Outcome.LOCKED
                else ("Name, password or code not accepted.", 401)
            )
            return web.Response(
                status=status, text=_page(message, next_path), content_type="text/html"
            )
        log.info(events.SIGNED_IN, user=name)
        response = _see_other(next_path)
        self._cookie(response, sessions.Session(name, now, now))
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        session = sessions.read(self.secret, request.cookies.get(sessions.COOKIE), self.clock())
        if session is not None:
            await self.audit.record(
                AccessAction.SIGN_OUT,
                session.user,
                AccessOutcome.SUCCESS,
                "/logout",
                self._source(request),
            )
        response = _see_other("/login")
        response.del_cookie(sessions.COOKIE, path="/")
        return response

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN:
            return await handler(request)
        now = self.clock()
        session = sessions.read(self.secret, request.cookies.get(sessions.COOKIE), now)
        if session is None:
            await self.audit.record(
                AccessAction.REFUSED,
                "-",
                AccessOutcome.FAILURE,
                request.path_qs,
                self._source(request),
                "no_session",
            )
            if request.path.startswith("/api/"):
                return web.json_response({"error": "sign in first", "login": "/login"}, status=401)
            return _see_other(f"/login?next={quote(request.path_qs, safe='')}")
        seen = (session.user, request.path_qs)
        if now - self._viewed.get(seen, -VIEW_EVERY) >= VIEW_EVERY:
            recorded = await self.audit.record(
                AccessAction.VIEW,
                session.user,
                AccessOutcome.SUCCESS,
                request.path_qs,
                self._source(request),
            )
            if not recorded:  # CJI is not shown unaudited
                return web.json_response({"error": "the access log is unavailable"}, status=503)
            if len(self._viewed) > 10_000:  # only the last minute's matter
                self._viewed = {k: t for k, t in self._viewed.items() if now - t < VIEW_EVERY}
            self._viewed[seen] = now
        response = await handler(request)
        self._cookie(response, sessions.Session(session.user, session.signed_in, now))
        return response

    def install(self, app: web.Application) -> None:
        app.middlewares.append(self.guard)
        app.router.add_get("/login", self.login_page)
        app.router.add_post("/login", self.login)
        app.router.add_post("/logout", self.logout)


def for_settings(settings: Settings, component: str) -> People | None:
    """Sign-in for ``component`` from the settings; None (open, development only) without a
    users file. The settings were checked at start (``services.cli.checks.check_people``)."""
    if settings.users_file is None:
        return None
    secret = (
        settings.session_secret.get_secret_value().encode()
        if settings.session_secret
        else secrets.token_bytes(32)  # development: sessions end with the process
    )
    return People(
        signin=SignIn(users.load(settings.users_file).by_name()),
        secret=secret,
        audit=AccessLog(settings, component),
        secure_cookie=settings.web_certfile is not None,
    )
