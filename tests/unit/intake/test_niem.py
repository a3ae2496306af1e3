"""A NIEM Booking and Release document read into SPEC 3.1's events (#45). The documents are
our own, written in the shape of the City of New Orleans' JTMP exchange (not copied)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.jail_booking import JAIL_EVENT, Facility
from services.intake import niem
from services.intake.niem import Jail
from tests.support.niem import (
    ATTACKS,
    CHARGES,
    RELEASE_SCHEDULED,
    RELEASED,
    document,
    network_attack,
    ori,
)

NOW = datetime(2027, 3, 2, 12, tzinfo=UTC)
FACILITY = Facility(id="opso", name="Orleans Justice Center", timezone="America/Chicago")
JAIL = Jail(FACILITY, (("us-la-orleans", "LA0360000"),))
# a regional jail holding for two parishes: each record must name its booking agency
REGIONAL = Jail(FACILITY, (("us-la-orleans", "LA0360000"), ("us-la-jefferson", "LA0260000")))


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


@pytest.mark.parametrize(
    ("jail", "agency", "jurisdiction"),
    [
        (JAIL, "", "us-la-orleans"),  # one jurisdiction: no ORI needed
        (JAIL, ori("LA0360000"), "us-la-orleans"),
        (JAIL, ori("la0360000"), "us-la-orleans"),  # ORIs compared regardless of case
        (REGIONAL, ori("LA0360000"), "us-la-orleans"),
        (REGIONAL, ori("LA0260000"), "us-la-jefferson"),
    ],
)
def test_the_jurisdiction_is_the_jails_by_the_records_ori(
    jail: Jail, agency: str, jurisdiction: str
) -> None:
    reading = niem.read(document(agency=agency), jail, NOW)
    assert reading.problems == ()
    assert {event["jurisdiction"] for event in reading.events} == {jurisdiction}


def test_another_agencys_ori_is_forbidden_and_several_need_one() -> None:
    foreign = niem.read(document(agency=ori("TX2270000")), JAIL, NOW)
    assert foreign.events == () and foreign.forbidden
    [problem] = foreign.problems
    assert "TX2270000" in problem.message and problem.path.endswith("nc:IdentificationID")
    unnamed = niem.read(document(), REGIONAL, NOW)
    assert unnamed.events == () and not unnamed.forbidden
    assert "required: the booking agency's ORI" in unnamed.problems[0].message


@pytest.mark.parametrize(
    ("local", "refused"),
    [
        ("2027-03-14T02:30:00", True),  # spring forward in Chicago: 02:00-03:00 never happens
        ("2027-03-14T01:59:00", False),
        ("2027-03-14T03:00:00", False),
        ("2027-11-07T01:30:00", False),  # fall back: ambiguous, the earlier instant, accepted
        ("2027-03-14T02:30:00-06:00", False),  # with an offset: an instant, no gap
    ],
)
def test_a_local_time_in_a_dst_gap_is_refused_here(local: str, refused: bool) -> None:
    doc = document(release=RELEASE_SCHEDULED.replace("2027-03-04T09:00:00", local))
    reading = niem.read(doc, JAIL, NOW)
    assert bool(reading.problems) == refused, reading.problems
    if refused:
        assert "does not exist in America/Chicago" in reading.problems[0].message


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


@pytest.mark.parametrize(
    "attack", [*ATTACKS.values(), network_attack(9)], ids=[*ATTACKS, "network"]
)
def test_xml_attacks_are_refused_without_expanding_or_fetching(attack: bytes) -> None:
    reading = niem.read(attack, JAIL, NOW)
    assert reading.events == ()
    [problem] = reading.problems
    assert "DTD" in problem.message or "not well-formed" in problem.message
    assert "root:" not in problem.message  # /etc/passwd's first line never read


def test_the_parser_has_no_network_client_to_fetch_with() -> None:
    """``no_network=True`` is set; beneath it, the libxml2 lxml ships (2.14) has no HTTP or
    FTP client at all. Should an lxml with one arrive, this says so, and the DTD refusal above
    is what still stands between a document and a fetch."""
    from lxml import etree

    assert not {"http", "ftp"} & set(etree.LIBXML_FEATURES)


def test_a_scheduled_day_without_a_time_is_its_first_minute() -> None:
    day = "<j:BookingRelease><nc:ActivityScheduledDate><nc:Date>2027-03-04</nc:Date>"
    [_, scheduled] = events(
        document(release=day + "</nc:ActivityScheduledDate></j:BookingRelease>")
    )
    assert scheduled["data"]["release_at"] == "2027-03-04T00:00"  # local: the most notice


def test_elements_in_another_order_or_unknown_ones_still_read() -> None:
    shuffled = (
        document(release=RELEASE_SCHEDULED)
        .replace(  # release last, unknown ones between
            RELEASE_SCHEDULED.encode(), b"<ext:Cell>B-12</ext:Cell>"
        )
        .replace(
            b"</j:Booking>", RELEASE_SCHEDULED.encode() + b"<ext:Visits>2</ext:Visits></j:Booking>"
        )
    )
    assert [e["data"] for e in events(shuffled)] == [e["data"] for e in events(document())]


@pytest.mark.parametrize(
    ("part", "value", "says"),
    [
        ("<nc:ActivityCompletedIndicator>yes</nc:ActivityCompletedIndicator>", "", "xs:boolean"),
        (
            "<nc:ActivityScheduledDate><nc:Date>4/3/2027</nc:Date></nc:ActivityScheduledDate>",
            "",
            "not a date: '4/3/2027'",  # the reader's words where it has its own
        ),
        ("<nc:ActivityComment><nc:Other/></nc:ActivityComment>", "", "nc:CommentText"),
    ],
)
def test_the_part_read_is_checked_against_the_xsd(part: str, value: str, says: str) -> None:
    reading = niem.read(document(release=f"<j:BookingRelease>{part}</j:BookingRelease>"), JAIL, NOW)
    assert reading.events == ()
    [problem] = reading.problems
    assert problem.path.startswith("/BookingExchange/j:Booking[1]/j:BookingRelease/nc:Activity")
    assert says in problem.message and "{http" not in problem.message, problem


def test_the_xsd_accepts_every_element_the_reader_knows_in_any_order() -> None:
    from lxml import etree

    from services.intake import subset

    def full(spec: subset.Spec, reverse: bool) -> str:
        parts = []
        for name, held in reversed(spec) if reverse else spec:
            if name == "nc:Date" and ("nc:DateTime", ()) in spec:
                continue  # a choice: one or the other
            inner = full(held, reverse) if held else TEXTS.get(name, "x")
            parts.append(f"<{name}>{inner}</{name}>")
        return "".join(parts)

    for reverse in (False, True):
        record = f'<j:Booking xmlns:j="{subset.J}" xmlns:nc="{subset.NC}">'
        record += full(subset.BOOKING, reverse) + "</j:Booking>"
        booking = etree.fromstring(record)
        assert subset.problems(booking, "/B") == []
        assert len(subset.project(booking).xpath(".//*")) == record.count("</") - 1


TEXTS = {
    "nc:DateTime": "2027-03-01T22:14:00",
    "nc:Date": "1990-05-17",
    "nc:ActivityCompletedIndicator": "false",
}
