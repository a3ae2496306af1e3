"""``notice.audit.seals.v1``: the ledger's seals (#46), one per stretch of one partition of
``notice.audit.v1``, signed with Ed25519 (``services/core/ledger_seal.py`` says what is
hashed and signed)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Digest = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256, hex")]


class LedgerSeal(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: Literal["notice.audit.seal"] = "notice.audit.seal"
    topic: str = Field(description="the ledger topic sealed: notice.audit.v1")
    partition: Annotated[int, Field(ge=0)]
    first_offset: Annotated[int, Field(ge=0)]
    last_offset: Annotated[int, Field(ge=0)]
    count: Annotated[int, Field(ge=1, description="records sealed (offsets skip markers)")]
    previous_head: Digest = Field(description="the chain's head before: the last seal's head")
    head: Digest = Field(description="the chain's head after the last record sealed")
    sealed_at: str = Field(description="RFC 3339, UTC")
    key_id: str = Field(description="the signing key: first 16 hex of SHA-256 of its public key")
    signature: str = Field(description="Ed25519 over the canonical JSON of the fields above")
    entries: list[tuple[int, Digest]] = Field(
        default=[], description="each record's offset and content hash, to name a changed one"
    )
