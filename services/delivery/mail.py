"""The email channel's SMTP (#44): one message per attempt through the installation's relay
(``RELEASEWATCH_SMTP_URL``: ``smtp://`` with STARTTLS, required; ``smtps://`` implicit TLS;
``smtp+plain://`` only for development), with its login when one is set. The answer is the
relay's reply code (250: accepted; 4xx: try again; 5xx: refused for good) or why there was
none. Passwords and recipients' addresses are never logged.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiosmtplib

from schemas.notices import Notice
from services.core.agencies import Registry
from services.delivery.mail_render import email_of
from services.delivery.rate import Bucket, turn
from services.delivery.webhook import Reply
from services.ops import events
from services.ops.logging import get_logger

log = get_logger(__name__)
SCHEMES = {"smtp": "starttls", "smtps": "tls", "smtp+plain": "none"}


@dataclass(frozen=True)
class Relay:
    host: str
    port: int
    security: str  # starttls | tls | none
    username: str | None
    password: str | None
    sender: str

    @classmethod
    def parse(cls, url: str, password: str | None, sender: str) -> Relay:
        """``smtp://[user@]host[:port]``; an unknown scheme or no host raises ValueError."""
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise ValueError(f"{url!r}: give smtp://, smtps:// or smtp+plain://[user@]host[:port]")
        security = SCHEMES[parts.scheme]
        port = parts.port or {"starttls": 587, "tls": 465, "none": 25}[security]
        user = unquote(parts.username) if parts.username else None
        return cls(parts.hostname, port, security, user, password, sender)


class MailSender:
    def __init__(
        self,
        registry: Registry,
        relay: Relay | None,
        cafile: Path | None = None,
        ack_link: Callable[[Notice], dict[str, str] | None] | None = None,
    ) -> None:
        self.registry = registry
        self.relay = relay
        self.context = ssl.create_default_context()
        if cafile is not None:
            self.context.load_verify_locations(cafile=str(cafile))
        self.ack_link = ack_link
        self._buckets: dict[str, Bucket] = {}

    async def send(self, message: Notice, attempt: int) -> Reply:
        data = message.data
        agency = self.registry.get(data.agency)
        started = time.perf_counter()
        status, error = None, None
        if agency is None or agency.email is None:
            error = "no email in the registry any more"
        elif self.relay is None:
            error = "no SMTP relay configured (RELEASEWATCH_SMTP_URL)"
        else:
            await turn(self._buckets.setdefault(agency.slug, Bucket(agency.email.rate_per_minute)))
            started = time.perf_counter()
            link = self.ack_link(message) if self.ack_link else None
            mail = email_of(
                message,
                self.relay.sender,
                agency.email.to,
                link["page"] if link else None,
                link["expires_at"] if link else None,
            )
            status, error = await self._submit(mail, agency.email.timeout_seconds)
        reply = Reply(status, error, (time.perf_counter() - started) * 1000)
        log.info(
            events.EMAIL_ATTEMPTED,
            notice_id=data.notice_id,
            agency=data.agency,
            relay=self.relay.host if self.relay else None,
            attempt=attempt,
            status=status,
            error=error,
            latency_ms=round(reply.latency_ms, 1),
        )
        return reply

    async def _submit(self, mail: object, timeout: float) -> tuple[int | None, str | None]:
        relay = self.relay
        assert relay is not None
        try:
            _, said = await aiosmtplib.send(
                mail,  # type: ignore[arg-type]
                hostname=relay.host,
                port=relay.port,
                username=relay.username,
                password=relay.password,
                use_tls=relay.security == "tls",
                start_tls=relay.security == "starttls",
                tls_context=self.context,
                timeout=timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            return max(codes, default=550), f"recipients refused: {len(codes)}"
        except aiosmtplib.SMTPResponseException as exc:
            return exc.code, exc.message[:200]
        except aiosmtplib.SMTPTimeoutError:
            return None, f"timeout: no answer in {timeout:g} s"
        except (aiosmtplib.SMTPException, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:200]
        return int(said.split()[0]) if said[:3].isdigit() else 250, None
