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


def test_an_unknown_fix_switched_off_stops_any_command_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RELEASEWATCH_FAUST_FIXES_OFF", "gap_guards")
    assert cli.main(["report"]) == 2
    said = capsys.readouterr().err
    assert "invalid configuration: RELEASEWATCH_FAUST_FIXES_OFF: unknown ['gap_guards']" in said


def test_an_apache_only_switch_on_tansu_stops_the_command_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RELEASEWATCH_BROKER_URL", "kafka://127.0.0.1:9")
    monkeypatch.setenv("RELEASEWATCH_BROKER_FLAVOR", "tansu")
    monkeypatch.setenv("RELEASEWATCH_PROCESSING_GUARANTEE", "exactly_once")
    assert cli.main(["report"]) == 2
    said = capsys.readouterr().err
    assert "RELEASEWATCH_PROCESSING_GUARANTEE=exactly_once works on Apache Kafka only" in said
