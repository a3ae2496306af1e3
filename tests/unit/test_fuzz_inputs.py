"""Fuzzing the edges: random bytes and mutated valid messages into every input decoder and
then the handling rules of the service that reads that topic. Never an unhandled exception:
either a refusal with reasons (what the service dead-letters) or an accepted message whose
rules give one of their known outcomes. Bounded example counts, so `make test` stays fast.
"""

from __future__ import annotations

import copy
import json
import os
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from services.streams.codec import (
    Decoded,
    Invalid,
    RawMessage,
    dead_letter,
    decode,
    decode_carefully,
)
from tests.unit.every_input import BY_TOPIC, INPUTS, KEY, SAMPLES, Input

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))  # FUZZ_EXAMPLES=5000 for a deep run


def take(spec: Input, value: bytes) -> object:
    """What the service does with one message: refuse it with reasons, or apply its rules."""
    raw = RawMessage(spec.topic, 0, 9, KEY, value)
    result = decode(raw, spec.adapter, spec.types)
    if isinstance(result, Invalid):
        assert result.errors and all(e.message and e.reason for e in result.errors)
        letter = dead_letter(
            raw, result.errors, service="fuzz", now=datetime.now(UTC), hint=result.hint
        )
        assert letter.value is not None and letter.source_offset == 9
        event(f"refused: {result.reason.value}")
        return letter
    assert isinstance(result, Decoded)
    # pydantic-core's one-step JSON path accepts only what the careful path accepts, as it.
    careful = decode_carefully(value, spec.adapter, spec.types)
    assert isinstance(careful, Decoded) and careful.event == result.event, careful
    outcome = spec.handle(result.event)
    event(f"handled: {type(outcome).__name__}")
    return outcome


def test_every_sample_is_accepted_as_it_is() -> None:
    for spec in INPUTS:
        assert SAMPLES[spec.topic], spec.topic
        for document in SAMPLES[spec.topic]:
            raw = RawMessage(spec.topic, 0, 9, KEY, json.dumps(document).encode())
            assert isinstance(decode(raw, spec.adapter, spec.types), Decoded), (
                spec.topic,
                document,
            )


@pytest.mark.parametrize("topic", list(BY_TOPIC))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.binary(max_size=512))
def test_random_bytes_are_refused_with_a_reason(topic: str, value: bytes) -> None:
    take(BY_TOPIC[topic], value)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=40)
    | st.sampled_from(["", "2027-13-45T99:99:99", "9999-12-31T23:59:59Z", "Mars/Olympus"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def _leaves(document: Any) -> list[Any]:
    if isinstance(document, dict):
        return [leaf for value in document.values() for leaf in _leaves(value)]
    if isinstance(document, list):
        return [leaf for value in document for leaf in _leaves(value)]
    return [document]


def paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += paths(value, (*prefix, index))
    return found


def mutate(document: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    mutated = copy.deepcopy(document)
    parent = mutated
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "delete" and isinstance(parent, dict):
        del parent[last]
    elif how == "wrap":
        parent[last] = [parent[last]]
    else:
        parent[last] = value
    return mutated


def is_instant(value: Any) -> bool:
    if not isinstance(value, str) or len(value) < 10 or value[4:5] != "-":
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


# Every string of every sample: field values swapped between fields and messages.
STRINGS = sorted(
    {
        leaf
        for samples in SAMPLES.values()
        for document in samples
        for leaf in _leaves(document)
        if isinstance(leaf, str)
    }
)


def similar(value: Any) -> st.SearchStrategy[Any]:
    """A value of the same kind: what a buggy or hostile producer sends that still parses."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(min_value=-(10**6), max_value=10**6)
    if is_instant(value):
        offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
            lambda minutes: timezone(timedelta(minutes=minutes))
        )
        aware = st.datetimes(
            min_value=datetime(1901, 1, 1), max_value=datetime(9998, 12, 31), timezones=offsets
        ).map(lambda moment: moment.isoformat())
        naive = st.datetimes(min_value=datetime(1901, 1, 1), max_value=datetime(9998, 12, 31)).map(
            lambda moment: moment.isoformat()
        )
        return aware | naive
    if isinstance(value, str):
        return st.sampled_from(STRINGS) | st.text(max_size=12)
    return JSON


@pytest.mark.parametrize("topic", list(BY_TOPIC))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_messages_are_refused_or_handled(topic: str, data: st.DataObject) -> None:
    spec = BY_TOPIC[topic]
    document = data.draw(st.sampled_from(SAMPLES[topic]))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        where = paths(document)
        if not where:
            break
        path = data.draw(st.sampled_from(where))
        # Mostly a value of the same kind (it parses, so the rules see it), else anything.
        how = data.draw(st.sampled_from(["similar"] * 6 + ["replace", "delete", "wrap"]))
        current = document
        for step in path:
            current = current[step]
        value = data.draw(similar(current) if how == "similar" else JSON)
        document = mutate(document, path, how, value)
    take(spec, json.dumps(document).encode())
