"""The CLI's tools talk to a running cluster; without a broker URL they say so and exit 2."""

from pathlib import Path

import pytest

from services import cli

EVENT = str(Path(__file__).resolve().parents[2] / "examples" / "booking-opened.json")


@pytest.mark.parametrize(
    "argv",
    [
        ["publish", EVENT],
        ["tail", "notice.alerts.v1"],
        ["report"],
        ["agency", "listen", "--agency", "dhs-ice"],
        ["trace", "us-tx-harris/2026-000001"],
        ["watch"],
        ["topics", "create"],
    ],
)
def test_a_tool_without_a_broker_url_says_what_to_set(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RELEASEWATCH_BROKER_URL", raising=False)
    assert cli.main(argv) == 2
    assert f"{argv[0]}: set RELEASEWATCH_BROKER_URL" in capsys.readouterr().err
