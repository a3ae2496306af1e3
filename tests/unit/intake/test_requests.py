"""Notice requests filed over HTTP by an agency's office (#45): the body read into SPEC 3.2."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.agency_requests import AGENCY_REQUEST
from services.core import agencies, bearer
from services.intake import requests

NOW = datetime(2027, 3, 2, 12, tzinfo=UTC)
FILED = {
    "request_id": "I247A-2027-000123",
    "jurisdiction": "us-mn-hennepin",
    "booking_id": "2027-000101",
    "notice_hours": 72,
    "contact": {"office": "ERO St. Paul", "phone": "555-0100", "email": "duty@example.gov"},
}


def body(**changes: Any) -> bytes:
    document = {**FILED, **changes}
    return json.dumps({k: v for k, v in document.items() if v is not None}).encode()


def test_a_request_becomes_the_agencys_notice_request() -> None:
    reading = requests.filed(body(), "dhs-ice", NOW)
    assert reading.problems == ()
    event = reading.event
    assert event is not None
    AGENCY_REQUEST.validate_python(event)
    assert event["type"] == "notice_request.received"
    assert (event["jurisdiction"], event["booking_id"]) == ("us-mn-hennepin", "2027-000101")
    assert event["data"] == {
        "request_id": "I247A-2027-000123",
        "agency": "dhs-ice",  # from the credentials
        "form": "I-247A",
        "notice_hours": 72,
        "contact": FILED["contact"],
    }
    assert event["event_id"].startswith("http:dhs-ice:I247A-2027-000123:received:")


def test_the_same_request_again_is_a_duplicate_and_a_corrected_one_is_not() -> None:
    first = requests.filed(body(), "dhs-ice", NOW).event
    again = requests.filed(body(), "dhs-ice", NOW.replace(hour=13)).event
    corrected = requests.filed(body(notice_hours=96), "dhs-ice", NOW).event
    assert first and again and corrected
    assert first["event_id"] == again["event_id"] != corrected["event_id"]
    # key order in the JSON does not matter
    reordered = json.dumps(dict(reversed(list(json.loads(body()).items())))).encode()
    assert requests.filed(reordered, "dhs-ice", NOW).event["event_id"] == first["event_id"]  # type: ignore[index]


def test_naming_another_agency_is_forbidden_and_its_own_name_is_fine() -> None:
    assert requests.filed(body(agency="dhs-ice"), "dhs-ice", NOW).event is not None
    reading = requests.filed(body(agency="usms"), "dhs-ice", NOW)
    assert reading.event is None and reading.forbidden
    assert reading.problems[0].pointer == "/agency"


@pytest.mark.parametrize(
    ("sent", "pointer", "says"),
    [
        (b"{not json", "", "not JSON"),
        (b"\xff\xfe", "", "not JSON"),
        (body(request_id=None), "/request_id", "Field required"),
        (body(jurisdiction="Hennepin County"), "/jurisdiction", "should match pattern"),
        (body(notice_hours=0), "/notice_hours", "greater than or equal to 1"),
        (body(notice_hours=24 * 31), "/notice_hours", "less than or equal to 720"),
        (body(subject_name="A Person"), "/subject_name", "Extra inputs"),
        (json.dumps([FILED]).encode(), "", "valid dictionary"),
    ],
)
def test_each_problem_names_its_json_pointer(sent: bytes, pointer: str, says: str) -> None:
    reading = requests.filed(sent, "dhs-ice", NOW)
    assert reading.event is None and not reading.forbidden
    assert any(p.pointer == pointer and says in p.message for p in reading.problems), reading


def test_a_withdrawal_lifts_the_agencys_request() -> None:
    sent = json.dumps(
        {"jurisdiction": "us-mn-hennepin", "booking_id": "2027-000101", "reason": "lifted"}
    ).encode()
    reading = requests.withdrawn(sent, "I247A-2027-000123", "dhs-ice", NOW)
    assert reading.event is not None
    AGENCY_REQUEST.validate_python(reading.event)
    assert reading.event["type"] == "notice_request.withdrawn"
    assert reading.event["data"] == {"request_id": "I247A-2027-000123", "reason": "lifted"}
    missing = requests.withdrawn(b"{}", "I247A-2027-000123", "dhs-ice", NOW)
    assert {p.pointer for p in missing.problems} == {"/jurisdiction", "/booking_id"}


def test_an_office_token_finds_its_agency_by_hash() -> None:
    token, digest = bearer.new_token(bearer.AGENCY_PREFIX)
    registry = agencies.parse(
        f"agencies:\n  - slug: dhs-ice\n    name: ICE\n    request_tokens_sha256: [{digest}]\n"
        "  - slug: usms\n    name: USMS\n"
    )
    found = registry.by_request_token(token)
    assert found is not None and found.slug == "dhs-ice"
    assert registry.by_request_token("rwa_other") is None
    assert registry.by_request_token("") is None
    with pytest.raises(agencies.AgencyFileError, match="a token's SHA-256, not the token"):
        agencies.parse(
            f"agencies:\n  - slug: x\n    name: X\n    request_tokens_sha256: [{token}]\n"
        )
