"""The jails allowed to send bookings over HTTP (#45): each with its facility, the
jurisdictions it publishes for (each with its booking agency's ORI) and the SHA-256 of its
bearer token (the token itself is never stored). Pure apart from
reading the file (``deploy/jails.yaml``; ``RELEASEWATCH_JAILS_FILE``); a bad file stops
the intake with one line per problem, naming the jail and the field.

Make a token's hash with ``releasewatch intake token``: it prints a new token once (give it
to the jail) and the line to put in the file.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.jail_booking import Facility
from schemas.topics import AGENCY_SLUG
from services.core import bearer, registry_files
from services.intake.niem import Jail

DEFAULT_JAILS_FILE = Path(__file__).resolve().parents[2] / "deploy" / "jails.yaml"
ORI = re.compile(r"^[A-Z]{2}[A-Z0-9]{7}$")  # the FBI's 9-character originating agency id


class JailFileError(ValueError):
    """The jails file cannot be used; the message names the jail and the field."""


def slug(value: str) -> str:
    if not AGENCY_SLUG.match(value):
        raise ValueError("lower-case letters, digits and '-'")
    return value


class JailJurisdiction(BaseModel):
    """A jurisdiction the jail publishes for, and the ORI its documents name it by."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="the jurisdiction its bookings are published under")
    ori: str | None = Field(default=None, description="the booking agency's ORI, e.g. LA0360000")

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return slug(value)

    @field_validator("ori")
    @classmethod
    def _ori(cls, value: str | None) -> str | None:
        if value is not None and not ORI.match(value):
            raise ValueError("an ORI: two letters and seven letters or digits, e.g. LA0360000")
        return value


class JailEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    slug: str = Field(description="the jail's id, e.g. orleans-opso")
    name: str = Field(min_length=1, max_length=200)
    facility: Facility
    jurisdictions: tuple[JailJurisdiction, ...] = Field(min_length=1)
    token_sha256: str = Field(description="SHA-256 (hex) of its bearer token")

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        return slug(value)

    @model_validator(mode="after")
    def _several_need_oris(self) -> JailEntry:
        if len(self.jurisdictions) > 1 and any(j.ori is None for j in self.jurisdictions):
            raise ValueError("with several jurisdictions, each needs its ori")
        return self

    def context(self) -> Jail:
        """What the NIEM reader needs of this jail."""
        return Jail(self.facility, tuple((j.id, j.ori) for j in self.jurisdictions))

    @field_validator("token_sha256")
    @classmethod
    def _hash(cls, value: str) -> str:
        if not bearer.HEX64.match(value):
            raise ValueError("64 lower-case hex digits (the SHA-256 of the token, not the token)")
        return value


class Jails(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    jails: tuple[JailEntry, ...] = ()

    @model_validator(mode="after")
    def _each_once(self) -> Jails:
        for field in ("slug", "token_sha256"):
            seen = [getattr(jail, field) for jail in self.jails]
            twice = sorted({value for value in seen if seen.count(value) > 1})
            if twice:
                what = twice if field == "slug" else "a token's hash"
                raise ValueError(f"two jails with the same {field}: {what} (one each)")
        return self

    def by_token(self, token: str) -> JailEntry | None:
        """The jail whose token this is (every entry compared, in constant time)."""
        found = [jail for jail in self.jails if bearer.matches(token, (jail.token_sha256,))]
        return found[0] if found else None


def parse(text: str, source: str = "jails file") -> Jails:
    """The jails in ``text``; an error names each bad jail and field, one per line."""
    return registry_files.parse(text, source, Jails, "jails", JailFileError)


def load(path: Path | None = None) -> Jails:
    """The jails at ``path`` (the shipped sample when None); a missing file is an error."""
    path = path or DEFAULT_JAILS_FILE
    return parse(registry_files.read_text(path, JailFileError), str(path))
