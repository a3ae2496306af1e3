"""Notice requests filed over HTTP by an agency's office without Kafka (#45): a JSON body read
into SPEC 3.2's ``notice_request.received`` / ``notice_request.withdrawn``. Pure.

The agency is the one its credentials name; a body naming another is forbidden. The event id
is derived from the agency, the request id and the request's content, so the same request sent
again is a duplicate, and a corrected one (new notice hours, a new phone number) is a new
event for the same request.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.agency_requests import AGENCY_REQUEST, AgencySlug, Contact, RequestId
from schemas.envelope import BookingId, Jurisdiction


class Filed(BaseModel):
    """``POST /requests``: the I-247A's request, for one booking."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: RequestId = Field(description="the agency's own id of the request")
    jurisdiction: Jurisdiction
    booking_id: BookingId
    agency: AgencySlug | None = Field(default=None, description="if given, the credentials'")
    form: Annotated[str, Field(min_length=1, max_length=64)] = "I-247A"
    notice_hours: Annotated[int, Field(ge=1, le=24 * 30)] | None = None
    contact: Contact = Field(default_factory=Contact)


class Withdrawn(BaseModel):
    """``POST /requests/{request_id}/withdraw``: the detainer lifted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    jurisdiction: Jurisdiction
    booking_id: BookingId
    reason: Annotated[str, Field(max_length=500)] = ""


@dataclass(frozen=True)
class Problem:
    pointer: str  # RFC 6901, into the body
    message: str
    forbidden: bool = False


@dataclass(frozen=True)
class Reading:
    event: dict[str, Any] | None = None
    problems: tuple[Problem, ...] = ()

    @property
    def forbidden(self) -> bool:
        return any(problem.forbidden for problem in self.problems)


def filed(body: bytes, agency: str, now: datetime) -> Reading:
    """The ``notice_request.received`` a body means for ``agency``, or its problems."""
    parsed = _parse(body, Filed)
    if isinstance(parsed, Reading):
        return parsed
    assert isinstance(parsed, Filed)
    if parsed.agency is not None and parsed.agency != agency:
        message = f"these credentials file for {agency!r}, not {parsed.agency!r}"
        return Reading(problems=(Problem("/agency", message, forbidden=True),))
    data = parsed.model_dump(exclude={"jurisdiction", "booking_id"}, exclude_none=True)
    data["agency"] = agency
    return _event("notice_request.received", parsed.request_id, agency, parsed, data, now)


def withdrawn(body: bytes, request_id: str, agency: str, now: datetime) -> Reading:
    """The ``notice_request.withdrawn`` of ``agency``'s request ``request_id``."""
    parsed = _parse(body, Withdrawn)
    if isinstance(parsed, Reading):
        return parsed
    assert isinstance(parsed, Withdrawn)
    data = {"request_id": request_id, "reason": parsed.reason}
    return _event("notice_request.withdrawn", request_id, agency, parsed, data, now)


def _parse(body: bytes, model: type[Filed] | type[Withdrawn]) -> Reading | Filed | Withdrawn:
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        return Reading(problems=(Problem("", f"not JSON: {exc}"),))
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        return Reading(problems=tuple(_problem(error) for error in exc.errors()))


def _problem(error: Any) -> Problem:
    pointer = "".join(f"/{part}" for part in error["loc"])
    return Problem(pointer, error["msg"].removeprefix("Value error, "))


def _event(
    kind: str,
    request_id: str,
    agency: str,
    parsed: Filed | Withdrawn,
    data: dict[str, Any],
    now: datetime,
) -> Reading:
    content = json.dumps(parsed.model_dump(mode="json"), sort_keys=True).encode()
    fingerprint = hashlib.sha256(content).hexdigest()[:12]
    event = {
        "event_id": f"http:{agency}:{request_id}:{kind.rsplit('.', 1)[1]}:{fingerprint}"[:200],
        "type": kind,
        "occurred_at": now.isoformat(),
        "jurisdiction": parsed.jurisdiction,
        "booking_id": parsed.booking_id,
        "data": data,
    }
    try:
        AGENCY_REQUEST.validate_python(event)
    except ValidationError as exc:  # our own slip: named, never published
        return Reading(problems=tuple(_problem(error) for error in exc.errors()))
    return Reading(event=event)
