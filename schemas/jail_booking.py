"""``jail.booking.v1``: what jail management systems publish (SPEC 3.1)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, TypeAdapter

from schemas.envelope import Envelope, JailTime, Payload
from schemas.sealed import SealedMessage


def _known_timezone(name: str) -> str:
    if "/" not in name and name != "UTC":
        # ZoneInfo also accepts names such as "EST5EDT"; a jail's facility has an Area/City zone.
        raise ValueError(f"unknown timezone {name!r}: expected an IANA Area/City name")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown timezone {name!r}") from error
    return name


TimezoneName = Annotated[str, AfterValidator(_known_timezone)]
NonEmpty = Annotated[str, Field(min_length=1, max_length=200)]


class ChargeLevel(StrEnum):
    FELONY = "felony"
    MISDEMEANOR = "misdemeanor"
    INFRACTION = "infraction"


class Facility(Payload):
    id: NonEmpty
    name: NonEmpty
    timezone: TimezoneName


class Person(Payload):
    person_id: NonEmpty
    first_name: NonEmpty
    last_name: NonEmpty
    date_of_birth: date


class Charge(Payload):
    charge_id: NonEmpty
    statute: NonEmpty
    description: str = ""
    level: ChargeLevel


class BookingOpenedData(Payload):
    facility: Facility
    # Sealed inline (#46) when releasewatch's intake publishes for a jail without Kafka; a jail
    # publishing itself sends it clear.
    person: Person | SealedMessage
    booked_at: JailTime
    charges: list[Charge] = Field(default_factory=list)


class ChargesUpdatedData(Payload):
    charges: list[Charge]


class SentenceImposedData(Payload):
    starts_on: date
    term_days: Annotated[int, Field(ge=0, le=365 * 200)]
    credit_days: Annotated[int, Field(ge=0, le=365 * 200)] = 0


class ReleaseBasis(StrEnum):
    SENTENCE_COMPLETE = "sentence_complete"
    COURT_ORDER = "court_order"
    BOND_POSTED = "bond_posted"
    OTHER = "other"


class ReleaseScheduledData(Payload):
    release_at: JailTime
    basis: ReleaseBasis


class ReleaseUnscheduledData(Payload):
    reason: NonEmpty


class ReleaseType(StrEnum):
    SENTENCE_COMPLETE = "sentence_complete"
    BOND = "bond"
    COURT_ORDER = "court_order"
    TRANSFER = "transfer"
    OTHER = "other"


class InmateReleasedData(Payload):
    released_at: JailTime
    release_type: ReleaseType
    # True when no jail said so: the person stopped appearing on the jail's roster (#45), and
    # released_at is when the roster was read. Operators confirm such releases with the jail.
    inferred: bool = False


class TransferDestination(Payload):
    agency: NonEmpty
    facility: NonEmpty


class InmateTransferredData(Payload):
    transferred_at: JailTime
    to: TransferDestination


class BookingOpened(Envelope):
    type: Literal["booking.opened"]
    data: BookingOpenedData


class ChargesUpdated(Envelope):
    type: Literal["charges.updated"]
    data: ChargesUpdatedData


class SentenceImposed(Envelope):
    type: Literal["sentence.imposed"]
    data: SentenceImposedData


class ReleaseScheduled(Envelope):
    type: Literal["release.scheduled"]
    data: ReleaseScheduledData


class ReleaseUnscheduled(Envelope):
    type: Literal["release.unscheduled"]
    data: ReleaseUnscheduledData


class InmateReleased(Envelope):
    type: Literal["inmate.released"]
    data: InmateReleasedData


class InmateTransferred(Envelope):
    type: Literal["inmate.transferred"]
    data: InmateTransferredData


JailEvent = Annotated[
    BookingOpened
    | ChargesUpdated
    | SentenceImposed
    | ReleaseScheduled
    | ReleaseUnscheduled
    | InmateReleased
    | InmateTransferred,
    Field(discriminator="type"),
]
JAIL_EVENT = TypeAdapter(JailEvent)
JAIL_EVENT_TYPES = (
    "booking.opened",
    "charges.updated",
    "sentence.imposed",
    "release.scheduled",
    "release.unscheduled",
    "inmate.released",
    "inmate.transferred",
)
