"""The compatibility guard, like Schema Registry's: a message's JSON Schema now against the one
an agency or a jail built on (the committed baseline, ``schemas/baseline/``).

What breaks someone, and fails the test naming the field and the rule:
- a field removed or renamed (consumers read it; producers of an input send it);
- a narrowed type (a value that was valid is refused now);
- a new required field on an input (jails' and agencies' producers do not send it);
- a changed enum or constant (a consumer meets a value it does not know, or a producer's
  value is refused).
Optional additions pass. The way out of a break is a new topic version (``.v2``).
Pure: two schemas in, problems out.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def problems(old: Schema, new: Schema, *, is_input: bool) -> list[str]:
    """Every change from ``old`` to ``new`` that breaks a consumer, or a producer of an input."""
    if not old:  # never published: nobody built on it
        return []
    found: list[str] = []
    _compare(old, new, old, new, "", is_input, found, set())
    return found


def _resolve(schema: Schema, root: Schema) -> Schema:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = root.get("$defs", {}).get(name, {})
    return schema


def _types(schema: Schema, root: Schema) -> set[str]:
    schema = _resolve(schema, root)
    if "type" in schema:
        kinds = schema["type"]
        return set(kinds) if isinstance(kinds, list) else {kinds}
    members = schema.get("anyOf") or schema.get("oneOf") or []
    found: set[str] = set()
    for member in members:
        found |= _types(member, root)
    return found


def _values(schema: Schema) -> set[Any] | None:
    if "const" in schema:
        return {schema["const"]}
    if "enum" in schema:
        return set(schema["enum"])
    return None


def _properties(schema: Schema, root: Schema) -> tuple[dict[str, Schema], set[str]]:
    """Properties and required names, through unions (a field of any member counts)."""
    schema = _resolve(schema, root)
    properties = dict(schema.get("properties", {}))
    required = set(schema.get("required", []))
    for member in schema.get("anyOf", []) + schema.get("oneOf", []):
        more, _ = _properties(member, root)
        properties.update({k: v for k, v in more.items() if k not in properties})
    return properties, required


def _compare(
    old: Schema,
    new: Schema,
    old_root: Schema,
    new_root: Schema,
    path: str,
    is_input: bool,
    found: list[str],
    seen: set[tuple[int, int]],
) -> None:
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    if (id(old), id(new)) in seen:
        return
    seen.add((id(old), id(new)))
    where = path or "(message)"
    old_types, new_types = _types(old, old_root), _types(new, new_root)
    if old_types and new_types and not old_types <= new_types:
        lost = ", ".join(sorted(old_types - new_types))
        found.append(f"{where}: type narrowed ({lost} no longer accepted)")
    old_values, new_values = _values(old), _values(new)
    if old_values is not None and old_values != new_values:
        found.append(
            f"{where}: enum changed ({sorted(map(str, old_values))} -> "
            f"{sorted(map(str, new_values or ()))})"
        )
    old_props, old_required = _properties(old, old_root)
    new_props, new_required = _properties(new, new_root)
    for name in sorted(old_props):
        field = f"{path}.{name}" if path else name
        if name not in new_props:
            found.append(f"{field}: field removed (or renamed)")
            continue
        _compare(old_props[name], new_props[name], old_root, new_root, field, is_input, found, seen)
    if is_input:
        for name in sorted(new_required - old_required):
            field = f"{path}.{name}" if path else name
            found.append(f"{field}: new required field on an input (producers do not send it)")
    old_items, new_items = old.get("items"), new.get("items")
    if isinstance(old_items, dict) and isinstance(new_items, dict):
        _compare(old_items, new_items, old_root, new_root, f"{path}[]", is_input, found, seen)
