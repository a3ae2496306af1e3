"""The reference page of `make docs` is rendered from the registry and the policy model: every
topic and every policy field is on it, with its retention, role and meaning."""

from __future__ import annotations

from schemas.topics import REGISTRY
from services.cli import reference
from services.core.policy import Policy


def test_every_topic_is_in_the_table_with_what_it_carries() -> None:
    rows = {row[0]: row for row in reference.topics_table()[1:]}
    assert set(rows) == {spec.name for spec in REGISTRY}
    assert rows["notice.audit.v1"][5] == "kept forever"
    assert rows["jail.booking.v1"][3].startswith("input")
    assert "notice_request.withdrawn" in rows["agency.requests.v1"][1]


def test_every_policy_field_is_in_the_reference_with_its_meaning_and_limits() -> None:
    rows = {row[0]: row for row in reference.policy_reference()[1:]}
    assert set(rows) == set(Policy.model_fields)
    assert all(row[4] for row in rows.values())  # a meaning for each
    assert rows["notices"][1] == "all | listed_offenses | none"
    assert rows["window_hours"][2:4] == ["48", ">= 1, <= 720"]


def test_the_page_escapes_and_links_the_contract() -> None:
    page = reference.page()
    assert 'href="contract/index.html"' in page
    assert "&lt;jurisdiction&gt;/&lt;booking_id&gt;" in page
    assert page.count("<table>") == 2
