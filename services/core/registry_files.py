"""A registry file (agencies, jails): YAML holding a list of entries, each with a ``slug``.
Read into its pydantic model, or refused with one line per problem naming the entry by its
slug and the field, so whoever edits the file sees where."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


def parse(
    text: str, source: str, model: type[Model], entries: str, error: type[ValueError]
) -> Model:
    """``text`` as ``model``, whose list of slugged entries is the field ``entries``; a
    problem raises ``error`` naming each bad entry and field, one per line."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise error(f"{source}: not YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise error(f"{source}: expected a mapping with '{entries}'")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise error("\n".join(problems(exc, raw.get(entries), source, entries))) from None


def problems(exc: ValidationError, listed: object, source: str, entries: str) -> list[str]:
    lines = []
    for problem in exc.errors():
        where = list(problem["loc"])
        if len(where) >= 2 and where[0] == entries and isinstance(where[1], int):
            entry = listed[where[1]] if isinstance(listed, list) else None
            slug = entry.get("slug") if isinstance(entry, dict) else None
            where[1] = slug if isinstance(slug, str) else where[1]
            path = f"{entries}[{where[1]}]" + "".join(f".{p}" for p in where[2:])
        else:
            path = ".".join(str(p) for p in where)
        lines.append(f"{source}: {path}: {problem['msg'].removeprefix('Value error, ')}")
    return lines


def read_text(path: Path, error: type[ValueError]) -> str:
    """The file's text; one that cannot be read raises ``error`` naming it and why."""
    try:
        return path.read_text()
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror})") from None
