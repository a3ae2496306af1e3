"""The intake service (#45): jails send NIEM Booking and Release documents over HTTP, and
releasewatch publishes SPEC 3.1's events on ``jail.booking.v1`` for them.

``POST /bookings`` (``Content-Type: application/xml``, ``Authorization: Bearer <jail token>``):
- 202 ``{"accepted": n, "event_ids": [...]}`` only once the broker has every event
  (``acks=all``): a jail that got 202 may forget the document. The same document again gives
  the same event ids (the booking service drops the repeats).
- 401 no or an unknown token; 413 over 1 MiB; 415 not XML; 403 a record naming a booking
  agency (ORI) that is not the jail's (kept in ``deadletter.v1`` like a bad document);
- 422 the document cannot be read: an RFC 9457 problem (``application/problem+json``) whose
  ``errors`` name each problem by XPath; the body goes to ``deadletter.v1`` with the reasons;
- 503 with ``Retry-After`` when the broker cannot take the events: nothing was accepted, send
  it again (a partial send is repeated whole; the repeats are duplicates).
``POST /requests`` and ``POST /requests/{request_id}/withdraw`` (``application/json``,
``Authorization: Bearer <agency office token>``): an agency without Kafka files or lifts a
notice request (``services.intake.requests``), answered the same way (202 once stored, 401,
403 for another agency's name, 413 over 64 KiB, 415, 422 with JSON pointers, 503).
``/health``, ``/ready`` (the producer connected), ``/metrics`` as every service. The jails and
their token hashes: ``services.intake.jails``; the agencies' request tokens: the agency
registry (``request_tokens_sha256``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from schemas.deadletter import FieldError, RejectReason
from schemas.jail_booking import JAIL_EVENT
from schemas.topics import AGENCY_REQUESTS, JAIL_BOOKING
from services.core import agencies
from services.core.agencies import Registry
from services.core.clock import Clock, SystemClock
from services.core.field_crypto import KeyServiceUnavailable
from services.intake import jails as jail_registry
from services.intake import niem
from services.intake import requests as agency_requests
from services.intake.jails import Jails
from services.intake.publisher import UNAVAILABLE, Publisher
from services.ops import events
from services.ops.logging import get_logger
from services.ops.metrics import CONTENT_TYPE, Metrics
from services.ops.web import open_site
from services.settings import Settings
from services.streams.codec import RawMessage

log = get_logger(__name__)
SERVICE = "intake"
SOURCE = "intake:/bookings"  # what a dead letter names as where a refused document came from
REQUESTS_SOURCE = "intake:/requests"
RETRY_AFTER_SECONDS = 5
# How long a jail's request waits for the broker's acknowledgements before its 503: a JMS's
# HTTP client gives up after 30 s or so, and then cannot tell stored from lost.
PUBLISH_TIMEOUT_SECONDS = 10.0
MAX_DOCUMENT_BYTES = 1024 * 1024  # a booking with many charges is tens of KiB
MAX_REQUEST_BYTES = 64 * 1024  # a notice request is a few hundred bytes
PROBLEM = "application/problem+json"
XML_TYPES = ("application/xml", "text/xml")


def problem(status: int, title: str, detail: str, **more: Any) -> web.Response:
    """An RFC 9457 problem document."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **more}
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    return web.Response(status=status, text=json.dumps(body), content_type=PROBLEM, headers=headers)


async def read_at_most(request: web.Request, limit: int) -> bytes | None:
    """The body, or None once it is over ``limit`` bytes (read no further)."""
    if (request.content_length or 0) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class Outcome:
    """What one request to the intake comes to: its events, or its problems."""

    events: tuple[dict[str, Any], ...]
    errors: list[FieldError]
    forbidden: bool


class Intake:
    def __init__(
        self,
        settings: Settings,
        registry: Jails,
        agencies: Registry | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.registry = registry
        self.agencies = agencies or Registry()
        self.clock = clock or SystemClock()
        self.metrics = Metrics(SERVICE)
        self.publisher = Publisher(settings, SERVICE, self.metrics)

    async def bookings(self, request: web.Request) -> web.Response:
        jail = self.registry.by_token(bearer_token(request))
        if jail is None:
            return refused(401, "Unauthorized", "a jail's bearer token is required")
        body = await body_of(request, MAX_DOCUMENT_BYTES, XML_TYPES, jail.slug)
        if isinstance(body, web.Response):
            return body
        reading = niem.read(body, jail.context(), self.clock.now())
        outcome = Outcome(reading.events, refusals(reading), reading.forbidden)
        return await self.answer(outcome, body, jail.slug, JAIL_BOOKING.name, SOURCE)

    async def requests(self, request: web.Request) -> web.Response:
        agency = self.agencies.by_request_token(bearer_token(request))
        if agency is None:
            return refused(401, "Unauthorized", "an agency's request token is required")
        body = await body_of(request, MAX_REQUEST_BYTES, ("application/json",), agency.slug)
        if isinstance(body, web.Response):
            return body
        request_id = request.match_info.get("request_id")
        reading = (
            agency_requests.withdrawn(body, request_id, agency.slug, self.clock.now())
            if request_id is not None
            else agency_requests.filed(body, agency.slug, self.clock.now())
        )
        errors = [field_error(p.pointer, p.message, p.forbidden) for p in reading.problems]
        events_read = (reading.event,) if reading.event is not None else ()
        outcome = Outcome(events_read, errors, reading.forbidden)
        return await self.answer(outcome, body, agency.slug, AGENCY_REQUESTS.name, REQUESTS_SOURCE)

    async def answer(
        self, outcome: Outcome, body: bytes, sender: str, topic: str, source: str
    ) -> web.Response:
        """403/422 (the body kept on ``deadletter.v1``), 503, or 202 once stored."""
        if outcome.errors:
            await self.publisher.dead_letter(
                kept(body, sender, source), outcome.errors, self.clock.now()
            )
            status, title = (
                (403, "Forbidden") if outcome.forbidden else (422, "Unprocessable Content")
            )
            log.warning(
                events.INTAKE_REFUSED, status=status, sender=sender, errors=len(outcome.errors)
            )
            return problem(
                status,
                title,
                f"{len(outcome.errors)} problem(s); nothing was published",
                errors=[{"pointer": e.path, "detail": e.message} for e in outcome.errors],
            )
        try:
            await self.publisher.events(outcome.events, PUBLISH_TIMEOUT_SECONDS, topic)
        except UNAVAILABLE as exc:
            log.warning(events.INTAKE_BROKER_UNAVAILABLE, sender=sender, error=type(exc).__name__)
            down = "the key service" if isinstance(exc, KeyServiceUnavailable) else "the broker"
            return problem(503, "Service Unavailable", f"{down} did not take the events")
        ids = [event["event_id"] for event in outcome.events]
        log.info(events.INTAKE_ACCEPTED, sender=sender, topic=topic, events=len(ids))
        return web.json_response({"accepted": len(ids), "event_ids": ids}, status=202)


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("authorization", "")
    return header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""


async def body_of(
    request: web.Request, limit: int, types: tuple[str, ...], sender: str
) -> bytes | web.Response:
    """The body, or the 413 (over ``limit`` bytes) or 415 (not one of ``types``) refusing it."""
    body = await read_at_most(request, limit)
    if body is None:
        return refused(413, "Content Too Large", f"at most {limit} bytes", sender)
    if request.content_type not in types:
        return refused(415, "Unsupported Media Type", f"send {types[0]}", sender)
    return body


def refused(status: int, title: str, detail: str, sender: str | None = None) -> web.Response:
    """A refusal before the body is read (401, 413, 415): logged, answered, nothing kept."""
    log.warning(events.INTAKE_REFUSED, status=status, sender=sender, reason=title)
    return problem(status, title, detail)


def field_error(path: str, message: str, forbidden: bool) -> FieldError:
    """A problem as a dead letter names it: forbidden ones are ``inconsistent``."""
    reason = RejectReason.INCONSISTENT if forbidden else RejectReason.SCHEMA
    return FieldError(path=path, reason=reason, message=message)


def refusals(reading: niem.Reading) -> list[FieldError]:
    """Each problem of the document, and of the events read from it (SPEC 3.1's model)."""
    errors = [field_error(p.path, p.message, p.forbidden) for p in reading.problems]
    for event in reading.events:
        try:
            JAIL_EVENT.validate_python(event)
        except ValidationError as exc:
            errors += [
                FieldError(
                    path=f"event {event['type']}: " + ".".join(map(str, e["loc"])),
                    reason=RejectReason.SCHEMA,
                    message=e["msg"],
                )
                for e in exc.errors()
            ]
    return errors


def kept(body: bytes, sender: str, source: str) -> RawMessage:
    """A refused body as a dead letter keeps it: keyed by its sender (the jail's or agency's
    slug), its offset from its SHA-256 (the same body refused twice is one dead letter's id)."""
    offset = int(hashlib.sha256(body).hexdigest()[:12], 16)
    return RawMessage(source, -1, offset, sender.encode(), body)


def counted(
    intake: Intake, route: str, handler: Callable[[web.Request], Awaitable[web.Response]]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """``handler``, each answer counted by status (``releasewatch_intake_answers_total``)."""

    async def answer(request: web.Request) -> web.Response:
        response = await handler(request)
        intake.metrics.intake_answers.labels(route, str(response.status)).inc()
        return response

    return answer


def make_app(intake: Intake) -> web.Application:
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": SERVICE})

    async def ready(request: web.Request) -> web.Response:
        ok = intake.publisher.started
        return web.json_response({"ready": ok, "service": SERVICE}, status=200 if ok else 503)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=intake.metrics.render(), headers={"content-type": CONTENT_TYPE})

    app = web.Application(client_max_size=MAX_DOCUMENT_BYTES + 1024)
    app.router.add_post("/bookings", counted(intake, "bookings", intake.bookings))
    app.router.add_post("/requests", counted(intake, "requests", intake.requests))
    withdraw = counted(intake, "withdraw", intake.requests)
    app.router.add_post("/requests/{request_id}/withdraw", withdraw)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics)
    return app


async def serve(settings: Settings, port: int) -> None:
    intake = Intake(
        settings, jail_registry.load(settings.jails_file), agencies.load(settings.agencies_file)
    )
    runner = web.AppRunner(make_app(intake), access_log=None)
    await runner.setup()
    address = await open_site(runner, settings.web_host, port, settings.web_ssl_context())
    try:
        await intake.publisher.start()
        log.info(events.SERVICE_STARTING, web=address)
        await asyncio.Event().wait()
    finally:
        await intake.publisher.stop()
        await runner.cleanup()


def run(settings: Settings, port: int) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings, port))
