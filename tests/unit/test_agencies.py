"""The agency registry (#44): one file declares each agency; a bad entry is one line naming
the agency and the field; secrets are referenced, never written, and read once."""

from __future__ import annotations

from pathlib import Path

import pytest

from services import cli
from services.core import agencies
from services.core.agencies import AgencyFileError, parse

ROOT = Path(__file__).resolve().parents[2]
GOOD = """
agencies:
  - slug: dhs-ice
    name: ICE ERO
    contact: "+1 555 0100"
    webhook:
      url: https://hooks.ice.example.gov/rw
      secrets: env:ICE_SECRETS
  - slug: usms
    name: U.S. Marshals Service
"""
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def hook(url: str = "https://h", secrets: str = "env:S", more: str = "") -> str:
    """One agency ``a`` with a webhook."""
    webhook = f"{{url: '{url}', secrets: '{secrets}'{more}}}"
    return f"agencies:\n  - slug: a\n    name: x\n    webhook: {webhook}\n"


def test_the_shipped_sample_is_valid_and_names_the_agencies_the_simulator_uses() -> None:
    registry = agencies.load()
    assert {"dhs-ice", "usms"} <= set(registry.slugs)


def test_a_good_file_gives_each_agency_and_its_channels() -> None:
    registry = parse(GOOD)
    ice = registry.get("dhs-ice")
    assert ice is not None and ice.webhook is not None
    assert ice.webhook.host == "hooks.ice.example.gov"
    assert registry.get("usms").webhook is None
    assert registry.get("fbi") is None


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("agencies:\n  - slug: Bad_Slug\n    name: x\n", "agencies[Bad_Slug].slug: lower-case"),
        ("agencies:\n  - slug: subject-copies\n    name: x\n", "agencies[subject-copies].slug"),
        ("agencies:\n  - slug: a\n", "agencies[a].name: Field required"),
        ("agencies:\n  - slug: a\n    name: x\n    fax: 1\n", "agencies[a].fax: Extra inputs"),
        (hook("ftp://h/x"), "agencies[a].webhook.url: must be an https:// URL"),
        (hook("https://u:p@h/x"), "agencies[a].webhook.url: must not carry credentials"),
        (
            hook(secrets=SECRET),
            "agencies[a].webhook.secrets: must be env:NAME or file:PATH (never the secret itself)",
        ),
        (
            hook(more=", timeout_seconds: 0"),
            "agencies[a].webhook.timeout_seconds: Input should be greater than 0",
        ),
        (
            hook(more=", give_up_hours_before_release: 48"),
            "agencies[a].webhook.give_up_hours_before_release",
        ),
        ("agencies:\n  - {slug: a, name: x}\n  - {slug: a, name: y}\n", "declared twice"),
        ("agencies: [\n", "not YAML"),
        ("- just a list\n", "expected a mapping"),
    ],
)
def test_each_problem_is_one_line_naming_the_agency_and_field(text: str, line: str) -> None:
    with pytest.raises(AgencyFileError) as caught:
        parse(text, "agencies.yaml")
    assert any(line in said for said in str(caught.value).splitlines()), str(caught.value)
    assert SECRET not in str(caught.value)


def test_plain_http_needs_the_development_setting() -> None:
    text = GOOD.replace("https://hooks", "http://hooks")
    registry = parse(text)
    [problem] = registry.problems(allow_http=False)
    assert "agencies[dhs-ice].webhook.url" in problem
    assert "RELEASEWATCH_WEBHOOK_ALLOW_HTTP" in problem
    assert registry.problems(allow_http=True) == []


def test_secrets_come_from_the_environment_or_a_file(tmp_path: Path) -> None:
    ice = parse(GOOD).get("dhs-ice")
    assert agencies.read_secrets(ice, {"ICE_SECRETS": SECRET}) == (SECRET,)
    two = f"{SECRET} {SECRET.replace('M', 'N')}"
    assert len(agencies.read_secrets(ice, {"ICE_SECRETS": two})) == 2
    kept = tmp_path / "secret"
    kept.write_text(SECRET + "\n")
    from_file = ice.model_copy(
        update={"webhook": ice.webhook.model_copy(update={"secrets": f"file:{kept}"})}
    )
    assert agencies.read_secrets(from_file) == (SECRET,)


@pytest.mark.parametrize(
    ("environ", "said"),
    [
        ({}, "ICE_SECRETS is not set"),
        ({"ICE_SECRETS": ""}, "holds 0 secrets"),
        ({"ICE_SECRETS": f"{SECRET} {SECRET} {SECRET}"}, "holds 3 secrets"),
        ({"ICE_SECRETS": "hunter2"}, "each secret starts with whsec_"),
    ],
)
def test_a_missing_or_malformed_secret_is_named_never_shown(
    environ: dict[str, str], said: str
) -> None:
    ice = parse(GOOD).get("dhs-ice")
    with pytest.raises(AgencyFileError, match=said) as caught:
        agencies.read_secrets(ice, environ)
    assert "agencies[dhs-ice].webhook.secrets" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_agency_check_prints_one_line_per_agency(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "agencies.yaml"
    path.write_text(GOOD)
    assert cli.main(["agency", "check", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "dhs-ice: ICE ERO: kafka + webhook (hooks.ice.example.gov)",
        "usms: U.S. Marshals Service: kafka",
    ]


def test_agency_check_exits_1_with_the_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "agencies.yaml"
    path.write_text(GOOD.replace("slug: usms", "slug: USMS"))
    assert cli.main(["agency", "check", str(path)]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"{path}: agencies[USMS].slug:")
    path.write_text(GOOD)
    monkeypatch.delenv("ICE_SECRETS", raising=False)
    assert cli.main(["agency", "check", "--secrets", str(path)]) == 1
    assert "ICE_SECRETS is not set" in capsys.readouterr().err
