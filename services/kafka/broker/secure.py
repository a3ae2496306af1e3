"""A secured client listener for the embedded Apache Kafka: SCRAM logins, TLS (with client
certificates for mutual TLS) and the broker's ``StandardAuthorizer``, so logins, TLS and ACLs
are proved against a real broker rather than described.

The broker then has two client listeners: the plaintext one it always has (loopback only; the
operator's and the brokers' own, whose principal ``User:ANONYMOUS`` is a super user, as the
controller listener needs) and ``SECURE`` on its own port, which clients of a secured
deployment use. SCRAM users are created when the storage is formatted (``--add-scram``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

LISTENER = "SECURE"
PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL", "SSL")
MECHANISM = "SCRAM-SHA-512"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
# A client certificate's principal is its CN (``User:agency-dhs-ice``), as SCRAM's is the name.
# (Kafka reads the subject in RFC 2253 order: "O=...,CN=agency-dhs-ice".)
PRINCIPAL_FROM_CN = r"RULE:^(.*,)?CN=([^,]+)(,.*)?$/$2/,DEFAULT"
# What --add-scram can carry without quoting.
PLAIN = re.compile(r"^[A-Za-z0-9._@-]+$")


@dataclass(frozen=True)
class SecureListener:
    protocol: str = "SASL_PLAINTEXT"
    users: tuple[tuple[str, str], ...] = ()  # SCRAM-SHA-512 (name, password)
    keystore: Path | None = None  # PKCS#12: the broker's key and certificate chain
    keystore_password: str = ""
    truststore: Path | None = None  # PEM: the CA that signs client certificates
    client_auth: bool = False  # mutual TLS: a client certificate is required
    authorizer: bool = True  # ACLs enforced on every listener but for super users
    super_users: tuple[str, ...] = ("admin",)

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol {self.protocol!r}: one of {', '.join(PROTOCOLS)}")
        for name, password in self.users:
            if not (PLAIN.match(name) and PLAIN.match(password)):
                raise ValueError(f"user {name!r}: letters, digits and ._@- only, in both parts")
        if self.tls and self.keystore is None:
            raise ValueError(f"{self.protocol} needs the broker's keystore")
        if self.client_auth and self.truststore is None:
            raise ValueError("mutual TLS needs the truststore that signs client certificates")

    @property
    def tls(self) -> bool:
        return self.protocol in ("SASL_SSL", "SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    def format_arguments(self) -> list[str]:
        """For ``StorageTool format``: one ``--add-scram`` per user."""
        arguments = []
        for name, password in self.users:
            arguments += ["--add-scram", f"{MECHANISM}=[name={name},password={password}]"]
        return arguments

    def properties(self) -> dict[str, str]:
        """The broker settings for the listener (its address is the broker's to add)."""
        prefix = f"listener.name.{LISTENER.lower()}."
        settings: dict[str, str] = {}
        if self.sasl:
            settings[f"{prefix}sasl.enabled.mechanisms"] = MECHANISM
            settings[f"{prefix}{MECHANISM.lower()}.sasl.jaas.config"] = (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            )
        if self.tls:
            assert self.keystore is not None
            settings[f"{prefix}ssl.keystore.type"] = "PKCS12"
            settings[f"{prefix}ssl.keystore.location"] = str(self.keystore)
            settings[f"{prefix}ssl.keystore.password"] = self.keystore_password
            if self.truststore is not None:
                settings[f"{prefix}ssl.truststore.type"] = "PEM"
                settings[f"{prefix}ssl.truststore.location"] = str(self.truststore)
            if self.client_auth:
                settings[f"{prefix}ssl.client.auth"] = "required"
            settings["ssl.principal.mapping.rules"] = PRINCIPAL_FROM_CN
        if self.authorizer:
            supers = ["User:ANONYMOUS", *(f"User:{name}" for name in self.super_users)]
            settings["authorizer.class.name"] = AUTHORIZER
            settings["super.users"] = ";".join(supers)
        return settings
