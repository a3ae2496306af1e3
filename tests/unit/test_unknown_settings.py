"""A ``RELEASEWATCH_*`` variable that is no setting stops the process naming it (and the
setting it most likely meant): a misspelled one would leave its default in force unnoticed."""

from __future__ import annotations

import pytest

from services import cli
from services.settings.variables import setting_names, unknown_variables


@pytest.mark.parametrize(
    ("name", "said"),
    [
        (
            "RELEASEWATCH_PROCESING_GUARANTEE",
            "RELEASEWATCH_PROCESING_GUARANTEE is no setting "
            "(did you mean RELEASEWATCH_PROCESSING_GUARANTEE?)",
        ),
        (
            "RELEASEWATCH_LOGLEVEL",
            "RELEASEWATCH_LOGLEVEL is no setting (did you mean RELEASEWATCH_LOG_LEVEL?)",
        ),
        (
            "RELEASEWATCH_PARTITION",
            "RELEASEWATCH_PARTITION is no setting (did you mean RELEASEWATCH_PARTITIONS?)",
        ),
        (
            "RELEASEWATCH_BROKERURL",
            "RELEASEWATCH_BROKERURL is no setting (did you mean RELEASEWATCH_BROKER_URL?)",
        ),
        (
            "RELEASEWATCH_SASL_PASSWD",
            "RELEASEWATCH_SASL_PASSWD is no setting (did you mean RELEASEWATCH_SASL_PASSWORD?)",
        ),
        ("RELEASEWATCH_FOO", "RELEASEWATCH_FOO is no setting"),  # nothing close: no guess
        ("RELEASEWATCH_GUARANTEE", "RELEASEWATCH_GUARANTEE is no setting"),
        ("RELEASEWATCH_HEALTH_PORT", "RELEASEWATCH_HEALTH_PORT is no setting"),  # not a link
    ],
)
def test_a_variable_that_is_no_setting_is_named_with_its_likely_meaning(
    name: str, said: str
) -> None:
    assert unknown_variables({name: "1"}) == [said]


def test_every_setting_and_every_other_variable_passes() -> None:
    environ = dict.fromkeys(setting_names(), "x")
    environ.update(PATH="/usr/bin", KAFKA_HEAP_OPTS="-Xmx1g", releasewatch_lower="not ours")
    assert unknown_variables(environ) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RELEASEWATCH_FENCED_RESTARTS", "2"),  # set by a fenced worker for its own restart
        ("RELEASEWATCH_API_SERVICE_HOST", "10.0.0.7"),  # Kubernetes service links
        ("RELEASEWATCH_API_SERVICE_PORT", "8080"),
        ("RELEASEWATCH_API_SERVICE_PORT_HTTP", "8080"),
        ("RELEASEWATCH_API_PORT", "tcp://10.0.0.7:8080"),
        ("RELEASEWATCH_API_PORT_8080_TCP", "tcp://10.0.0.7:8080"),
        ("RELEASEWATCH_API_PORT_8080_TCP_PROTO", "tcp"),
        ("RELEASEWATCH_API_PORT_8080_TCP_PORT", "8080"),
        ("RELEASEWATCH_API_PORT_53_UDP_ADDR", "10.0.0.7"),
    ],
)
def test_variables_set_by_the_process_or_by_kubernetes_are_no_typo(name: str, value: str) -> None:
    assert unknown_variables({name: value}) == []


def test_a_service_link_port_needs_a_link_address() -> None:
    """``*_PORT`` is a service link only with its ``tcp://`` value; a plain number there is
    someone's setting, and a wrong one."""
    assert unknown_variables({"RELEASEWATCH_API_PORT": "8080"}) == [
        "RELEASEWATCH_API_PORT is no setting"
    ]


def test_several_are_named_together_in_order() -> None:
    assert unknown_variables({"RELEASEWATCH_ZZZ": "1", "RELEASEWATCH_AAA": "1"}) == [
        "RELEASEWATCH_AAA is no setting",
        "RELEASEWATCH_ZZZ is no setting",
    ]


def test_the_cli_stops_with_exit_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RELEASEWATCH_BROKER_URL", "kafka://127.0.0.1:9")
    monkeypatch.setenv("RELEASEWATCH_PROCESING_GUARANTEE", "exactly_once")
    assert cli.main(["topics", "list"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "RELEASEWATCH_PROCESING_GUARANTEE is no setting" in line
    assert "did you mean RELEASEWATCH_PROCESSING_GUARANTEE?" in line
