"""The part of a ``j:Booking`` record the intake reads, and its XSD (#45): pure.

``project`` copies a record keeping only the elements of ``BOOKING`` (every other element,
and any order the county's schema puts them in, is left behind: forward compatible), in the
order of the XSD's sequences, so ``schemas/niem/booking-subset-jxdm.xsd`` can check what is
read (types, required parts) without refusing what is not. ``problems`` is that check, each
problem named by its XPath in the sent document.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from lxml import etree

J = "http://release.niem.gov/niem/domains/jxdm/7.2/"
NC = "http://release.niem.gov/niem/niem-core/5.0/"
STRUCTURES = "http://release.niem.gov/niem/structures/5.0/"
PREFIXES = {"j": J, "nc": NC, "structures": STRUCTURES}
XSD = Path(__file__).resolve().parents[2] / "schemas" / "niem" / "booking-subset-jxdm.xsd"

Spec = tuple[tuple[str, "Spec"], ...]  # (element, what it holds), in the XSD's order
TEXT: Spec = ()
IDENTIFICATION: Spec = (("nc:IdentificationID", TEXT),)
DATE: Spec = (("nc:DateTime", TEXT), ("nc:Date", TEXT))
PERSON: Spec = (
    ("nc:PersonBirthDate", (("nc:Date", TEXT),)),
    (
        "nc:PersonName",
        (("nc:PersonGivenName", TEXT), ("nc:PersonMiddleName", TEXT), ("nc:PersonSurName", TEXT)),
    ),
    ("nc:PersonStateIdentification", IDENTIFICATION),
)
CHARGE: Spec = (
    ("j:ChargeIdentification", IDENTIFICATION),
    ("j:ChargeSequenceID", TEXT),
    ("j:ChargeSeverityText", TEXT),
    ("j:ChargeCategoryDescriptionText", TEXT),
    (
        "j:ChargeStatute",
        (
            ("j:StatuteCodeIdentification", IDENTIFICATION),
            ("j:StatuteCodeSectionIdentification", IDENTIFICATION),
            ("j:StatuteDescriptionText", TEXT),
        ),
    ),
)
BOOKING: Spec = (
    ("nc:ActivityDate", DATE),
    (
        "j:BookingAgency",
        (
            ("nc:OrganizationName", TEXT),
            ("j:OrganizationAugmentation", (("j:OrganizationORIIdentification", IDENTIFICATION),)),
        ),
    ),
    ("j:BookingAgencyRecordIdentification", IDENTIFICATION),
    ("j:BookingDocumentControlIdentification", IDENTIFICATION),
    ("j:BookingSubject", (("nc:RoleOfPerson", PERSON),)),
    (
        "j:BookingRelease",
        (
            ("nc:ActivityDate", DATE),
            ("nc:ActivityScheduledDate", DATE),
            ("nc:ActivityCompletedIndicator", TEXT),
            ("nc:ActivityComment", (("nc:CommentText", TEXT),)),
        ),
    ),
    ("j:Arrest", (("j:ArrestCharge", CHARGE),)),
)


def clark(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{PREFIXES[prefix]}}}{local}"


@functools.cache
def schema() -> etree.XMLSchema:
    """The subset's XSD (our own file, read once; its imports are beside it)."""
    return etree.XMLSchema(etree.parse(str(XSD)))


def project(booking: Any) -> Any:
    """A copy of a ``j:Booking`` with only the elements read, in the XSD's order."""
    copy = etree.Element(booking.tag, nsmap=PREFIXES)
    reference = booking.get(f"{{{STRUCTURES}}}ref")
    if reference is not None:
        copy.set(f"{{{STRUCTURES}}}ref", reference)
    _fill(copy, booking, compiled(BOOKING))
    return copy


Compiled = dict[str, tuple[int, "Compiled"]]  # tag (Clark notation) -> (its place, its own)


@functools.cache
def compiled(spec: Spec) -> Compiled:
    return {clark(name): (place, compiled(held)) for place, (name, held) in enumerate(spec)}


def _fill(copy: Any, element: Any, spec: Compiled) -> None:
    if not spec:
        copy.text = element.text
        return
    kept = sorted((c for c in element if c.tag in spec), key=lambda c: spec[c.tag][0])
    for child in kept:  # sorted() is stable: repeated elements keep their order
        _fill(etree.SubElement(copy, child.tag), child, spec[child.tag][1])


NAMES = re.compile(r"\{(" + "|".join(map(re.escape, PREFIXES.values())) + r")\}")
BY_URI = {uri: prefix for prefix, uri in PREFIXES.items()}


def problems(booking: Any, where: str) -> list[tuple[str, str]]:
    """(XPath in the document, message) for each way the record's read part breaks the XSD;
    ``where``: the record's own XPath (``/BookingExchange/j:Booking[n]``)."""
    checker = schema()
    if checker.validate(project(booking)):
        return []
    found = []
    for error in checker.error_log:
        path = str(error.path or "")
        path = where + path.removeprefix("/j:Booking")
        message = NAMES.sub(lambda m: BY_URI[m.group(1)] + ":", error.message)
        found.append((path, message))
    return found
