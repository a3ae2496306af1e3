"""The webhook channel's HTTP (#44): one POST per attempt, signed the Standard Webhooks way.

The body is the notice exactly as it is on ``notices.<agency>.v1`` (JSON), with an
``acknowledge`` object when acknowledgements over HTTP are on. ``webhook-id`` is
the notice message's ``event_id``, the same on every retry of it. An answer is whatever the
endpoint said (its status) or why it said nothing (timeout, refused connection, TLS, an
address the rules refuse); ``services.notification.delivery`` decides what it means.
Redirects are never followed (a 3xx is a failed attempt); TLS is verified against the
system's CAs and ``RELEASEWATCH_DELIVERY_CAFILE``. Secrets are never logged.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from schemas.notices import Notice
from services.core.agencies import Agency, Registry
from services.core.clock import Clock
from services.delivery import signing
from services.delivery.endpoints import GuardedResolver, is_ip_literal, refusal
from services.delivery.rate import Bucket, turn
from services.ops import events
from services.ops.logging import get_logger

USER_AGENT = "releasewatch-webhooks/1"
log = get_logger(__name__)


@dataclass(frozen=True)
class Reply:
    """What one POST got: the endpoint's status, or why there was none."""

    status: int | None
    error: str | None
    latency_ms: float


class WebhookSender:
    """One HTTP session per agency with a webhook (its own address rule and rate)."""

    def __init__(
        self,
        registry: Registry,
        secrets: Mapping[str, tuple[str, ...]],
        clock: Clock,
        cafile: Path | None = None,
        ack_link: Callable[[Notice], dict[str, str] | None] | None = None,
    ) -> None:
        self.registry = registry
        self.ack_link = ack_link
        self.secrets = dict(secrets)
        self.clock = clock
        self.context = ssl.create_default_context()
        if cafile is not None:
            self.context.load_verify_locations(cafile=str(cafile))
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._buckets: dict[str, Bucket] = {}

    def _session(self, agency: Agency) -> aiohttp.ClientSession:
        session = self._sessions.get(agency.slug)
        if session is None:
            assert agency.webhook is not None
            resolver = GuardedResolver(agency.webhook.allow_private_addresses)
            connector = aiohttp.TCPConnector(ssl=self.context, resolver=resolver, limit=16)
            session = aiohttp.ClientSession(connector=connector, headers={"user-agent": USER_AGENT})
            self._sessions[agency.slug] = session
            self._buckets[agency.slug] = Bucket(agency.webhook.rate_per_minute)
        return session

    async def send(self, message: Notice, attempt: int) -> Reply:
        """One attempt to deliver ``message`` to its agency's webhook."""
        data = message.data
        agency = self.registry.get(data.agency)
        started = time.perf_counter()
        status, error = None, None
        if agency is None or agency.webhook is None:
            error = "no webhook in the registry any more"
        else:
            session = self._session(agency)
            await turn(self._buckets[agency.slug])
            started = time.perf_counter()
            status, error = await self._post(session, agency, message)
        reply = Reply(status, error, (time.perf_counter() - started) * 1000)
        log.info(
            events.WEBHOOK_ATTEMPTED,
            notice_id=data.notice_id,
            agency=data.agency,
            endpoint=agency.webhook.host if agency and agency.webhook else None,
            attempt=attempt,
            status=status,
            error=error,
            latency_ms=round(reply.latency_ms, 1),
        )
        return reply

    async def _post(
        self, session: aiohttp.ClientSession, agency: Agency, message: Notice
    ) -> tuple[int | None, str | None]:
        webhook = agency.webhook
        assert webhook is not None
        host = urlsplit(webhook.url).hostname or ""
        if is_ip_literal(host):  # no resolver is asked for a literal address
            why = refusal(host.strip("[]"), allow_private=webhook.allow_private_addresses)
            if why:
                return None, f"address refused: {why}"
        body = self.body(message)
        headers = signing.headers(
            self.secrets[agency.slug],
            message.event_id,
            int(self.clock.now().timestamp()),
            body,
        )
        headers["content-type"] = "application/json"
        try:
            async with session.post(
                webhook.url,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=webhook.timeout_seconds),
            ) as response:
                await response.read()
                return response.status, None
        except TimeoutError:
            return None, f"timeout: no answer in {webhook.timeout_seconds:g} s"
        except aiohttp.ClientConnectorCertificateError as exc:
            return None, f"TLS: {exc.certificate_error}"
        except aiohttp.ClientSSLError as exc:
            return None, f"TLS: {exc}"
        except aiohttp.ClientConnectorError as exc:
            return None, f"connection: {exc.os_error}"
        except (aiohttp.ClientError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}"

    def body(self, message: Notice) -> bytes:
        """The notice as it is on Kafka, and how to acknowledge it over HTTP when that is on
        (``acknowledge``: url, method, authorization header, expires_at)."""
        link = self.ack_link(message) if self.ack_link else None
        if link is None:
            return message.model_dump_json().encode()
        return json.dumps({**message.model_dump(mode="json"), "acknowledge": link}).encode()

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()
