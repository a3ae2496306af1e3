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
``/health``, ``/ready`` (the producer connected), ``/metrics`` as every service. The jails and
their token hashes: ``services.intake.jails``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from schemas.deadletter import FieldError, RejectReason
from schemas.jail_booking import JAIL_EVENT
from services.core.clock import Clock, SystemClock
from services.intake import jails as jail_registry
from services.intake import niem
from services.intake.jails import Jails
from services.intake.publisher import UNAVAILABLE, Publisher
from services.ops import events
from services.ops.logging import get_logger
from services.ops.metrics import CONTENT_TYPE, Metrics
from services.settings import Settings
from services.streams.codec import RawMessage

log = get_logger(__name__)
SERVICE = "intake"
SOURCE = "intake:/bookings"  # what a dead letter names as where a refused document came from
RETRY_AFTER_SECONDS = 5
# How long a jail's request waits for the broker's acknowledgements before its 503: a JMS's
# HTTP client gives up after 30 s or so, and then cannot tell stored from lost.
PUBLISH_TIMEOUT_SECONDS = 10.0
MAX_DOCUMENT_BYTES = 1024 * 1024  # a booking with many charges is tens of KiB
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


class Intake:
    def __init__(self, settings: Settings, registry: Jails, clock: Clock | None = None) -> None:
        self.registry = registry
        self.clock = clock or SystemClock()
        self.metrics = Metrics(SERVICE)
        self.publisher = Publisher(settings, SERVICE, self.metrics)

    async def bookings(self, request: web.Request) -> web.Response:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        jail = self.registry.by_token(token) if token else None
        if jail is None:
            log.warning(events.INTAKE_REFUSED, status=401, reason="no or an unknown token")
            return problem(401, "Unauthorized", "a jail's bearer token is required")
        body = await read_at_most(request, MAX_DOCUMENT_BYTES)
        if body is None:
            log.warning(events.INTAKE_REFUSED, status=413, jail=jail.slug)
            return problem(413, "Content Too Large", f"at most {MAX_DOCUMENT_BYTES} bytes")
        if request.content_type not in XML_TYPES:
            log.warning(events.INTAKE_REFUSED, status=415, jail=jail.slug)
            return problem(415, "Unsupported Media Type", "send application/xml")
        reading = niem.read(body, jail.context(), self.clock.now())
        errors = refusals(reading)
        if errors:
            await self.publisher.dead_letter(kept(body, jail.slug), errors, self.clock.now())
            status, title = (
                (403, "Forbidden") if reading.forbidden else (422, "Unprocessable Content")
            )
            log.warning(events.INTAKE_REFUSED, status=status, jail=jail.slug, errors=len(errors))
            return problem(
                status,
                title,
                f"{len(errors)} problem(s) in the document; nothing was published",
                errors=[{"pointer": e.path, "detail": e.message} for e in errors],
            )
        try:
            await self.publisher.events(reading.events, PUBLISH_TIMEOUT_SECONDS)
        except UNAVAILABLE as exc:
            log.warning(events.INTAKE_BROKER_UNAVAILABLE, jail=jail.slug, error=type(exc).__name__)
            return problem(503, "Service Unavailable", "the broker did not take the events")
        ids = [event["event_id"] for event in reading.events]
        log.info(events.INTAKE_ACCEPTED, jail=jail.slug, events=len(ids))
        return web.json_response({"accepted": len(ids), "event_ids": ids}, status=202)


def refusals(reading: niem.Reading) -> list[FieldError]:
    """Each problem of the document, and of the events read from it (SPEC 3.1's model)."""
    errors = [
        FieldError(
            path=p.path,
            reason=RejectReason.INCONSISTENT if p.forbidden else RejectReason.SCHEMA,
            message=p.message,
        )
        for p in reading.problems
    ]
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


def kept(body: bytes, jail: str) -> RawMessage:
    """A refused document as a dead letter keeps it: keyed by the jail, its offset from its
    SHA-256 (the same document refused twice is one dead letter's id)."""
    return RawMessage(
        SOURCE, -1, int(hashlib.sha256(body).hexdigest()[:12], 16), jail.encode(), body
    )


def make_app(intake: Intake) -> web.Application:
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": SERVICE})

    async def ready(request: web.Request) -> web.Response:
        ok = intake.publisher.started
        return web.json_response({"ready": ok, "service": SERVICE}, status=200 if ok else 503)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=intake.metrics.render(), headers={"content-type": CONTENT_TYPE})

    app = web.Application(client_max_size=MAX_DOCUMENT_BYTES + 1024)
    app.router.add_post("/bookings", intake.bookings)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics)
    return app


async def serve(settings: Settings, port: int) -> None:
    intake = Intake(settings, jail_registry.load(settings.jails_file))
    runner = web.AppRunner(make_app(intake), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.web_host, port).start()
    try:
        await intake.publisher.start()
        log.info(events.SERVICE_STARTING, web=f"http://{settings.web_host}:{port}")
        await asyncio.Event().wait()
    finally:
        await intake.publisher.stop()
        await runner.cleanup()


def run(settings: Settings, port: int) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings, port))
