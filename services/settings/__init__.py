"""Configuration through ``RELEASEWATCH_*`` environment variables (SPEC 6)."""

from __future__ import annotations

import ssl
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.settings.urls import bootstrap_servers, broker_url_problem


class BrokerFlavor(StrEnum):
    """Which broker we talk to. ``tansu`` switches on the embedded broker's workarounds."""

    APACHE = "apache"
    TANSU = "tansu"


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class SaslMechanism(StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


class Store(StrEnum):
    """Where a worker keeps its tables: RocksDB on local disk, backed by the changelog (a
    restart replays only the tail), or memory (rebuilt from the changelog at every start)."""

    ROCKSDB = "rocksdb"
    MEMORY = "memory"


class ProcessingGuarantee(StrEnum):
    AT_LEAST_ONCE = "at_least_once"
    EXACTLY_ONCE = "exactly_once"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RELEASEWATCH_", extra="ignore")

    broker_url: str | None = Field(
        default=None,
        description="kafka://host:port[;host:port]. When unset, an embedded broker is started.",
    )
    broker_flavor: BrokerFlavor = Field(
        default=BrokerFlavor.APACHE,
        description="apache for Apache Kafka; tansu for the embedded broker (set automatically "
        "when releasewatch starts it).",
    )
    embedded_broker: Literal["kafka", "tansu"] = Field(
        default="kafka",
        description="the broker started when no broker URL is given: kafka (Apache Kafka, "
        "needs Java 17+ and Maven; Tansu with a warning where they are missing) or tansu",
    )
    embedded_broker_port: int = Field(
        default=0, ge=0, le=65535, description="port of the embedded broker; 0 picks a free one"
    )
    partitions: int = Field(default=8, ge=1, le=1024, description="partitions of every topic")
    replication_factor: int | None = Field(
        default=None,
        ge=1,
        le=7,
        description="of the topics releasewatch creates; unset: 3 on a cluster of 3+ brokers "
        "(as `releasewatch broker --nodes 3`), else 1",
    )
    log_format: Literal["json", "console"] = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    data_dir: Path = Path(".releasewatch")
    store: Store = Field(
        default=Store.ROCKSDB,
        description="rocksdb: tables on local disk under the data dir, one directory per "
        "worker, a restart replays only the changelog's tail; memory: quick tests",
    )
    store_cache_mb: int = Field(
        default=128,
        ge=8,
        le=65536,
        description="RocksDB memory of each table, MiB: its block cache and write buffers, "
        "shared out over the table's partitions",
    )
    web_host: str = Field(default="127.0.0.1", description="interface the web servers bind")
    web_port_base: int = Field(default=6066, ge=1024, le=65000)
    policy_file: Path | None = None
    # Agencies beyond Kafka (#44): the registry, their webhooks' TLS, acknowledgements over
    # HTTP (on only with a token secret; links to this worker's own address without a base URL)
    agencies_file: Path | None = None  # deploy/agencies.yaml when unset
    webhook_allow_http: bool = False  # development only: webhooks on plain http://
    delivery_cafile: Path | None = None  # a CA bundle trusted beside the system's
    ack_token_secret: SecretStr | None = Field(default=None, min_length=32)
    ack_base_url: str | None = None  # the public https://host[/prefix] serving /acks
    ack_token_days: float = Field(default=7, gt=0, le=90)
    smtp_url: str | None = None  # the relay: smtp://[user@]host[:port] (STARTTLS), smtps://
    smtp_password: SecretStr | None = None
    smtp_from: str = "releasewatch notices <notices@releasewatch.invalid>"
    # Jail intake over HTTP (#45): the jails allowed to send, with their tokens' hashes
    jails_file: Path | None = None  # deploy/jails.yaml when unset
    # People signing in to the board (#46): argon2 + TOTP users, the sessions' HMAC secret
    users_file: Path | None = None  # unset, and no OIDC: the board is open (development only)
    session_secret: SecretStr | None = Field(default=None, min_length=32)
    # ... or with the county's identity provider (OpenID Connect)
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_redirect_uri: str | None = None  # the board's public .../oidc/callback; unset: asked
    # the ID token's amr values taken as a second factor (comma-separated); unset: RFC 8176's
    # (mfa, otp, hwk, swk, sc, sms, ...); empty: not checked (the provider's policy trusted)
    oidc_mfa_amr: str | None = None
    # Person data sealed (#46): the KEKs in a file (``releasewatch keys rotate --file``) and/or
    # in an HSM or KMS (a PKCS#11 URI, RFC 7512); neither: persons in clear (development only)
    kek_file: Path | None = None
    kek_pkcs11: SecretStr | None = None  # may carry the token's PIN (pin-value): never printed
    jail_retention_days: int | None = Field(default=None, ge=1, le=36500)  # unset: forever
    # The ledger's seals (#46): the sealer's Ed25519 key, PEM (unset in development: one is
    # made under the data dir; production needs it) and how often each partition is sealed
    ledger_signing_key: Path | None = None
    ledger_seal_every: float = Field(default=60.0, gt=0, le=3600, description="s")
    alert_wait_limit: float = Field(
        default=60.0, gt=0, description="notices this far behind their alerts page operators, s"
    )
    deadline_scan_interval: float = Field(
        default=0.2, gt=0, le=5, description="how often the deadline timer looks, s"
    )
    input_watch_interval: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="how often each worker asks the broker for its inputs' high watermarks "
        "(consumer lag metric; a hole at the end of a partition is found from them), s",
    )
    gc_freeze_every: float = Field(
        default=0.0,
        ge=0,
        description="0: off. Else after each full garbage collection freeze the survivors "
        "(full collections otherwise grow with the tables: ~900 ms at 200,000 bookings) and "
        "unfreeze everything this often, s. Off by default: it cut the deadline burst's p99 "
        "at 200,000 armed from 1,049 to 290 ms but raised notice latency at 500 events/s "
        "(p50 73 -> 938 ms, same session)",
    )
    one_record_batches: bool | None = Field(
        default=None,
        description="one record per producer batch; unset: on for the embedded broker only. "
        "Off on the embedded broker, table recovery loses updates: for measurements only.",
    )
    faust_fixes_off: str = Field(
        default="",
        description="fault-suite experiments only: faust fixes to leave out, comma-separated "
        "(services.kafka.client.tuning.FIX_SWITCHES; checked at every start)",
    )
    session_timeout: float = Field(default=8.0, gt=1, description="consumer session timeout, s")
    heartbeat_interval: float = Field(default=1.0, gt=0)
    web_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="one fixed web port for this process (containers); overrides the base",
    )

    # Where this runs (#46, CJIS: encryption in transit). production refuses a plaintext broker
    # listener and plain-HTTP web servers unless each is explicitly allowed.
    environment: Literal["development", "production"] = "development"
    allow_plaintext_broker: bool = False  # production only: e.g. a broker on the same host
    allow_plaintext_http: bool = False  # production only: TLS ends in front (ingress, mesh)
    web_certfile: Path | None = Field(default=None, description="HTTPS for the web servers")
    web_keyfile: Path | None = None

    # Client security (deploy/README.md): passed to faust and to every aiokafka client.
    security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    sasl_mechanism: SaslMechanism = SaslMechanism.SCRAM_SHA_512
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None  # the CA bundle that signed the brokers' certificates
    ssl_certfile: Path | None = Field(default=None, description="client certificate (mTLS)")
    ssl_keyfile: Path | None = Field(default=None, description="client key (mTLS)")
    ssl_key_password: SecretStr | None = None
    ssl_check_hostname: bool = True

    # Delivery on Apache Kafka. The defaults are what the embedded broker supports.
    processing_guarantee: ProcessingGuarantee = Field(
        default=ProcessingGuarantee.AT_LEAST_ONCE,
        description="exactly_once needs transactions: Apache Kafka with 3+ brokers",
    )
    producer_acks: Literal["all", "1"] = Field(
        default="all", description="all: a write counts once every in-sync replica has it"
    )
    producer_idempotence: bool | None = Field(
        default=None,
        description="idempotent producers: the broker drops a producer's retried duplicates. "
        "Unset: on where the broker has them (Apache Kafka) and acks is all, as Kafka's own "
        "producer does since 3.0; true on Tansu or with acks 1 stops the start",
    )
    min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        le=7,
        description="min.insync.replicas of the topics `releasewatch topics create` makes",
    )

    @field_validator("broker_url")
    @classmethod
    def _broker_url(cls, value: str | None) -> str | None:
        """``kafka://host:port[;host:port...]``, checked before anything connects."""
        if value is None or not value.strip():
            return None
        problem = broker_url_problem(value.strip())
        if problem:
            raise ValueError(f"{value!r}: {problem}; give kafka://host:port[;host:port]")
        return value.strip()

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        sasl = self.security_protocol in (
            SecurityProtocol.SASL_PLAINTEXT,
            SecurityProtocol.SASL_SSL,
        )
        if sasl and not (self.sasl_username and self.sasl_password):
            raise ValueError(
                f"RELEASEWATCH_SECURITY_PROTOCOL={self.security_protocol.value} needs "
                "RELEASEWATCH_SASL_USERNAME and RELEASEWATCH_SASL_PASSWORD"
            )
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ValueError("RELEASEWATCH_SSL_CERTFILE and RELEASEWATCH_SSL_KEYFILE go together")
        if bool(self.web_certfile) != bool(self.web_keyfile):
            raise ValueError("RELEASEWATCH_WEB_CERTFILE and RELEASEWATCH_WEB_KEYFILE go together")
        if self.environment == "production":
            self._production()
        if (
            self.processing_guarantee is ProcessingGuarantee.EXACTLY_ONCE
            and self.producer_acks != "all"
        ):
            raise ValueError("exactly_once needs RELEASEWATCH_PRODUCER_ACKS=all")
        if self.producer_idempotence is True and self.producer_acks != "all":
            raise ValueError(
                "RELEASEWATCH_PRODUCER_IDEMPOTENCE=true needs RELEASEWATCH_PRODUCER_ACKS=all"
            )
        if (
            self.min_insync_replicas
            and self.replication_factor
            and self.min_insync_replicas > self.replication_factor
        ):
            raise ValueError(
                "RELEASEWATCH_MIN_INSYNC_REPLICAS cannot exceed RELEASEWATCH_REPLICATION_FACTOR"
            )
        return self

    def _production(self) -> None:
        """What production refuses (CJIS: CJI encrypted in transit), each naming its setting."""
        plaintext = (SecurityProtocol.PLAINTEXT, SecurityProtocol.SASL_PLAINTEXT)
        if self.security_protocol in plaintext and not self.allow_plaintext_broker:
            raise ValueError(
                "RELEASEWATCH_ENVIRONMENT=production refuses RELEASEWATCH_SECURITY_PROTOCOL="
                f"{self.security_protocol.value} (a plaintext broker listener): use SASL_SSL or "
                "SSL, or set RELEASEWATCH_ALLOW_PLAINTEXT_BROKER=true"
            )
        if self.webhook_allow_http:
            raise ValueError(
                "RELEASEWATCH_ENVIRONMENT=production refuses RELEASEWATCH_WEBHOOK_ALLOW_HTTP=true "
                "(notices over plain http:// or SMTP without TLS)"
            )

    def plaintext_http_problem(self) -> str | None:
        """For a process serving HTTP: what production refuses about it, or None."""
        if self.environment != "production" or self.web_certfile or self.allow_plaintext_http:
            return None
        return (
            "RELEASEWATCH_ENVIRONMENT=production refuses plain HTTP: set RELEASEWATCH_WEB_CERTFILE "
            "and RELEASEWATCH_WEB_KEYFILE, or RELEASEWATCH_ALLOW_PLAINTEXT_HTTP=true where TLS "
            "ends in front of the service (an ingress, a service mesh)"
        )

    def web_ssl_context(self) -> ssl.SSLContext | None:
        """The web servers' TLS (HTTPS) when a certificate is set; None: plain HTTP."""
        if self.web_certfile is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.web_certfile), str(self.web_keyfile))
        return context

    @property
    def bootstrap_servers(self) -> str:
        """``host:port,host:port`` for aiokafka, from the faust-style URL."""
        if not self.broker_url:
            raise ValueError("no broker URL: start the embedded broker first")
        return bootstrap_servers(self.broker_url)


def load() -> Settings:
    return Settings()
