"""The compatibility guard: every message's schema now against the released baseline, and
the rules themselves on small schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from schemas.compatibility import problems
from schemas.topics import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "schemas" / "baseline"


def is_input(model_name: str) -> bool:
    return any(
        spec.is_input and any(m.__name__ == model_name for m in spec.messages) for spec in REGISTRY
    )


MODELS = sorted({m for spec in REGISTRY for m in spec.messages}, key=lambda m: m.__name__)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_no_published_message_breaks_its_consumers_or_producers(model: Any) -> None:
    baseline = BASELINE / f"{model.__name__}.json"
    # A message new since the release is compared with nothing: nothing it can break.
    old = json.loads(baseline.read_text()) if baseline.exists() else {}
    new = model.model_json_schema(mode="validation")
    assert problems(old, new, is_input=is_input(model.__name__)) == []


def test_every_released_message_is_still_published() -> None:
    names = {m.__name__ for m in MODELS}
    gone = sorted(p.stem for p in BASELINE.glob("*.json") if p.stem not in names)
    assert gone == [], "a message left the contract: publish it on a new topic version instead"


def schema(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required)}


S, INT, N = {"type": "string"}, {"type": "integer"}, {"type": "null"}
OPTIONAL_S = {"anyOf": [S, N]}


@pytest.mark.parametrize(
    ("old", "new", "inp", "expected"),
    [
        (schema({"a": S}), schema({"a": S, "b": S}), True, []),  # optional addition
        (schema({"a": S}), schema({"a": S, "b": S}, ("b",)), False, []),  # required output
        (
            schema({"a": S}),
            schema({"a": S, "b": S}, ("b",)),
            True,
            ["b: new required field on an input (producers do not send it)"],
        ),
        (schema({"a": S, "b": S}), schema({"a": S}), False, ["b: field removed (or renamed)"]),
        (schema({"a": S}), schema({"c": S}), True, ["a: field removed (or renamed)"]),
        (
            schema({"a": OPTIONAL_S}),
            schema({"a": S}),
            False,
            ["a: type narrowed (null no longer accepted)"],
        ),
        (schema({"a": S}), schema({"a": OPTIONAL_S}), True, []),  # widened for producers
        (
            schema({"a": S}),
            schema({"a": INT}),
            False,
            ["a: type narrowed (string no longer accepted)"],
        ),
        (
            schema({"k": {"enum": ["x", "y"]}}),
            schema({"k": {"enum": ["x"]}}),
            True,
            ["k: enum changed (['x', 'y'] -> ['x'])"],
        ),
        (
            schema({"k": {"const": "v1"}}),
            schema({"k": {"const": "v2"}}),
            False,
            ["k: enum changed (['v1'] -> ['v2'])"],
        ),
        (
            schema({"d": schema({"x": S, "y": S})}),
            schema({"d": schema({"x": S})}),
            False,
            ["d.y: field removed (or renamed)"],
        ),
        (
            schema({"l": {"type": "array", "items": schema({"x": S})}}),
            schema({"l": {"type": "array", "items": schema({})}}),
            False,
            ["l[].x: field removed (or renamed)"],
        ),
    ],
)
def test_the_rules(old: dict, new: dict, inp: bool, expected: list[str]) -> None:
    assert problems(old, new, is_input=inp) == expected


def test_a_message_never_published_breaks_nothing() -> None:
    assert problems({}, schema({"a": S}, ("a",)), is_input=True) == []


def test_references_are_followed() -> None:
    old = {"$defs": {"D": schema({"x": S})}, **schema({"d": {"$ref": "#/$defs/D"}})}
    new = {"$defs": {"D": schema({})}, **schema({"d": {"$ref": "#/$defs/D"}})}
    assert problems(old, new, is_input=False) == ["d.x: field removed (or renamed)"]


def test_deleting_a_field_of_a_real_model_is_caught() -> None:
    from schemas.notices import Notice

    old = json.loads((BASELINE / "Notice.json").read_text())
    new = Notice.model_json_schema(mode="validation")
    del new["$defs"]["NoticeData"]["properties"]["release_at_local"]
    assert problems(old, new, is_input=False) == [
        "data.release_at_local: field removed (or renamed)"
    ]
