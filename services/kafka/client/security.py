"""How every Kafka client of releasewatch connects: TLS, SASL, acks and idempotence.

One place turns the ``RELEASEWATCH_*`` settings into keyword arguments for aiokafka clients
and into faust's ``broker_credentials``, so the CLI, the board, the services and the agency
tools all reach a secured cluster the same way.
"""

from __future__ import annotations

import ssl
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import faust

from services.kafka.client.tuning import idempotent_producers, quirks_of
from services.settings import SecurityProtocol, Settings

# What the helpers accept for "a Kafka cluster": a bootstrap string (plaintext, for tests and
# benchmarks on the embedded broker) or the keyword arguments from ``client_options``.
Kafka = str | Mapping[str, Any]


class SecurityConfigError(ValueError):
    """A certificate or key file named in the settings cannot be used."""


def uses_tls(settings: Settings) -> bool:
    return settings.security_protocol in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL)


def uses_sasl(settings: Settings) -> bool:
    return settings.security_protocol in (
        SecurityProtocol.SASL_PLAINTEXT,
        SecurityProtocol.SASL_SSL,
    )


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The client TLS context, or None for a plaintext listener."""
    if not uses_tls(settings):
        return None
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        path: Path | None = getattr(settings, name)
        if path is not None and not path.is_file():
            raise SecurityConfigError(f"RELEASEWATCH_{name.upper()}={path}: no such file")
    try:
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH,
            cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None,
        )
        context.check_hostname = settings.ssl_check_hostname
        if settings.ssl_certfile and settings.ssl_keyfile:
            password = settings.ssl_key_password
            context.load_cert_chain(
                str(settings.ssl_certfile),
                str(settings.ssl_keyfile),
                password=password.get_secret_value() if password else None,
            )
    except ssl.SSLError as exc:
        raise SecurityConfigError(f"cannot load the TLS files: {exc}") from exc
    return context


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client: where the brokers are and how to log in."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol.value,
    }
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if uses_sasl(settings):
        assert settings.sasl_password is not None  # Settings validates this
        options.update(
            sasl_mechanism=settings.sasl_mechanism.value,
            sasl_plain_username=settings.sasl_username,
            sasl_plain_password=settings.sasl_password.get_secret_value(),
        )
    return options


CONSUMER_ONLY = frozenset({"fetch_max_wait_ms"})


def consumer_options(settings: Settings) -> dict[str, Any]:
    """``client_options`` plus what only consumers take (aiokafka producers refuse it)."""
    options = client_options(settings)
    wait = quirks_of(settings).fetch_wait_ms
    if wait:
        options["fetch_max_wait_ms"] = wait
    return options


def producer_options(settings: Settings) -> dict[str, Any]:
    """Delivery settings for aiokafka producers (faust's are set on the app)."""
    return {
        "acks": "all" if settings.producer_acks == "all" else 1,
        "enable_idempotence": idempotent_producers(settings),
    }


def stored_producer_options(settings: Settings) -> dict[str, Any]:
    """A producer whose "sent" means stored: every in-sync replica has it, whatever
    RELEASEWATCH_PRODUCER_ACKS says (the intake's 202, a look recorded before it is shown)."""
    return {**client_options(settings), **producer_options(settings), "acks": "all"}


def as_client(kafka: Kafka, consumer: bool = False) -> dict[str, Any]:
    """Client keyword arguments from either form of ``Kafka``; consumer-only ones (from
    ``consumer_options``) are kept for a consumer and left out for anything else."""
    if isinstance(kafka, str):
        return {"bootstrap_servers": kafka}
    if consumer:
        return dict(kafka)
    return {key: value for key, value in kafka.items() if key not in CONSUMER_ONLY}


def faust_credentials(settings: Settings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """faust's ``broker_credentials`` for the same settings (None: plaintext)."""
    context = ssl_context(settings)
    if uses_sasl(settings):
        assert settings.sasl_password is not None
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password.get_secret_value(),
            mechanism=settings.sasl_mechanism.value,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def _refused_producer_id(exc: BaseException) -> bool:
    """aiokafka failed asking the broker for a producer id (its idempotent producers do first)."""
    return any(frame.name == "_do_init_pid" for frame in traceback.extract_tb(exc.__traceback__))


def _reason(exc: BaseException) -> str:
    """aiokafka's words without its tuples: 'Unable to bootstrap from [(host, port, ...)]'."""
    text = str(exc).split(": ", 1)[-1]
    return "nothing listens there" if text.startswith("Unable to bootstrap") else text


def explain_failure(exc: BaseException, settings: Settings) -> str:
    """What an operator should check when a client could not start, in words."""
    from aiokafka.errors import (
        GroupAuthorizationFailedError,
        KafkaConnectionError,
        TopicAuthorizationFailedError,
    )

    if uses_sasl(settings) and isinstance(exc, KeyError):
        # aiokafka's SCRAM client fails this way when the broker refuses the login.
        return (
            f"{settings.sasl_mechanism.value} login as {settings.sasl_username!r} refused "
            "(unknown user or wrong password)"
        )
    if isinstance(exc, KafkaConnectionError) and settings.security_protocol is not (
        SecurityProtocol.PLAINTEXT
    ):
        refused = _refusal(settings)
        if refused:
            return refused
    if isinstance(exc, TopicAuthorizationFailedError):
        topics = exc.args[0] if exc.args else ""
        return (
            f"not authorized: {_who(settings)} may not use topic(s) {topics} "
            "(what each login may do: `releasewatch acls show`)"
        )
    if isinstance(exc, GroupAuthorizationFailedError):
        return f"not authorized: {_who(settings)} may not join that consumer group"
    if idempotent_producers(settings) and _refused_producer_id(exc):
        # Tansu answers InitProducerId with UnknownError: a broker without idempotent producers.
        return (
            f"the broker refused an idempotent producer (InitProducerId: {type(exc).__name__}). "
            "On Tansu set RELEASEWATCH_BROKER_FLAVOR=tansu (`releasewatch broker` prints the "
            "line to export); elsewhere grant IdempotentWrite or set "
            "RELEASEWATCH_PRODUCER_IDEMPOTENCE=false"
        )
    if isinstance(exc, KafkaConnectionError):
        hint = (
            "RELEASEWATCH_SECURITY_PROTOCOL and RELEASEWATCH_SASL_* if the cluster wants a login"
            if settings.security_protocol is SecurityProtocol.PLAINTEXT
            else "the credentials and TLS settings"
        )
        return (
            f"no broker answered ({_reason(exc)}); is it running? "
            f"Check RELEASEWATCH_BROKER_URL, and {hint}"
        )
    return f"{type(exc).__name__}: {exc}"


def _who(settings: Settings) -> str:
    return f"login {settings.sasl_username!r}" if uses_sasl(settings) else "this client"


def _refusal(settings: Settings) -> str | None:
    """Why a secured connection failed, found by opening one connection to the first
    bootstrap server: a refused login or a certificate that does not verify. None when that
    connection works, or fails for another reason (nothing listens, for one)."""
    import asyncio

    from aiokafka.conn import create_conn
    from aiokafka.errors import SaslAuthenticationFailed

    host, _, port = settings.bootstrap_servers.split(",")[0].rpartition(":")
    options = client_options(settings)
    options.pop("bootstrap_servers")

    async def connect() -> BaseException | None:
        try:
            connection = await create_conn(host, int(port), request_timeout_ms=5000, **options)
        except BaseException as exc:  # what the client met, to be named
            return exc
        connection.close()
        return None

    try:
        asyncio.get_running_loop()
        return None  # inside a running loop: no second one
    except RuntimeError:
        pass
    found = asyncio.run(connect())
    if isinstance(found, SaslAuthenticationFailed):
        return (
            f"{settings.sasl_mechanism.value} login as {settings.sasl_username!r} refused "
            "(unknown user or wrong password)"
        )
    if isinstance(found, ssl.SSLCertVerificationError):
        return (
            f"the broker's certificate was not accepted: {found.verify_message} (check "
            "RELEASEWATCH_SSL_CAFILE, and that the broker's certificate names the host in "
            "RELEASEWATCH_BROKER_URL)"
        )
    tls = next((e for e in _chain(found) if isinstance(e, ssl.SSLError)), None)
    if tls is not None:
        return (
            f"TLS handshake refused: {tls.reason or tls} (does the broker want a client "
            "certificate? RELEASEWATCH_SSL_CERTFILE and RELEASEWATCH_SSL_KEYFILE, signed by a "
            "CA it trusts)"
        )
    return None


def _chain(exc: BaseException | None) -> list[BaseException]:
    found = []
    while exc is not None and exc not in found:
        found.append(exc)
        exc = exc.__cause__ or exc.__context__
    return found
