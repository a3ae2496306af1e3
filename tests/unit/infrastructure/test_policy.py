import pytest

from services.core.policy import NoticeRule, PolicyFileError, load, parse


def test_the_shipped_policies_load_with_realistic_examples() -> None:
    book = load(None)
    assert book.default.notices is NoticeRule.ALL
    assert book.for_jurisdiction("us-ca-los-angeles").notices is NoticeRule.LISTED_OFFENSES
    assert book.for_jurisdiction("us-ca-los-angeles").subject_copy is True
    assert book.for_jurisdiction("us-il-cook").notices is NoticeRule.NONE
    assert book.for_jurisdiction("us-or-multnomah").notices is NoticeRule.NONE
    assert book.for_jurisdiction("nowhere").window_hours == 48


def test_an_entry_inherits_the_default_fields() -> None:
    book = parse(
        {
            "default": {"release_hour": 7, "max_resends": 5},
            "jurisdictions": {"x-1": {"release_hour": 10}},
        }
    )
    assert book.for_jurisdiction("x-1").release_hour == 10
    assert book.for_jurisdiction("x-1").max_resends == 5


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"default": {"notices": "sometimes"}}, "default.notices"),
        (
            {"default": {}, "jurisdictions": {"us-ca-x": {"notices": "listed_offenses"}}},
            "jurisdictions.us-ca-x",
        ),
        (
            {"default": {}, "jurisdictions": {"us-mn-y": {"release_hour": 25}}},
            "jurisdictions.us-mn-y.release_hour",
        ),
        (
            {"default": {}, "jurisdictions": {"us-mn-y": {"window_hrs": 12}}},
            "jurisdictions.us-mn-y.window_hrs",
        ),
        ({"jurisdictions": {}}, "'default'"),
    ],
)
def test_a_bad_file_names_the_entry_and_field(document: dict, named: str) -> None:
    with pytest.raises(PolicyFileError) as error:
        parse(document, "policies.yaml")
    assert named in str(error.value)
