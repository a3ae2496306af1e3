"""NIEM Booking and Release documents for tests (#45): our own, written in the shape of the
City of New Orleans' JTMP exchange (not copied), with what a test varies as arguments."""

from __future__ import annotations

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
    agency: str = "",
) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<{root} {namespaces}>
  <ext:MessageOperationCode structures:id="op1">{operation}</ext:MessageOperationCode>
  <j:Booking structures:ref="op1">
    <nc:ActivityDate><nc:DateTime>{booked}</nc:DateTime></nc:ActivityDate>
    {agency}
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


def ori(number: str) -> str:
    """A record's booking agency, named by its ORI."""
    return f"""<j:BookingAgency>
      <nc:OrganizationName>Sheriff</nc:OrganizationName>
      <j:OrganizationAugmentation>
        <j:OrganizationORIIdentification><nc:IdentificationID>{number}</nc:IdentificationID>
        </j:OrganizationORIIdentification>
      </j:OrganizationAugmentation>
    </j:BookingAgency>"""


def scheduled(local: str) -> str:
    """A j:BookingRelease scheduling the release at ``local`` (ISO, with or without offset)."""
    return RELEASE_SCHEDULED.replace("2027-03-04T09:00:00", local)


# XML attacks, each refused without expanding or fetching anything
ATTACKS = {
    "billion-laughs": b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<BookingExchange>&lol3;</BookingExchange>""",
    "external-entity": b"""<?xml version="1.0"?>
<!DOCTYPE b [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<BookingExchange>&secret;</BookingExchange>""",
    "parameter-entity": b"""<?xml version="1.0"?>
<!DOCTYPE b [<!ENTITY % remote SYSTEM "file:///etc/passwd"> %remote;]>
<BookingExchange/>""",
}


def network_attack(port: int) -> bytes:
    """A document whose DTD would be fetched from 127.0.0.1:``port``, and an XInclude."""
    return f"""<?xml version="1.0"?>
<!DOCTYPE b SYSTEM "http://127.0.0.1:{port}/evil.dtd">
<BookingExchange xmlns:xi="http://www.w3.org/2001/XInclude">
  <xi:include href="http://127.0.0.1:{port}/more.xml"/>
</BookingExchange>""".encode()
