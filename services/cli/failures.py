"""One way for a command to fail: one line on stderr naming what is wrong, and an exit code.

Exit 2: the input or a setting is wrong (fix it and run again). Exit 1: the command could not
do its work (the broker unreachable, a login refused). Tracebacks only with ``--debug`` or
``RELEASEWATCH_LOG_LEVEL=debug``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.settings import Settings


class CommandFailed(Exception):
    """The command cannot do what it was asked; the message is the whole explanation."""

    exit_code = 1


class UsageError(CommandFailed):
    """Bad input or a bad setting: exit 2."""

    exit_code = 2


class RunFailure(CommandFailed):
    """The work itself failed (broker, login, a service): exit 1."""

    exit_code = 1


def load_settings() -> Settings:
    """The settings from the environment; a wrong one is a usage error naming it."""
    from pydantic import ValidationError

    from services.kafka.client.security import SecurityConfigError, client_options
    from services.kafka.client.tuning import flavor_problem
    from services.settings import load
    from services.settings.variables import unknown_variables

    unknown = unknown_variables(os.environ)
    if unknown:
        raise UsageError(f"invalid configuration: {'; '.join(unknown)}")
    try:
        settings = load()
        if settings.broker_url:
            client_options(settings)  # TLS files readable
    except ValidationError as exc:
        problems = "; ".join(_setting_problem(e) for e in exc.errors())
        raise UsageError(f"invalid configuration: {problems}") from None
    except SecurityConfigError as exc:
        raise UsageError(f"invalid configuration: {exc}") from None
    problem = flavor_problem(settings)  # what the broker named by the settings cannot do
    if problem:
        raise UsageError(f"invalid configuration: {problem}")
    return settings


def _setting_problem(error: Any) -> str:
    """``RELEASEWATCH_PARTITIONS: Input should be a valid integer``: the variable to fix."""
    where = "_".join(str(part) for part in error["loc"]).upper()
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"RELEASEWATCH_{where}: {message}" if where else message


def registry_agencies(settings: Settings) -> tuple[str, ...]:
    """The agencies of the registry (``RELEASEWATCH_AGENCIES_FILE``), or a one-line error."""
    from services.core import agencies

    try:
        return agencies.load(settings.agencies_file).slugs
    except agencies.AgencyFileError as exc:
        raise UsageError(str(exc)) from None


def require_broker_url(settings: Settings) -> str:
    """The tools talk to a running cluster; they never start an empty embedded broker."""
    if not settings.broker_url:
        raise UsageError(
            "set RELEASEWATCH_BROKER_URL, e.g. kafka://127.0.0.1:9092 "
            "(`releasewatch up` and `releasewatch broker` print it)"
        )
    return settings.broker_url


def read_text(path: str) -> str:
    """A file's text, or standard input for ``-``."""
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a file") from None
    except PermissionError:
        raise UsageError(f"{path}: not readable (permission denied)") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def parse_since(text: str | None) -> datetime | None:
    """``--since``: a date or a date-time, UTC unless it carries an offset."""
    if text is None:
        return None
    try:
        since = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--since {text!r} is not a date; give YYYY-MM-DD or an ISO date-time "
            "such as 2026-03-01T08:00:00-06:00"
        ) from None
    return since if since.tzinfo else since.replace(tzinfo=UTC)


@contextlib.contextmanager
def talking_to_broker(settings: Settings, doing: str = "") -> Iterator[None]:
    """Broker and login failures inside become one line naming the URL and the wait."""
    from aiokafka.errors import KafkaError

    from services.kafka.client.security import explain_failure, uses_sasl

    started = time.monotonic()
    failures: tuple[type[BaseException], ...] = (KafkaError, OSError)
    if uses_sasl(settings):
        failures = (*failures, KeyError)  # aiokafka's SCRAM client on a refused login
    try:
        yield
    except failures as exc:
        waited = time.monotonic() - started
        raise RunFailure(
            f"{doing + ' ' if doing else ''}{settings.broker_url}: "
            f"{explain_failure(exc, settings)} "
            f"(gave up after {waited:.1f} s)"
        ) from exc
