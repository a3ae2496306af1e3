"""``ops.access.v1``: who looked at what (#46, CJIS 5.4.1.1): every sign-in, sign-out, look at
a page or API that shows CJI, every refusal, and every change of ACLs or of who may sign in,
with its date and time, component, type, subject and outcome. Kept 400 days (CJIS: a year at
least); sealed like the ledger."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.envelope import Instant


class AccessAction(StrEnum):
    SIGN_IN = "sign_in"
    SIGN_OUT = "sign_out"
    VIEW = "view"  # a page or API showing CJI, at most once a minute per person and address
    REFUSED = "refused"  # a look without a session
    CHANGE = "change"  # ACLs applied; the sign-in set (users, identity provider) taken at a start


class AccessOutcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"


class AccessEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: Literal["access.event"] = "access.event"
    event_id: str = Field(description="unique: a UUID")
    at: Instant
    component: str = Field(description="what was reached: board, ...")
    action: AccessAction
    subject: str = Field(description="who: the name signed in, or the name tried; '-' if none")
    outcome: AccessOutcome
    reason: str | None = Field(default=None, description="why it failed: wrong_credentials, ...")
    resource: str = Field(description="the path asked for, with its query")
    source: str = Field(description="the client's address as the server saw it")
