import json

import pytest

from schemas import generate
from schemas.topics import REGISTRY, agency_notices, by_name


def test_committed_schema_files_are_current() -> None:
    stale = generate.stale_files()
    assert stale == [], f"run `make schemas` and commit: {stale}"


def test_asyncapi_names_every_topic() -> None:
    document = json.loads(generate.render()[generate.ASYNCAPI_FILE])
    assert document["asyncapi"] == "3.1.0"  # the version the official parser recommends
    addresses = {channel["address"] for channel in document["channels"].values()}
    for spec in REGISTRY:
        if spec.name != "notices.dhs-ice.v1":
            assert spec.name in addresses
    assert "notices.{agency}.v1" in addresses
    for message in document["components"]["messages"].values():
        ref = message["payload"]["$ref"].rsplit("/", 1)[1]
        assert ref in document["components"]["schemas"]


def test_every_topic_name_is_unique() -> None:
    names = [spec.name for spec in REGISTRY]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("slug", ["DHS", "dhs ice", "", "subject-copies", "-x"])
def test_agency_slugs_are_checked(slug: str) -> None:
    with pytest.raises(ValueError):
        agency_notices(slug)


def test_topics_are_found_by_name() -> None:
    assert by_name("jail.booking.v1").is_input
    assert by_name("notices.cbp.v1").name == "notices.cbp.v1"
    with pytest.raises(KeyError):
        by_name("nope.v1")


def test_patterns_from_the_registry_match_what_the_readers_follow() -> None:
    import re

    from schemas.topics import (
        DEADLETTER,
        NOTICE_ALERTS,
        SUBJECT_COPIES,
        agency_notices,
        is_agency_topic,
        pattern_of,
    )

    watched = re.compile(pattern_of(NOTICE_ALERTS, DEADLETTER, agencies=True))
    for name in ("notice.alerts.v1", "deadletter.v1", "notices.dhs-ice.v1", "notices.cbp.v1"):
        assert watched.match(name), name
    for name in ("notice.alertsXv1", "jail.booking.v1", "notices..v1", "notices.dhs-ice.v2"):
        assert not watched.match(name), name
    assert is_agency_topic(agency_notices("dhs-ice").name)
    assert not is_agency_topic(SUBJECT_COPIES.name)
    assert not is_agency_topic(NOTICE_ALERTS.name)


def test_each_topic_names_the_event_types_it_carries() -> None:
    from schemas.agency_requests import AGENCY_REQUEST_TYPES
    from schemas.jail_booking import JAIL_EVENT_TYPES
    from schemas.topics import AGENCY_REQUESTS, DEADLINE_TICKS, JAIL_BOOKING, NOTICE_ACKS

    assert JAIL_BOOKING.event_types == tuple(JAIL_EVENT_TYPES)
    assert AGENCY_REQUESTS.event_types == tuple(AGENCY_REQUEST_TYPES)
    assert NOTICE_ACKS.event_types == ("notice.acknowledged",)
    assert DEADLINE_TICKS.event_types == ("deadline.tick",)


@pytest.mark.parametrize(
    ("event_type", "topic"),
    [
        ("booking.opened", "jail.booking.v1"),
        ("inmate.transferred", "jail.booking.v1"),
        ("notice_request.withdrawn", "agency.requests.v1"),
        ("notice.acknowledged", "notice.acks.v1"),
        ("notice.alert", None),  # the services' own output: nobody outside publishes it
        ("deadline.tick", None),
        ("booking.escaped", None),
    ],
)
def test_an_event_type_routes_to_its_input_topic(event_type: str, topic: str | None) -> None:
    from schemas.topics import input_topic_for

    spec = input_topic_for(event_type)
    assert (spec.name if spec else None) == topic
