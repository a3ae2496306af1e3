"""Partition counts that disagree (issue 42): a public input with another count is placed
(said once), any topic a service reads with its tables refuses the start naming both counts."""

from __future__ import annotations

import pytest

from schemas.owned_topics import faust_topics
from schemas.topics import (
    AGENCY_REQUESTS,
    AUDIT,
    BOOKING_STATE,
    DEADLETTER,
    JAIL_BOOKING,
    NOTICE_ACKS,
    NOTICE_ALERTS,
    REGISTRY,
    agency_notices,
)
from services.kafka.admin.partitions import disagreements

EVERYTHING = [*REGISTRY, *faust_topics()]


def counts() -> dict[str, int]:
    """Every topic at 8 partitions (the single-partition ones at 1)."""
    return {spec.name: 1 if getattr(spec, "single_partition", False) else 8 for spec in EVERYTHING}


def test_all_alike_is_fine() -> None:
    assert disagreements(EVERYTHING, counts(), 8) == []


@pytest.mark.parametrize("spec", [JAIL_BOOKING, AGENCY_REQUESTS, NOTICE_ACKS])
def test_a_public_input_with_another_count_is_placed(spec: object) -> None:
    found = {spec.name: 3}  # type: ignore[attr-defined]
    [disagreement] = disagreements(EVERYTHING, {**counts(), **found}, 8)
    assert disagreement.placed
    assert (disagreement.partitions, disagreement.expected) == (3, 8)


@pytest.mark.parametrize("spec", [BOOKING_STATE, NOTICE_ALERTS])
def test_a_topic_read_with_the_tables_refuses_naming_both_counts(spec: object) -> None:
    name = spec.name  # type: ignore[attr-defined]
    [disagreement] = disagreements(EVERYTHING, {**counts(), name: 3}, 8)
    assert not disagreement.placed
    assert disagreement.refusal().startswith(f"topic {name} has 3 partitions, this installation 8")


def test_a_changelog_or_placement_topic_with_another_count_refuses() -> None:
    owned = [topic for topic in faust_topics() if not topic.single_partition]
    for topic in owned:
        [disagreement] = disagreements(EVERYTHING, {**counts(), topic.name: 4}, 8)
        assert not disagreement.placed, topic.name


@pytest.mark.parametrize("name", [AUDIT.name, DEADLETTER.name, agency_notices("dhs-ice").name])
def test_outputs_nobody_reads_with_a_table_may_differ(name: str) -> None:
    assert disagreements(EVERYTHING, {**counts(), name: 1}, 8) == []


def test_a_topic_the_login_may_not_describe_is_not_judged() -> None:
    assert disagreements(EVERYTHING, {**counts(), BOOKING_STATE.name: 0}, 8) == []


def test_the_assignor_topic_has_one_partition() -> None:
    assert disagreements(EVERYTHING, counts(), 8) == []
    assert any(topic.single_partition for topic in faust_topics())
