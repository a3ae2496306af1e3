"""The run's header and closing lines name the broker the integration tests ran against."""

from __future__ import annotations

from typing import Any


def pytest_report_header(config: Any) -> str:
    from services.kafka import toolchain

    return f"embedded broker: {toolchain.name()} (deploy/kafka/pom.xml)"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.integration.conftest import BROKERS_USED

    for used in BROKERS_USED:
        terminalreporter.write_line(f"integration tests ran on {used}")
