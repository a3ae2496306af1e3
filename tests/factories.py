"""Builders for valid events: a test changes only what it is about."""

from __future__ import annotations

import itertools
import json
from typing import Any

from schemas.jail_booking import JAIL_EVENT

_ids = itertools.count(1)

JURISDICTION = "us-mn-hennepin"
FACILITY = {"id": "hcj-1", "name": "Hennepin County Jail", "timezone": "America/Chicago"}
PERSON = {
    "person_id": "p-981",
    "first_name": "Alexandra",
    "last_name": "Quintanilla",
    "date_of_birth": "1990-04-12",
}


def envelope(
    kind: str,
    data: dict[str, Any],
    *,
    booking_id: str = "2027-000123",
    jurisdiction: str = JURISDICTION,
    event_id: str | None = None,
    sequence: int | None = None,
    occurred_at: str = "2027-03-01T09:30:00-06:00",
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "event_id": event_id or f"jms-test:{next(_ids):06d}",
        "type": kind,
        "occurred_at": occurred_at,
        "jurisdiction": jurisdiction,
        "booking_id": booking_id,
        "data": data,
    }
    if sequence is not None:
        document["sequence"] = sequence
    return document


def opened(**kwargs: Any) -> dict[str, Any]:
    data = {
        "facility": dict(FACILITY),
        "person": dict(PERSON),
        "booked_at": "2027-03-01T09:30:00-06:00",
        "charges": [
            {"charge_id": "c1", "statute": "609.52", "description": "Theft", "level": "felony"}
        ],
    }
    data.update(kwargs.pop("data", {}))
    return envelope("booking.opened", data, **kwargs)


def scheduled(release_at: str, basis: str = "sentence_complete", **kwargs: Any) -> dict[str, Any]:
    return envelope("release.scheduled", {"release_at": release_at, "basis": basis}, **kwargs)


def unscheduled(reason: str = "appeal pending", **kwargs: Any) -> dict[str, Any]:
    return envelope("release.unscheduled", {"reason": reason}, **kwargs)


def sentence(starts_on: str, term_days: int, credit_days: int = 0, **kwargs: Any) -> dict[str, Any]:
    data = {"starts_on": starts_on, "term_days": term_days, "credit_days": credit_days}
    return envelope("sentence.imposed", data, **kwargs)


def charges(*statutes: str, **kwargs: Any) -> dict[str, Any]:
    items = [
        {"charge_id": f"c{i}", "statute": s, "level": "misdemeanor"}
        for i, s in enumerate(statutes, 1)
    ]
    return envelope("charges.updated", {"charges": items}, **kwargs)


def released(released_at: str, release_type: str = "sentence_complete", **kwargs: Any) -> dict:
    data = {"released_at": released_at, "release_type": release_type}
    return envelope("inmate.released", data, **kwargs)


def transferred(transferred_at: str, **kwargs: Any) -> dict[str, Any]:
    data = {"transferred_at": transferred_at, "to": {"agency": "usms", "facility": "Sherburne"}}
    return envelope("inmate.transferred", data, **kwargs)


def typed(document: dict[str, Any]) -> Any:
    return JAIL_EVENT.validate_python(document)


def wire(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()
