"""One ``j:Booking`` record of a NIEM Booking and Release document read into SPEC 3.1's events,
every problem named by its XPath (#45). Pure; ``services.intake.niem`` reads the document
around it (the table of elements: its docstring and ``docs/intake.md``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from schemas.jail_booking import ChargeLevel, Facility
from services.core.localtime import NonexistentLocalTime, to_utc
from services.intake import subset
from services.intake.subset import NC, STRUCTURES, J

NAMESPACES = {"j": J, "nc": NC}
STATUTE_SECTION = "j:ChargeStatute/j:StatuteCodeSectionIdentification/nc:IdentificationID"
STATUTE_CODE = "j:ChargeStatute/j:StatuteCodeIdentification/nc:IdentificationID"
ORI = (
    "j:BookingAgency/j:OrganizationAugmentation/j:OrganizationORIIdentification/nc:IdentificationID"
)
ROOT_NAME = "BookingExchange"
OPERATIONS = ("add", "update", "delete")
LEVELS = {
    "f": ChargeLevel.FELONY,
    "felony": ChargeLevel.FELONY,
    "m": ChargeLevel.MISDEMEANOR,
    "misdemeanor": ChargeLevel.MISDEMEANOR,
    "i": ChargeLevel.INFRACTION,
    "infraction": ChargeLevel.INFRACTION,
    "citation": ChargeLevel.INFRACTION,
}


@dataclass(frozen=True)
class Jail:
    """Who sent the document (from its credentials): its facility, and the jurisdictions it
    publishes for, each with the ORI of its booking agency (``None``: not given)."""

    facility: Facility
    jurisdictions: tuple[tuple[str, str | None], ...]

    def jurisdiction_of(self, ori: str | None) -> str | None:
        """The jurisdiction a record naming ``ori`` (or none) is published under."""
        if ori is None:
            only = {jurisdiction for jurisdiction, _ in self.jurisdictions}
            return only.pop() if len(only) == 1 else None
        for jurisdiction, known in self.jurisdictions:
            if known is not None and known.upper() == ori.upper():
                return jurisdiction
        return None


@dataclass(frozen=True)
class Problem:
    """One reason the document is refused: where (an XPath with namespace URIs' prefixes
    ``j:``/``nc:``) and what."""

    path: str
    message: str
    forbidden: bool = False  # the jail may not publish this (another agency's record)


def _text(element: Any, path: str) -> str | None:
    found = element.find(path, NAMESPACES)
    if found is None or found.text is None or not found.text.strip():
        return None
    return str(found.text.strip())


def _date_problem(text: str) -> str | None:
    try:
        date.fromisoformat(text)
    except ValueError:
        return f"not a date: {text!r}"
    return None


def _datetime_problem(text: str, timezone: str) -> str | None:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return f"not a date-time: {text!r}"
    try:
        to_utc(value, timezone)
    except NonexistentLocalTime as exc:
        return str(exc)
    return None


PERSON = "j:BookingSubject/nc:RoleOfPerson"
BOOKING_ID = "j:BookingAgencyRecordIdentification/nc:IdentificationID"


class RecordReader:
    """Reads one document's records, gathering events and every problem (each by XPath)."""

    def __init__(
        self, jail: Jail, operations: dict[str | None, str], digest: str, now: datetime
    ) -> None:
        self.jail = jail
        self.operations = operations
        self.digest = digest
        self.now = now.isoformat()
        self.events: list[dict[str, Any]] = []
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str, forbidden: bool = False) -> None:
        self.problems.append(Problem(path, message, forbidden))

    def required(self, element: Any, where: str, path: str, what: str) -> str | None:
        value = _text(element, path)
        if value is None:
            self.problem(f"{where}/{path}", f"required: {what}")
        return value

    def moment(self, element: Any, where: str, path: str, suffix: str = "") -> str | None:
        value = _text(element, path)
        value = value + suffix if value is not None else None
        problem = value and _datetime_problem(value, self.jail.facility.timezone)
        if problem:
            self.problem(f"{where}/{path}", problem)
            return None
        return value

    def jurisdiction(self, booking: Any, where: str) -> str | None:
        ori = _text(booking, ORI)
        found = self.jail.jurisdiction_of(ori)
        if found is None and ori is not None:
            self.problem(
                f"{where}/{ORI}", f"ORI {ori!r} is not this jail's booking agency", forbidden=True
            )
        elif found is None:
            self.problem(
                f"{where}/{ORI}",
                "required: the booking agency's ORI (this jail publishes for several "
                "jurisdictions)",
            )
        return found

    def booking(self, booking: Any, number: int) -> None:
        where = f"/{ROOT_NAME}/j:Booking[{number}]"
        before = len(self.problems)
        self.read(booking, number, where)
        named = {problem.path for problem in self.problems[before:]}
        for path, message in subset.problems(booking, where):  # what the reader did not say
            if path not in named:
                self.problem(path, message)

    def read(self, booking: Any, number: int, where: str) -> None:
        before = len(self.problems)
        reference = booking.get(f"{{{STRUCTURES}}}ref")
        operation = self.operations.get(reference, "add") if reference else "add"
        if operation not in OPERATIONS:
            self.problem(f"{where}/@structures:ref", f"unknown operation {operation!r}")
        jurisdiction = self.jurisdiction(booking, where)
        booking_id = self.required(
            booking, where, BOOKING_ID, "the sheriff's control number (booking_id)"
        )
        events: list[tuple[str, dict[str, Any], str]] = []
        if operation == "add":
            opened = self.opened(booking, where, booking_id)
            if opened is not None:
                events.append(("booking.opened", opened, opened["booked_at"]))
        elif operation == "update":
            charges = self.charges(booking, where)
            if charges:
                events.append(("charges.updated", {"charges": charges}, self.now))
        events += self.release(booking.find("j:BookingRelease", NAMESPACES), where, operation)
        if len(self.problems) > before or booking_id is None or jurisdiction is None:
            return
        ident = f"niem:{self.digest}:{number}"
        self.events += [
            {
                "event_id": f"{ident}:{kind}",
                "type": kind,
                "occurred_at": at,
                "jurisdiction": jurisdiction,
                "booking_id": booking_id,
                "data": data,
            }
            for kind, data, at in events
        ]

    def opened(self, booking: Any, where: str, booking_id: str | None) -> dict[str, Any] | None:
        before = len(self.problems)
        booked_at = self.required(
            booking, where, "nc:ActivityDate/nc:DateTime", "when the person was booked"
        ) and self.moment(booking, where, "nc:ActivityDate/nc:DateTime")
        name = f"{PERSON}/nc:PersonName"
        first = self.required(booking, where, f"{name}/nc:PersonGivenName", "the given name")
        last = self.required(booking, where, f"{name}/nc:PersonSurName", "the surname")
        birth = f"{PERSON}/nc:PersonBirthDate/nc:Date"
        born = self.required(booking, where, birth, "the birth date")
        if born is not None and _date_problem(born):
            self.problem(f"{where}/{birth}", _date_problem(born) or "")
        person_id = _text(booking, f"{PERSON}/nc:PersonStateIdentification/nc:IdentificationID")
        charges = self.charges(booking, where)
        if len(self.problems) > before:
            return None
        return {
            "facility": self.jail.facility.model_dump(),
            "person": {
                "person_id": person_id or f"booking:{booking_id}",
                "first_name": first,
                "last_name": last,
                "date_of_birth": born,
            },
            "booked_at": booked_at,
            "charges": charges,
        }

    def charges(self, booking: Any, where: str) -> list[dict[str, Any]]:
        charges = []
        for number, charge in enumerate(booking.findall("j:Arrest/j:ArrestCharge", NAMESPACES), 1):
            at = f"{where}/j:Arrest/j:ArrestCharge[{number}]"
            statute = _text(charge, STATUTE_SECTION) or _text(charge, STATUTE_CODE)
            level_text = _text(charge, "j:ChargeSeverityText") or _text(
                charge, "j:ChargeCategoryDescriptionText"
            )
            level = LEVELS.get((level_text or "").lower())
            if statute is None:
                self.problem(f"{at}/j:ChargeStatute", "required: the statute charged")
            if level is None:
                self.problem(
                    f"{at}/j:ChargeSeverityText",
                    f"felony, misdemeanor or infraction (F/M/I); got {level_text!r}",
                )
            if statute is None or level is None:
                continue
            charge_id = (
                _text(charge, "j:ChargeIdentification/nc:IdentificationID")
                or _text(charge, "j:ChargeSequenceID")
                or str(number)
            )
            description = _text(charge, "j:ChargeStatute/j:StatuteDescriptionText") or ""
            charges.append(
                {
                    "charge_id": charge_id,
                    "statute": statute,
                    "description": description,
                    "level": level.value,
                }
            )
        return charges

    def release(
        self, release: Any, where: str, operation: str
    ) -> list[tuple[str, dict[str, Any], str]]:
        if operation == "delete":
            return [("release.unscheduled", {"reason": "booking deleted by the jail"}, self.now)]
        if release is None:
            return []
        at = f"{where}/j:BookingRelease"
        scheduled = self.moment(release, at, "nc:ActivityScheduledDate/nc:DateTime")
        day = _text(release, "nc:ActivityScheduledDate/nc:Date")
        if scheduled is None and day is not None:  # a day alone: its first minute, the most notice
            if _date_problem(day):
                self.problem(f"{at}/nc:ActivityScheduledDate/nc:Date", _date_problem(day) or "")
            else:
                scheduled = self.moment(release, at, "nc:ActivityScheduledDate/nc:Date", "T00:00")
        completed = (_text(release, "nc:ActivityCompletedIndicator") or "").lower() == "true"
        reason = _text(release, "nc:ActivityComment/nc:CommentText") or ""
        if completed:
            happened = self.required(
                release, at, "nc:ActivityDate/nc:DateTime", "when the completed release happened"
            ) and self.moment(release, at, "nc:ActivityDate/nc:DateTime")
            if happened is None:
                return []
            data = {"released_at": happened, "release_type": "other"}
            return [("inmate.released", data, happened)]
        if scheduled is not None:
            return [("release.scheduled", {"release_at": scheduled, "basis": "other"}, self.now)]
        if operation == "update":
            why = reason or "the jail cleared the scheduled release date"
            return [("release.unscheduled", {"reason": why[:200]}, self.now)]
        return []
