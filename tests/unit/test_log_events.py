"""Every log line's event name comes from ``services.ops.events``: read every log call in the
services' source and check it names a constant from there."""

from __future__ import annotations

import ast
from pathlib import Path

from services.ops import events

SERVICES = Path(__file__).resolve().parents[2] / "services"
LEVELS = frozenset({"debug", "info", "warning", "error", "exception", "critical"})
CATALOGUE = {name: value for name, value in vars(events).items() if name.isupper()}


def log_calls() -> list[tuple[str, int, ast.expr]]:
    """(file, line, first argument) of every ``log.<level>(...)`` call in services/."""
    calls = []
    for path in sorted(SERVICES.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in LEVELS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "log"
                and node.args
            ):
                calls.append((str(path.relative_to(SERVICES)), node.lineno, node.args[0]))
    return calls


def test_the_calls_are_found() -> None:
    assert len(log_calls()) >= 40


def test_every_log_call_names_a_constant_from_the_catalogue() -> None:
    wrong = []
    for where, line, first in log_calls():
        if isinstance(first, ast.Attribute) and isinstance(first.value, ast.Name):
            if first.value.id == "events" and first.attr in CATALOGUE:
                continue
        elif isinstance(first, ast.Name):  # a helper's parameter: its callers are checked too
            continue
        wrong.append(f"{where}:{line}: {ast.unparse(first)}")
    assert wrong == []


def test_the_catalogue_has_one_name_per_event_and_none_unused() -> None:
    values = list(CATALOGUE.values())
    assert len(values) == len(set(values))
    source = "\n".join(
        path.read_text() for path in SERVICES.rglob("*.py") if path.name != "events.py"
    )
    unused = [name for name in CATALOGUE if f"events.{name}" not in source]
    assert unused == []
