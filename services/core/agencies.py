"""The agency registry: each agency a jail may be asked to notify, declared once (#44).

The file is YAML (``deploy/agencies.yaml``; ``RELEASEWATCH_AGENCIES_FILE``), validated at
start-up like the policy file: a bad file stops the service with one line naming the agency
and the field (``releasewatch agency check FILE`` prints the same lines). Every agency has
its Kafka topic (``notices.<slug>.v1``); an agency with a ``webhook`` is also sent each notice
by HTTPS POST, signed the Standard Webhooks way. Secrets are never in the file: ``secrets``
names where they are (``env:NAME`` or ``file:PATH``), read once at start.

An agency not in the registry still gets its Kafka topic, as before the registry existed.
Pure apart from reading the file and the secrets it references.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.topics import AGENCY_SLUG, RESERVED_AGENCY_SLUGS
from services.core import bearer, registry_files

DEFAULT_AGENCIES_FILE = Path(__file__).resolve().parents[2] / "deploy" / "agencies.yaml"
SECRET_PREFIX = "whsec_"
SECRET_REFERENCE = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$")
EMAIL = re.compile(r"^[^@\s<>,;]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


class AgencyFileError(ValueError):
    """The registry file cannot be used; the message names the agency and the field."""


class Retrying(BaseModel):
    """How a channel retries: each attempt's timeout, and the schedule's end: the earlier of
    ``max_retry_hours`` after the first attempt and ``give_up_hours_before_release`` before
    the release (jail staff are told then, while there is time to call the agency)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = Field(
        default=10, description="an attempt with no answer after this long is a failed attempt"
    )
    max_retry_hours: Annotated[float, Field(gt=0, le=72)] = Field(
        default=24, description="no attempt later than this after the first"
    )
    give_up_hours_before_release: Annotated[float, Field(ge=0, le=47)] = Field(
        default=24,
        description="no attempt later than this before the release: jail staff are told "
        "while there is time to call the agency",
    )
    rate_per_minute: Annotated[int, Field(ge=1, le=60_000)] = Field(
        default=600, description="attempts per minute to this agency, at most (each worker)"
    )


class Email(Retrying):
    """Notices mailed (plain text and HTML) through the installation's SMTP relay
    (``RELEASEWATCH_SMTP_*``) to ``to``."""

    to: tuple[str, ...] = Field(min_length=1, max_length=10, description="the recipients")

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            if not EMAIL.match(address):
                raise ValueError(f"{address!r} is not an email address")
        return value

    @property
    def endpoint(self) -> str:
        """The recipients' domains (never the addresses) for the ledger."""
        return ",".join(sorted({address.rsplit("@", 1)[1].lower() for address in self.to}))


class Webhook(Retrying):
    """Notices POSTed as JSON to ``url``, signed with every secret ``secrets`` names (two
    during a rotation)."""

    url: str = Field(description="https://host[:port]/path the notices are POSTed to")
    secrets: str = Field(
        description="where the whsec_ secrets are: env:NAME or file:PATH (one or two, "
        "space-separated: every one signs, so the receiver may hold either during a rotation)"
    )
    allow_private_addresses: bool = Field(
        default=False,
        description="allow an endpoint on a loopback or private address (an on-premises "
        "receiver); refused otherwise, whatever the name resolves to",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an https:// URL with a host")
        if parts.username or parts.password:
            raise ValueError("must not carry credentials (use secrets)")
        return value

    @field_validator("secrets")
    @classmethod
    def _reference(cls, value: str) -> str:
        if not SECRET_REFERENCE.match(value):
            raise ValueError("must be env:NAME or file:PATH (never the secret itself)")
        return value

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def insecure(self) -> bool:
        return urlsplit(self.url).scheme == "http"

    @property
    def endpoint(self) -> str:
        return self.host


class Agency(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    slug: str = Field(description="the agency's id in topics and requests, e.g. dhs-ice")
    name: str = Field(min_length=1, max_length=200, description="the agency's name for people")
    contact: str = Field(
        default="", max_length=200, description="who jail staff call when delivery fails"
    )
    webhook: Webhook | None = None
    email: Email | None = None
    # Filing notice requests over HTTP (#45): the SHA-256 of each bearer token allowed to file
    # for this agency (one per field office, or two during a rotation); never the token.
    request_tokens_sha256: tuple[str, ...] = ()

    def channels(self) -> dict[str, Webhook | Email]:
        """The channels beyond Kafka, by name (``schemas.audit.DeliveryChannel``)."""
        found: dict[str, Webhook | Email] = {}
        if self.webhook:
            found["webhook"] = self.webhook
        if self.email:
            found["email"] = self.email
        return found

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not AGENCY_SLUG.match(value) or value in RESERVED_AGENCY_SLUGS:
            raise ValueError("lower-case letters, digits and '-', at most 63 characters")
        return value

    @field_validator("request_tokens_sha256")
    @classmethod
    def _hashes(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        if not all(bearer.HEX64.match(value) for value in values):
            raise ValueError("64 lower-case hex digits each (a token's SHA-256, not the token)")
        return values


class Registry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    agencies: tuple[Agency, ...] = ()

    @field_validator("agencies")
    @classmethod
    def _unique(cls, agencies: tuple[Agency, ...]) -> tuple[Agency, ...]:
        seen: set[str] = set()
        for agency in agencies:
            if agency.slug in seen:
                raise ValueError(f"agency {agency.slug!r} is declared twice")
            seen.add(agency.slug)
        return agencies

    def get(self, slug: str) -> Agency | None:
        return next((a for a in self.agencies if a.slug == slug), None)

    def by_request_token(self, token: str) -> Agency | None:
        """The agency this notice-request token files for; None for an unknown one."""
        found = [a for a in self.agencies if bearer.matches(token, a.request_tokens_sha256)]
        return found[0] if found else None

    @property
    def slugs(self) -> tuple[str, ...]:
        return tuple(agency.slug for agency in self.agencies)

    def problems(self, *, allow_http: bool = False) -> list[str]:
        """What the file's shape allows but a deployment must not do: plain http without the
        development setting."""
        return [
            f"agencies[{agency.slug}].webhook.url: http:// is refused outside development "
            "(RELEASEWATCH_WEBHOOK_ALLOW_HTTP=true)"
            for agency in self.agencies
            if agency.webhook and agency.webhook.insecure and not allow_http
        ]


def parse(text: str, source: str = "agencies file") -> Registry:
    """The registry in ``text``; an error names each bad agency and field, one per line."""
    return registry_files.parse(text, source, Registry, "agencies", AgencyFileError)


def load(path: Path | None = None) -> Registry:
    """The registry at ``path`` (the shipped sample when None); a missing file is an error."""
    path = path or DEFAULT_AGENCIES_FILE
    return parse(registry_files.read_text(path, AgencyFileError), str(path))


def check(
    path: Path | None, *, allow_http: bool, secrets: bool
) -> tuple[Registry | None, list[str]]:
    """The registry at ``path`` and every problem a worker would stop on, one line each
    (with ``secrets``, each webhook's secrets are read too, as a worker reads them)."""
    try:
        registry = load(path)
        if secrets:
            for agency in registry.agencies:
                if agency.webhook:
                    read_secrets(agency)
    except AgencyFileError as exc:
        return None, str(exc).splitlines()
    return registry, registry.problems(allow_http=allow_http)


def read_secrets(agency: Agency, environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """The webhook's secrets, read from where the registry says; a missing or malformed one
    is an error naming the agency and the reference, never the value."""
    assert agency.webhook is not None
    reference = agency.webhook.secrets
    kind, _, where = reference.partition(":")
    if kind == "env":
        text = (environ if environ is not None else dict(os.environ)).get(where)
        if text is None:
            raise AgencyFileError(f"agencies[{agency.slug}].webhook.secrets: {where} is not set")
    else:
        try:
            text = Path(where).read_text()
        except OSError as exc:
            raise AgencyFileError(
                f"agencies[{agency.slug}].webhook.secrets: {where}: {exc.strerror}"
            ) from None
    secrets = tuple(text.split())
    if not 1 <= len(secrets) <= 2:
        raise AgencyFileError(
            f"agencies[{agency.slug}].webhook.secrets: {reference} holds {len(secrets)} "
            "secrets; one, or two during a rotation"
        )
    for secret in secrets:
        if not secret.startswith(SECRET_PREFIX):
            raise AgencyFileError(
                f"agencies[{agency.slug}].webhook.secrets: {reference}: each secret starts "
                f"with {SECRET_PREFIX}"
            )
    return secrets
