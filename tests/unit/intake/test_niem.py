"""A NIEM Booking and Release document read into SPEC 3.1's events (#45). The documents are
our own, written in the shape of the City of New Orleans' JTMP exchange (not copied)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.jail_booking import JAIL_EVENT, Facility
from services.intake import niem
from services.intake.niem import Jail

NOW = datetime(2027, 3, 2, 12, tzinfo=UTC)
JAIL = Jail(
    "us-la-orleans",
    Facility(id="opso", name="Orleans Justice Center", timezone="America/Chicago"),
)
NAMESPACES = (
    'xmlns:nc="http://release.niem.gov/niem/niem-core/5.0/" '
    'xmlns:j="http://release.niem.gov/niem/domains/jxdm/7.2/" '
    'xmlns:structures="http://release.niem.gov/niem/structures/5.0/" '
    'xmlns:ext="http://example.org/county/extension/1.0/" '
    'xmlns:x="http://example.org/county/exchange/1.0/"'
)
RELEASE_SCHEDULED = """
    <j:BookingRelease>
      <nc:ActivityScheduledDate><nc:DateTime>2027-03-04T09:00:00</nc:DateTime></nc:ActivityScheduledDate>
    </j:BookingRelease>"""
RELEASED = """
    <j:BookingRelease>
      <nc:ActivityComment><nc:CommentText>Bond posted</nc:CommentText></nc:ActivityComment>
      <nc:ActivityCompletedIndicator>true</nc:ActivityCompletedIndicator>
      <nc:ActivityDate><nc:DateTime>2027-03-02T16:05:00-06:00</nc:DateTime></nc:ActivityDate>
    </j:BookingRelease>"""
CHARGES = """
    <j:Arrest>
      <j:ArrestCharge>
        <j:ChargeIdentification><nc:IdentificationID>CH-1</nc:IdentificationID></j:ChargeIdentification>
        <j:ChargeSeverityText>F</j:ChargeSeverityText>
        <j:ChargeStatute>
          <j:StatuteCodeSectionIdentification>
            <nc:IdentificationID>RS 14:67</nc:IdentificationID>
          </j:StatuteCodeSectionIdentification>
          <j:StatuteDescriptionText>Theft</j:StatuteDescriptionText>
        </j:ChargeStatute>
        <ext:ChargeAugmentation><ext:JMSChargeNumber>99</ext:JMSChargeNumber></ext:ChargeAugmentation>
      </j:ArrestCharge>
      <j:ArrestCharge>
        <j:ChargeSequenceID>2</j:ChargeSequenceID>
        <j:ChargeCategoryDescriptionText>Misdemeanor</j:ChargeCategoryDescriptionText>
        <j:ChargeStatute>
          <j:StatuteCodeIdentification>
            <nc:IdentificationID>RS 14:35</nc:IdentificationID>
          </j:StatuteCodeIdentification>
        </j:ChargeStatute>
      </j:ArrestCharge>
    </j:Arrest>"""


def document(
    operation: str = "add",
    release: str = RELEASE_SCHEDULED,
    charges: str = CHARGES,
    booking_id: str = "<nc:IdentificationID>SCN-2027-0042</nc:IdentificationID>",
    booked: str = "2027-03-01T22:14:00-06:00",
    root: str = "x:BookingExchange",
    namespaces: str = NAMESPACES,
) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<{root} {namespaces}>
  <ext:MessageOperationCode structures:id="op1">{operation}</ext:MessageOperationCode>
  <j:Booking structures:ref="op1">
    <nc:ActivityDate><nc:DateTime>{booked}</nc:DateTime></nc:ActivityDate>
    <j:BookingAgencyRecordIdentification>{booking_id}</j:BookingAgencyRecordIdentification>
    {release}
    <j:BookingSubject>
      <nc:RoleOfPerson>
        <nc:PersonBirthDate><nc:Date>1990-05-17</nc:Date></nc:PersonBirthDate>
        <nc:PersonEyeColorText>brown</nc:PersonEyeColorText>
        <nc:PersonName>
          <nc:PersonGivenName>Alexandra</nc:PersonGivenName>
          <nc:PersonSurName>Rivera</nc:PersonSurName>
        </nc:PersonName>
        <nc:PersonStateIdentification><nc:IdentificationID>LA-SID-77</nc:IdentificationID></nc:PersonStateIdentification>
      </nc:RoleOfPerson>
    </j:BookingSubject>
    {charges}
  </j:Booking>
</{root.split()[0]}>""".encode()


def events(doc: bytes) -> list[dict]:
    reading = niem.read(doc, JAIL, NOW)
    assert reading.problems == (), reading.problems
    for event in reading.events:
        JAIL_EVENT.validate_python(event)  # each one a valid SPEC 3.1 event
    return list(reading.events)


def test_a_booking_with_a_scheduled_release_opens_and_schedules() -> None:
    opened, scheduled = events(document())
    assert opened["type"] == "booking.opened" and scheduled["type"] == "release.scheduled"
    assert opened["jurisdiction"] == "us-la-orleans" and opened["booking_id"] == "SCN-2027-0042"
    data = opened["data"]
    assert data["facility"] == JAIL.facility.model_dump()  # the jail's, never the document's
    assert data["person"] == {
        "person_id": "LA-SID-77",
        "first_name": "Alexandra",
        "last_name": "Rivera",
        "date_of_birth": "1990-05-17",
    }
    assert data["booked_at"] == "2027-03-01T22:14:00-06:00"
    assert data["charges"] == [
        {"charge_id": "CH-1", "statute": "RS 14:67", "description": "Theft", "level": "felony"},
        {"charge_id": "2", "statute": "RS 14:35", "description": "", "level": "misdemeanor"},
    ]
    # no offset: the facility's local time, read by the booking service in its timezone
    assert scheduled["data"] == {"release_at": "2027-03-04T09:00:00", "basis": "other"}


def test_prefixes_do_not_matter_namespaces_do() -> None:
    renamed = (
        document()
        .replace(b"j:", b"jx:")
        .replace(b"xmlns:j=", b"xmlns:jx=")
        .replace(b"nc:", b"core:")
        .replace(b"xmlns:nc=", b"xmlns:core=")
    )
    assert [e["data"] for e in events(renamed)] == [e["data"] for e in events(document())]
    wrong = document().replace(b"domains/jxdm/7.2/", b"domains/jxdm/6.0/")
    assert niem.read(wrong, JAIL, NOW).problems  # another vocabulary: no j:Booking found


def test_the_same_document_again_gives_the_same_event_ids() -> None:
    first = [e["event_id"] for e in events(document())]
    assert first == [e["event_id"] for e in events(document())]
    other = [e["event_id"] for e in events(document(booked="2027-03-01T22:15:00-06:00"))]
    assert set(first).isdisjoint(other)


def test_a_completed_release_is_a_release_with_its_time() -> None:
    [_, released] = events(document(release=RELEASED))
    assert released["type"] == "inmate.released"
    assert released["data"] == {"released_at": "2027-03-02T16:05:00-06:00", "release_type": "other"}


def test_an_update_sends_charges_and_a_cleared_date_unschedules() -> None:
    charges, unscheduled = events(document(operation="update", release="<j:BookingRelease/>"))
    assert charges["type"] == "charges.updated" and len(charges["data"]["charges"]) == 2
    assert unscheduled["type"] == "release.unscheduled"
    assert "cleared" in unscheduled["data"]["reason"]
    [only] = events(document(operation="update", charges="", release=RELEASE_SCHEDULED))
    assert only["type"] == "release.scheduled"


def test_a_delete_unschedules() -> None:
    [unscheduled] = events(document(operation="delete", charges=""))
    assert unscheduled["type"] == "release.unscheduled"


@pytest.mark.parametrize(
    ("doc", "path", "says"),
    [
        (b"this is not xml", "/", "not well-formed XML"),
        (document(root="x:Roster"), "/", "root is Roster"),
        (document(booking_id=""), "BookingAgencyRecordIdentification", "required"),
        (document(booked="yesterday"), "nc:ActivityDate/nc:DateTime", "not a date-time"),
        (document(operation="merge"), "@structures:ref", "unknown operation"),
        (
            document(
                charges=CHARGES.replace("<j:ChargeSeverityText>F<", "<j:ChargeSeverityText>X<")
            ),
            "j:ArrestCharge[1]/j:ChargeSeverityText",
            "felony, misdemeanor or infraction",
        ),
        (
            document(release=RELEASE_SCHEDULED.replace("2027-03-04T09:00:00", "4 March")),
            "j:BookingRelease/nc:ActivityScheduledDate/nc:DateTime",
            "not a date-time",
        ),
        (
            document(
                release=RELEASED.replace("<nc:ActivityDate>", "<nc:Other>").replace(
                    "</nc:ActivityDate>", "</nc:Other>"
                )
            ),
            "j:BookingRelease/nc:ActivityDate/nc:DateTime",
            "required",
        ),
    ],
)
def test_each_problem_names_where_by_xpath(doc: bytes, path: str, says: str) -> None:
    reading = niem.read(doc, JAIL, NOW)
    assert reading.events == ()
    assert any(path in p.path and says in p.message for p in reading.problems), reading.problems


def test_every_problem_of_a_document_is_named_at_once() -> None:
    doc = document(booked="soon").replace(b"<nc:PersonSurName>Rivera</nc:PersonSurName>", b"")
    paths = {p.path.rsplit("/", 1)[-1] for p in niem.read(doc, JAIL, NOW).problems}
    assert {"nc:DateTime", "nc:PersonSurName"} <= paths


LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<BookingExchange>&lol3;</BookingExchange>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE b [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<BookingExchange>&secret;</BookingExchange>"""
NETWORK = b"""<?xml version="1.0"?>
<!DOCTYPE b SYSTEM "http://127.0.0.1:9/evil.dtd">
<BookingExchange/>"""


@pytest.mark.parametrize("attack", [LAUGHS, EXTERNAL, NETWORK])
def test_xml_attacks_are_refused_without_expanding_or_fetching(attack: bytes) -> None:
    reading = niem.read(attack, JAIL, NOW)
    assert reading.events == ()
    [problem] = reading.problems
    assert "DTD" in problem.message or "not well-formed" in problem.message
    assert "root:" not in problem.message  # /etc/passwd's first line never read
