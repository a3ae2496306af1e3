"""Person data sealed at rest (#46, SPEC 9 "CJIS"): a value sealed with its booking's data key,
and that data key wrapped under a key-encryption key. ``services/core/field_crypto.py`` seals
and opens them; these are their shapes on the wire and in the changelogs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ALGORITHM = "A256GCM"


class SealedValue(BaseModel):
    """A value sealed with AES-256-GCM under its booking's data key ``kid``. It opens only for
    the booking and the field it was sealed for."""

    model_config = ConfigDict(frozen=True)

    sealed: Literal["A256GCM"] = Field(
        default="A256GCM", description="AES-256-GCM (FIPS 197, SP 800-38D)"
    )
    kid: str = Field(description="the booking's data key that sealed it (booking.keys.v1)")
    nonce: str = Field(description="96 bits, base64, fresh for every value")
    ciphertext: str = Field(description="base64: the value's canonical JSON, then the tag")


class WrappedDataKey(BaseModel):
    """A booking's data key as it travels and rests: wrapped (AES-256-GCM) under the
    key-encryption key ``kek_id``, which a key file or a KMS holds."""

    model_config = ConfigDict(frozen=True)

    kid: str = Field(description="the data key's id: dk- and 16 hex")
    kek_id: str = Field(description="the key-encryption key it is wrapped under")
    nonce: str = Field(description="96 bits, base64")
    wrapped: str = Field(description="base64: the 32-byte data key, then the tag")


class SealedMessage(BaseModel):
    """A whole message sealed where releasewatch keeps a copy of what a publisher sent (a
    placed copy, a dead letter's value): AES-256-GCM under a one-off data key wrapped inline
    under a key-encryption key. It opens only for the position it was sealed for (the
    publisher's topic, partition and offset)."""

    model_config = ConfigDict(frozen=True)

    sealed: Literal["A256GCM"] = Field(
        default="A256GCM", description="AES-256-GCM (FIPS 197, SP 800-38D)"
    )
    key: WrappedDataKey = Field(description="the one-off data key that sealed it, wrapped")
    nonce: str = Field(description="96 bits, base64")
    ciphertext: str = Field(description="base64: the message's bytes as sent, then the tag")
