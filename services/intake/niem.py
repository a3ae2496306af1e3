"""A NIEM 5.0 / jxdm 7.2 *Booking and Release* document read into the jail events of SPEC 3.1
(#45). Pure: bytes and the sending jail's context in, events or problems out.

What a jail management system sends (the shape of the City of New Orleans' JTMP exchange):
a root ``BookingExchange`` (any namespace: it is the county's own) holding ``j:Booking``
records, each pointing (``structures:ref``) at an operation code (add / update / delete).
Elements are matched by namespace URI and local name, never by prefix; anything not read
below is ignored, so a newer or richer document still reads.

Under each ``j:Booking`` (the full table, for jails' integrators: ``docs/intake.md``; the
part read is checked against ``schemas/niem/``'s XSD, ``services.intake.subset``):
- ``j:BookingAgencyRecordIdentification/nc:IdentificationID``: ``booking_id``;
- ``nc:ActivityDate/nc:DateTime``: ``booking.opened``'s ``booked_at``;
- ``j:BookingSubject/nc:RoleOfPerson``: ``nc:PersonName/nc:PersonGivenName`` and
  ``nc:PersonSurName``, ``nc:PersonBirthDate/nc:Date``,
  ``nc:PersonStateIdentification/nc:IdentificationID``: the person;
- ``j:Arrest/j:ArrestCharge``: ``j:ChargeIdentification``, ``j:ChargeStatute`` (section, else
  code), ``j:ChargeSeverityText`` or ``j:ChargeCategoryDescriptionText`` (F/M/I): charges;
- ``j:BookingRelease``: ``nc:ActivityScheduledDate/nc:DateTime`` is ``release.scheduled`` (a
  ``nc:Date`` alone: its first minute, local, which gives the most notice);
  ``nc:ActivityCompletedIndicator`` true with ``nc:ActivityDate/nc:DateTime`` is
  ``inmate.released``; ``nc:ActivityComment/nc:CommentText`` the reason;
- operation ``delete``, or ``update`` with no scheduled date: ``release.unscheduled``.

The facility (id, name, timezone) is the sending jail's, from its credentials, never from the
document. The jurisdiction is one of the jail's: the one whose ORI the record's
``j:BookingAgency/j:OrganizationAugmentation/j:OrganizationORIIdentification`` names (an ORI
that is not the jail's is *forbidden*: the jail may not publish for another agency), or, when
the record names none, the jail's only one. A date-time without an offset is the facility's
local time (the booking service reads it in the facility's timezone); one that does not exist
there (a DST gap) is refused here already, so the jail hears of it.
Each event's ``event_id`` is derived from the document's bytes and the record, so the same
document sent again gives the same events (duplicates, dropped by the booking service).

Parsing refuses DTDs, entities and network access (lxml: ``resolve_entities=False``,
``no_network=True``, ``load_dtd=False``): nothing is expanded or fetched.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lxml import etree

from services.intake.booking_record import ROOT_NAME, Jail, Problem, RecordReader
from services.intake.subset import STRUCTURES, J

__all__ = ["Jail", "Problem", "Reading", "parser", "read"]


@dataclass(frozen=True)
class Reading:
    events: tuple[dict[str, Any], ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def forbidden(self) -> bool:
        return any(problem.forbidden for problem in self.problems)


def parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def read(document: bytes, jail: Jail, now: datetime) -> Reading:
    """The events a document means for ``jail``, or every problem found in it (``now``: the
    ``occurred_at`` of the events the document does not date)."""
    try:
        root = etree.fromstring(document, parser())
    except etree.XMLSyntaxError as exc:
        return Reading(problems=(Problem("/", f"not well-formed XML: {exc.msg}"),))
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        return Reading(problems=(Problem("/", "a DTD is refused (nothing is expanded)"),))
    if etree.QName(root).localname != ROOT_NAME:
        name = etree.QName(root).localname
        return Reading(problems=(Problem("/", f"root is {name}, expected {ROOT_NAME}"),))
    operations = {
        element.get(f"{{{STRUCTURES}}}id"): (element.text or "").strip().lower()
        for element in root.iter()
        if element.get(f"{{{STRUCTURES}}}id") is not None
    }
    reader = RecordReader(jail, operations, hashlib.sha256(document).hexdigest()[:16], now)
    bookings = root.findall(f"{{{J}}}Booking")
    if not bookings:
        reader.problem(f"/{ROOT_NAME}", "no j:Booking in the document")
    for number, booking in enumerate(bookings, 1):
        reader.booking(booking, number)
    if reader.problems:
        return Reading(problems=tuple(reader.problems))
    return Reading(events=tuple(reader.events))
