"""The jails allowed to send bookings over HTTP (#45): the file, its refusals, the tokens."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from services.core import bearer
from services.intake import jails
from services.intake.jails import JailFileError

EXAMPLE_TOKEN = "rwj_example-token-do-not-use"
ENTRY = """
  - slug: {slug}
    name: A jail
    facility: {{id: f1, name: Facility One, timezone: America/Chicago}}
    jurisdictions: {jurisdictions}
    token_sha256: {digest}
"""


def entry(
    slug: str = "a-jail",
    jurisdictions: str = "[{id: us-la-orleans, ori: LA0360000}]",
    token: str = "t-1",
) -> str:
    digest = hashlib.sha256(token.encode()).hexdigest()
    return ENTRY.format(slug=slug, jurisdictions=jurisdictions, digest=digest)


def test_the_shipped_file_reads_and_its_example_token_finds_its_jail() -> None:
    registry = jails.load()
    found = registry.by_token(EXAMPLE_TOKEN)
    assert found is not None and found.slug == "orleans-opso"
    assert found.context().jurisdictions == (("us-la-orleans", "LA0360000"),)
    assert registry.by_token("rwj_not-a-token") is None
    assert registry.by_token("") is None


def test_a_new_token_is_only_known_by_its_hash() -> None:
    token, digest = bearer.new_token(bearer.JAIL_PREFIX)
    assert token.startswith("rwj_") and len(token) > 40
    registry = jails.parse("jails:" + entry().replace(hashlib.sha256(b"t-1").hexdigest(), digest))
    assert registry.by_token(token) is not None
    assert token not in registry.model_dump_json()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("jails:" + entry(slug="A Jail"), "jails[A Jail].slug: lower-case letters"),
        (
            "jails:" + entry(jurisdictions="[]"),
            "jurisdictions: Tuple should have",
        ),
        (
            "jails:" + entry(jurisdictions="[{id: us-la-orleans, ori: L0360000}]"),
            "jails[a-jail].jurisdictions.0.ori: an ORI",
        ),
        (
            "jails:" + entry(jurisdictions="[{id: a, ori: LA0360000}, {id: b}]"),
            "with several jurisdictions, each needs its ori",
        ),
        (
            "jails:" + entry().replace("token_sha256: ", "token_sha256: x"),
            "jails[a-jail].token_sha256: 64 lower-case hex digits",
        ),
        ("jails:" + entry() + entry(token="t-2"), "two jails with the same slug: ['a-jail']"),
        ("jails:" + entry() + entry(slug="b-jail"), "two jails with the same token_sha256"),
        ("jails:" + entry() + "    color: red\n", "jails[a-jail].color: Extra inputs"),
        ("jails: [unclosed", "not YAML"),
    ],
)
def test_a_bad_file_names_the_jail_and_the_field(text: str, says: str) -> None:
    with pytest.raises(JailFileError) as refused:
        jails.parse(text, "jails.yaml")
    assert says in str(refused.value), str(refused.value)
    assert str(refused.value).startswith("jails.yaml")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(JailFileError, match="cannot be read"):
        jails.load(tmp_path / "nowhere.yaml")


def test_the_cli_checks_a_file_and_makes_tokens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from services import cli

    assert cli.main(["intake", "check", str(jails.DEFAULT_JAILS_FILE)]) == 0
    assert "orleans-opso" in capsys.readouterr().out
    bad = tmp_path / "jails.yaml"
    bad.write_text("jails:" + entry(slug="Bad"))
    assert cli.main(["intake", "check", str(bad)]) == 1
    assert "jails[Bad].slug" in capsys.readouterr().err
    assert cli.main(["intake", "token"]) == 0
    lines = capsys.readouterr().out.splitlines()
    token = lines[0].rsplit(" ", 1)[1]
    assert lines[1] == f"token_sha256: {hashlib.sha256(token.encode()).hexdigest()}"
    assert cli.main(["intake", "token", "--agency"]) == 0
    lines = capsys.readouterr().out.splitlines()
    token = lines[0].rsplit(" ", 1)[1]
    assert token.startswith("rwa_")
    assert lines[1] == f"request_tokens_sha256: [{bearer.digest(token)}]"
