"""Where the key-encryption keys come from (#46): a key file (``RELEASEWATCH_KEK_FILE``), an
HSM or KMS over PKCS#11 (``RELEASEWATCH_KEK_PKCS11``), or both while a site moves from the file
to the device: new data keys are then wrapped on the device, and the file's KEKs still unwrap
what they wrapped (nothing is re-sealed)."""

from __future__ import annotations

from dataclasses import dataclass

from services.core import kek_file
from services.core.field_crypto import KeyEncryptionKeys, LocalKeks
from services.keys.pkcs11 import Pkcs11Error, Pkcs11Keks, parse_uri
from services.settings import Settings

# What a KEK setting that cannot be used raises (the message names the setting).
KeksError = (kek_file.KekFileError, Pkcs11Error)
SETTINGS = f"{kek_file.SETTING} or RELEASEWATCH_KEK_PKCS11"


@dataclass(frozen=True)
class Chained:
    """The device's KEKs, and a file's kept to unwrap what they wrapped before the move."""

    device: KeyEncryptionKeys
    earlier: LocalKeks

    @property
    def current_id(self) -> str:
        return self.device.current_id

    def wrap(self, key: bytes, aad: bytes) -> tuple[str, bytes, bytes]:
        return self.device.wrap(key, aad)

    def unwrap(self, kek_id: str, nonce: bytes, wrapped: bytes, aad: bytes) -> bytes:
        if kek_id in self.earlier.keys:
            return self.earlier.unwrap(kek_id, nonce, wrapped, aad)
        return self.device.unwrap(kek_id, nonce, wrapped, aad)


def keks_of(settings: Settings) -> KeyEncryptionKeys | None:
    """The KEKs the settings name (``KeksError`` when they cannot be used); None: neither is
    set, and persons stay in clear."""
    earlier = kek_file.load(settings.kek_file) if settings.kek_file is not None else None
    if settings.kek_pkcs11 is None:
        return earlier
    device = device_of(settings)
    return Chained(device, earlier) if earlier is not None else device


def device_of(settings: Settings, require_current: bool = True) -> Pkcs11Keks:
    """The PKCS#11 token of ``RELEASEWATCH_KEK_PKCS11`` (set)."""
    assert settings.kek_pkcs11 is not None
    return Pkcs11Keks(parse_uri(settings.kek_pkcs11.get_secret_value()), require_current)
