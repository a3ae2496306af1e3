"""Signing in to a web surface that shows CJI (the board): ``/login`` (name, password, code of
the authenticator app), ``/logout``, and a middleware that lets through only a signed-in
person's requests, each look recorded on ``ops.access.v1`` (at most once a minute per person
and address). ``/health``, ``/ready`` and ``/metrics`` stay open: they carry no CJI."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from aiohttp import web

from schemas.access import AccessAction, AccessOutcome
from services.ops import events
from services.ops.logging import get_logger
from services.people import oidc, sessions, users
from services.people.audit import AccessLog
from services.people.pages import local_path, see_other, sign_in_page
from services.people.signin import Outcome, SignIn
from services.settings import Settings

log = get_logger(__name__)
OPEN = frozenset({"/health", "/ready", "/metrics", "/login", "/logout", "/oidc/callback"})
ATTEMPT_COOKIE = "releasewatch_oidc"  # the sign-in under way at the identity provider
ATTEMPT_FOR = 600.0  # s to come back from the identity provider
VIEW_EVERY = 60.0  # s: one "view" event per person and address in this time
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class People:
    """The sign-in of one web surface: who may, the session secret, the access log."""

    signin: SignIn | None  # the users file's people (None: only the identity provider)
    secret: bytes
    audit: AccessLog
    secure_cookie: bool
    provider: oidc.Provider | None = None
    redirect_uri: str | None = None  # the public callback; None: from the request's host
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

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        next_path = local_path(request.query.get("next", "/"))
        if self.provider is None or ("local" in request.query and self.signin is not None):
            return web.Response(text=sign_in_page(next_path=next_path), content_type="text/html")
        attempt = oidc.Attempt.new(next_path)
        try:
            url = await self.provider.redirect_to(attempt, self._callback(request))
        except oidc.SignInFailed as exc:
            log.error(events.SIGN_IN_REFUSED, user="-", reason=str(exc))
            return web.Response(
                status=503, text=sign_in_page("The identity provider cannot be reached.")
            )
        response = see_other(url)
        value = [attempt.state, attempt.nonce, attempt.verifier, next_path, self.clock()]
        response.set_cookie(
            ATTEMPT_COOKIE,
            sessions.signed(self.secret, value),
            httponly=True,
            samesite="Lax",  # it comes back from the provider's site
            secure=self.secure_cookie,
            path="/oidc/callback",
            max_age=int(ATTEMPT_FOR),
        )
        return response

    def _callback(self, request: web.Request) -> str:
        return self.redirect_uri or f"{request.scheme}://{request.host}/oidc/callback"

    async def callback(self, request: web.Request) -> web.StreamResponse:
        """Back from the identity provider: the attempt this browser started, its code."""
        assert self.provider is not None
        now = self.clock()
        carried = sessions.unsigned(self.secret, request.cookies.get(ATTEMPT_COOKIE))
        name, reason = "-", None
        if not isinstance(carried, list) or len(carried) != 5 or now - carried[4] > ATTEMPT_FOR:
            reason = "no_attempt"
        elif request.query.get("state") != carried[0]:
            reason = "state_mismatch"
        elif "code" not in request.query:
            reason = f"provider_error:{request.query.get('error', '-')}"[:80]
        else:
            attempt = oidc.Attempt(carried[0], carried[1], carried[2], local_path(carried[3]))
            try:
                name = await self.provider.signed_in(
                    attempt, request.query["code"], self._callback(request)
                )
            except oidc.SignInFailed as exc:
                no_factor = isinstance(exc, oidc.NoSecondFactor)
                reason = "no_second_factor" if no_factor else "id_token_refused"
                log.warning(events.SIGN_IN_REFUSED, user="-", reason=str(exc))
        outcome = AccessOutcome.FAILURE if reason else AccessOutcome.SUCCESS
        resource = "/oidc/callback"
        if not await self.audit.record(
            AccessAction.SIGN_IN, name, outcome, resource, self._source(request), reason
        ):
            return web.Response(status=503, text=sign_in_page("Signing in is not possible now."))
        if reason:
            log.warning(events.SIGN_IN_REFUSED, user=name, reason=reason)
            return web.Response(
                status=401,
                text=sign_in_page("The sign-in did not complete: start again."),
                content_type="text/html",
            )
        log.info(events.SIGNED_IN, user=name)
        response = see_other(local_path(carried[3]))  # type: ignore[index]
        response.del_cookie(ATTEMPT_COOKIE, path="/oidc/callback")
        self._cookie(response, sessions.Session(name, now, now))
        return response

    async def login(self, request: web.Request) -> web.StreamResponse:
        if self.signin is None:
            return web.Response(status=404, text="sign in with the identity provider: /login")
        form = await request.post()
        name, next_path = str(form.get("name", "")).strip(), local_path(str(form.get("next", "/")))
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
            return web.Response(status=503, text=sign_in_page("Signing in is not possible now."))
        if not success:
            log.warning(events.SIGN_IN_REFUSED, user=name, reason=outcome.value)
            message, status = (
                ("Too many failed attempts: this name is locked for 10 minutes.", 423)
                if outcome is Outcome.LOCKED
                else ("Name, password or code not accepted.", 401)
            )
            return web.Response(
                status=status, text=sign_in_page(message, next_path), content_type="text/html"
            )
        log.info(events.SIGNED_IN, user=name)
        response = see_other(next_path)
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
        response = see_other("/login")
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
            return see_other(f"/login?next={quote(request.path_qs, safe='')}")
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
        request["user"] = session.user
        response = await handler(request)
        self._cookie(response, sessions.Session(session.user, session.signed_in, now))
        return response

    def install(self, app: web.Application) -> None:
        app.middlewares.append(self.guard)
        app.router.add_get("/login", self.login_page)
        app.router.add_post("/login", self.login)
        app.router.add_post("/logout", self.logout)
        if self.provider is not None:
            app.router.add_get("/oidc/callback", self.callback)


def sign_in_set(settings: Settings) -> str:
    """Who may sign in, as the access log records it at each start: the identity provider,
    the users file's fingerprint (a change of users shows as a new one)."""
    parts = []
    if settings.oidc_issuer:
        parts.append(f"identity provider {settings.oidc_issuer} (client {settings.oidc_client_id})")
    if settings.users_file is not None:
        text = settings.users_file.read_bytes()
        count = len(users.load(settings.users_file).users)
        digest = hashlib.sha256(text).hexdigest()[:16]
        parts.append(f"users file {settings.users_file.name}: {count} users, sha256 {digest}")
    return "sign-in: " + "; ".join(parts)


def second_factors(setting: str | None) -> frozenset[str]:
    """The ``amr`` values taken as a second factor: RFC 8176's (unset), those named, or none
    (empty: the provider's policy is trusted to ask for one, said at start)."""
    if setting is None:
        return oidc.SECOND_FACTORS
    named = frozenset(m.strip() for m in setting.split(",") if m.strip())
    if not named:
        log.warning(events.SECOND_FACTOR_NOT_CHECKED, setting="RELEASEWATCH_OIDC_MFA_AMR")
    return named


def for_settings(settings: Settings, component: str) -> People | None:
    """Sign-in for ``component`` from the settings; None (open, development only) without a
    users file or an identity provider. The settings were checked at start
    (``services.cli.checks.check_people``)."""
    if settings.users_file is None and settings.oidc_issuer is None:
        return None
    secret = (
        settings.session_secret.get_secret_value().encode()
        if settings.session_secret
        else secrets.token_bytes(32)  # development: sessions end with the process
    )
    provider = None
    if settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret:
        provider = oidc.Provider(
            settings.oidc_issuer,
            settings.oidc_client_id,
            settings.oidc_client_secret.get_secret_value(),
            second_factors(settings.oidc_mfa_amr),
        )
    return People(
        signin=SignIn(users.load(settings.users_file).by_name()) if settings.users_file else None,
        secret=secret,
        audit=AccessLog(settings, component),
        secure_cookie=settings.web_certfile is not None,
        provider=provider,
        redirect_uri=settings.oidc_redirect_uri,
    )
