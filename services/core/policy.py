"""Jurisdiction policy (SPEC 4): one entry per jurisdiction, plus a default.

The file is YAML (``deploy/policies.yaml``; ``RELEASEWATCH_POLICY_FILE``). It is validated
at start-up: a bad file stops the service with an error naming the entry and the field.
The decisions made with it live in the services' domain modules; this is the file format.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_POLICY_FILE = Path(__file__).resolve().parents[2] / "deploy" / "policies.yaml"


class NoticeRule(StrEnum):
    ALL = "all"  # notices may be sent for every flagged booking
    LISTED_OFFENSES = "listed_offenses"  # only when a charge's statute is on the list
    NONE = "none"  # never sent to the agency (still written to the ledger)


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    notices: NoticeRule = Field(
        default=NoticeRule.ALL,
        description="all: a notice for every flagged release; listed_offenses: only when a "
        "charge's statute is in listed_statutes; none: never (each request and each withheld "
        "notice is still written to the ledger, naming the rule)",
    )
    listed_statutes: tuple[str, ...] = Field(
        default=(),
        description="the statutes a listed_offenses policy notifies for, as jails write them",
    )
    window_hours: Annotated[int, Field(ge=1, le=24 * 30)] = Field(
        default=48,
        description="the notice window when a request names none: hours before the release",
    )
    release_hour: Annotated[int, Field(ge=0, le=23)] = Field(
        default=9, description="the facility-local hour a sentence's projected release falls on"
    )
    subject_copy: bool = Field(
        default=False, description="a copy of each notice to the person and their attorney"
    )
    # Minutes; fractions allowed (tests and drills use seconds).
    ack_timeout_minutes: Annotated[float, Field(gt=0, le=7 * 24 * 60)] = Field(
        default=60, description="a notice nobody acknowledged is sent again after this many minutes"
    )
    max_resends: Annotated[int, Field(ge=0, le=20)] = Field(
        default=3, description="resends before the notice is escalated to jail operations"
    )
    legal_basis: str = Field(
        default="", description="the law or agreement behind the policy, named in the ledger"
    )
    # Days; fractions allowed (tests and drills use seconds).
    retire_after_days: Annotated[float, Field(gt=0, le=3650)] = Field(
        default=30,
        description="a booking released or transferred, with nothing pending, is retired this "
        "many days after: its records shrink to a stub that still drops late duplicates",
    )
    forget_after_days: Annotated[float, Field(gt=0, le=3650)] = Field(
        default=30,
        description="days a retired booking's stub is kept (late redeliveries and replays come "
        "within hours); after that its records are deleted (changelog tombstones) and an event "
        "for it is one for a never-opened booking",
    )

    @model_validator(mode="after")
    def _statutes_for_listed(self) -> Policy:
        if self.notices is NoticeRule.LISTED_OFFENSES and not self.listed_statutes:
            raise ValueError("notices: listed_offenses needs a non-empty listed_statutes")
        return self

    @property
    def ack_timeout(self) -> timedelta:
        return timedelta(minutes=self.ack_timeout_minutes)

    @property
    def retire_after(self) -> timedelta:
        return timedelta(days=self.retire_after_days)

    @property
    def forget_after(self) -> timedelta:
        return timedelta(days=self.forget_after_days)

    def decide(self, statutes: Iterable[str]) -> Decision:
        """May a notice be sent for a booking charged under ``statutes``? With the rule
        that says so, and its legal basis when it forbids."""
        basis = f" ({self.legal_basis})" if self.legal_basis else ""
        if self.notices is NoticeRule.NONE:
            return Decision(False, f"notices: none{basis}")
        if self.notices is NoticeRule.LISTED_OFFENSES:
            listed = sorted(set(statutes) & set(self.listed_statutes))
            if not listed:
                return Decision(False, f"listed_offenses: no charge under a listed statute{basis}")
            return Decision(True, f"listed_offenses: {', '.join(listed)}")
        return Decision(True, "notices: all")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str


class PolicyBook(BaseModel):
    """All policies: ``default`` plus ``jurisdictions`` overrides (fields not given are the
    default's)."""

    model_config = ConfigDict(frozen=True)

    default: Policy
    jurisdictions: dict[str, Policy] = Field(default_factory=dict)

    def for_jurisdiction(self, jurisdiction: str) -> Policy:
        return self.jurisdictions.get(jurisdiction, self.default)


class PolicyFileError(ValueError):
    pass


def parse(document: object, source: str = "<policy>") -> PolicyBook:
    """Validate a policy document; errors name the entry and the field."""
    if not isinstance(document, dict) or "default" not in document:
        raise PolicyFileError(f"{source}: expected a mapping with a 'default' entry")
    problems: list[str] = []
    try:
        default = Policy.model_validate(document["default"] or {})
    except ValidationError as exc:
        problems += _describe("default", exc)
        default = Policy()
    entries = document.get("jurisdictions") or {}
    if not isinstance(entries, dict):
        raise PolicyFileError(f"{source}: 'jurisdictions' must be a mapping")
    jurisdictions: dict[str, Policy] = {}
    base = default.model_dump()
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            problems.append(f"jurisdictions.{name}: expected a mapping")
            continue
        try:
            jurisdictions[str(name)] = Policy.model_validate({**base, **entry})
        except ValidationError as exc:
            problems += _describe(f"jurisdictions.{name}", exc)
    unknown = set(document) - {"default", "jurisdictions"}
    problems += [f"{key}: unknown top-level entry" for key in sorted(unknown)]
    if problems:
        raise PolicyFileError(f"{source}: invalid policy file:\n  " + "\n  ".join(problems))
    return PolicyBook(default=default, jurisdictions=jurisdictions)


def _describe(entry: str, exc: ValidationError) -> list[str]:
    out = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"])
        out.append(f"{entry}{'.' + field if field else ''}: {error['msg']}")
    return out


def load(path: Path | None) -> PolicyBook:
    target = path or DEFAULT_POLICY_FILE
    try:
        document = yaml.safe_load(target.read_text())
    except OSError as exc:
        raise PolicyFileError(f"cannot read policy file {target}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise PolicyFileError(f"{target}: not valid YAML: {exc}") from exc
    return parse(document, str(target))
