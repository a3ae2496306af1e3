"""``agency.requests.v1``: notice requests filed by agencies (SPEC 3.2)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from schemas.envelope import Envelope, Payload

AgencySlug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
RequestId = Annotated[str, Field(min_length=1, max_length=200)]


class Contact(Payload):
    office: str = ""
    phone: str = ""
    email: str = ""


class NoticeRequestReceivedData(Payload):
    request_id: RequestId
    agency: AgencySlug
    form: Annotated[str, Field(min_length=1, max_length=64)] = "I-247A"
    # When absent, the jurisdiction policy's window_hours (48 by default) applies.
    notice_hours: Annotated[int, Field(ge=1, le=24 * 30)] | None = None
    contact: Contact = Field(default_factory=Contact)


class NoticeRequestWithdrawnData(Payload):
    request_id: RequestId
    reason: str = ""


class NoticeRequestReceived(Envelope):
    type: Literal["notice_request.received"]
    data: NoticeRequestReceivedData


class NoticeRequestWithdrawn(Envelope):
    type: Literal["notice_request.withdrawn"]
    data: NoticeRequestWithdrawnData


AgencyRequest = Annotated[
    NoticeRequestReceived | NoticeRequestWithdrawn, Field(discriminator="type")
]
AGENCY_REQUEST = TypeAdapter(AgencyRequest)
AGENCY_REQUEST_TYPES = ("notice_request.received", "notice_request.withdrawn")
