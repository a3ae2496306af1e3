"""The sealer's Ed25519 signing key and the public keys a verifier trusts (PEM files).

The signing key is the sealer's alone (a Kubernetes secret in production, a file under the
data dir made on first use in development); an auditor keeps the public keys, one per key
ever used, so seals made before a rotation still verify.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from services.core.ledger_seal import key_id
from services.settings import Settings

SETTING = "RELEASEWATCH_LEDGER_SIGNING_KEY"
DEVELOPMENT_KEY = Path("ledger") / "signing-key.pem"


class KeyProblem(ValueError):
    """A key that cannot be used; the message names the file and the setting."""


def signing_key_path(settings: Settings) -> Path:
    if settings.ledger_signing_key is not None:
        return settings.ledger_signing_key
    if settings.environment == "production":
        raise KeyProblem(
            f"RELEASEWATCH_ENVIRONMENT=production needs {SETTING}: the sealer's Ed25519 key, "
            "PEM (make one with `releasewatch ledger key --out FILE`)"
        )
    return settings.data_dir / DEVELOPMENT_KEY


def write_new(path: Path) -> Ed25519PrivateKey:
    """A new key at ``path``, readable by its owner only; an existing file is kept."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(pem)
    return key


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyProblem(f"{SETTING}={path}: not a readable PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyProblem(f"{SETTING}={path}: an Ed25519 key is needed, not {type(key).__name__}")
    return key


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def load_public_keys(paths: Iterable[Path]) -> dict[str, Ed25519PublicKey]:
    """Each file's public key by key id: a public PEM, or a private one (its public half)."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        try:
            data = path.read_bytes()
            loaded = (
                load_pem_private_key(data, password=None).public_key()
                if b"PRIVATE KEY" in data
                else load_pem_public_key(data)
            )
        except (OSError, ValueError, TypeError) as exc:
            raise KeyProblem(f"{path}: not a readable PEM key ({exc})") from None
        if not isinstance(loaded, Ed25519PublicKey):
            raise KeyProblem(f"{path}: an Ed25519 key is needed, not {type(loaded).__name__}")
        keys[key_id(loaded)] = loaded
    return keys
