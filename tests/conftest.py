"""The run's header and closing lines name the broker the integration tests ran against.

``make test`` runs the suite on two workers (pytest-xdist, ``--dist loadfile``), the longest
files first: each worker starts its own embedded broker, picks its ports from its own slice
of the range, and reports the broker it used to the run's closing lines."""

from __future__ import annotations

import os
from typing import Any

import pytest


def pytest_report_header(config: Any) -> str:
    from services.kafka.broker import toolchain

    return f"embedded broker: {toolchain.name()} (deploy/kafka/pom.xml)"


# The longest test files (each over 40 s on CI), handed out first: with ``--dist loadfile
# --no-loadscope-reorder`` the workers take files in collection order. xdist's own order
# (files with the most tests first) left test_exactly_once (197 s) for the end of session
# 18's run, with the other worker idle meanwhile.
LONGEST_FIRST = (
    "test_exactly_once.py",
    "test_board.py",
    "test_failover.py",
    "test_local_state.py",
    "test_notification_service.py",
    "test_scheduling_service.py",
    "test_cli_lifecycle.py",
    "test_booking_service.py",
)


def pytest_collection_modifyitems(items: list[Any]) -> None:
    rank = {name: number for number, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # the rest as collected


def pytest_configure(config: Any) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, ... on a worker of xdist
    if worker:
        from services.kafka.broker import process

        process.share_ports(int(worker[2:]), int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))


def pytest_sessionfinish(session: Any) -> None:
    from tests.integration.conftest import BROKERS_USED

    output = getattr(session.config, "workeroutput", None)  # on a worker: for the controller
    if output is not None:
        output["brokers_used"] = list(BROKERS_USED)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    from tests.integration.conftest import BROKERS_USED

    BROKERS_USED.extend(getattr(node, "workeroutput", {}).get("brokers_used", []))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.integration.conftest import BROKERS_USED

    for used in BROKERS_USED:
        terminalreporter.write_line(f"integration tests ran on {used}")
