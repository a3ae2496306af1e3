"""The contract an agency builds on, as the official tools read it: the committed AsyncAPI
document parsed by @asyncapi/parser (npm, pinned in deploy/validate, installed by make test),
and every example in examples/ valid against its JSON Schema."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "schemas" / "generated" / "asyncapi.json"
JSONSCHEMA = ROOT / "schemas" / "generated" / "jsonschema"
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
PARSER = ROOT / "deploy" / "validate" / "asyncapi.mjs"


def parse(path: Path) -> dict[str, Any]:
    assert (PARSER.parent / "node_modules" / "@asyncapi").is_dir(), (
        "deploy/validate/node_modules is missing: `make test` installs it (npm ci)"
    )
    node = shutil.which("node")
    assert node, "node is missing: `make test` installs Node.js where it is"
    result = subprocess.run(
        [node, str(PARSER), str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def test_the_official_parser_accepts_the_document_without_errors_or_warnings() -> None:
    answer = parse(DOCUMENT)
    problems = [d for d in answer["diagnostics"] if d["severity"] <= 1]  # errors, warnings
    assert answer["parsed"] and problems == []


def test_the_parser_refuses_what_it_should(tmp_path: Path) -> None:
    """The check can fail: pydantic's discriminator object in AsyncAPI's own schema dialect
    (what the document was before the payloads were declared JSON Schema) is refused."""
    document = json.loads(DOCUMENT.read_text())
    schemas = document["components"]["schemas"]
    schemas["BookingStateData"] = schemas["BookingStateData"]["schema"]  # default dialect
    broken = tmp_path / "asyncapi.json"
    broken.write_text(json.dumps(document))
    answer = parse(broken)
    errors = [d for d in answer["diagnostics"] if d["severity"] == 0]
    assert any('"discriminator" property type must be string' in e["message"] for e in errors)


def test_channels_carry_keys_bindings_and_examples() -> None:
    document = json.loads(DOCUMENT.read_text())
    for channel in document["channels"].values():
        kafka = channel["bindings"]["kafka"]
        assert (
            kafka["topicConfiguration"]["cleanup.policy"]
            and "retention.ms" in kafka["topicConfiguration"]
        )
        assert channel["title"] and channel["summary"]
    for message in document["components"]["messages"].values():
        assert message["bindings"]["kafka"]["key"]["schema"]["description"]
    examples = [
        e for m in document["components"]["messages"].values() for e in m.get("examples", [])
    ]
    assert {e["summary"] for e in examples} == {f"examples/{p.name}" for p in EXAMPLES}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_validates_against_its_json_schema(path: Path) -> None:
    document = json.loads(path.read_text())
    matching = [
        schema
        for schema in (json.loads(p.read_text()) for p in JSONSCHEMA.glob("*.json"))
        if document["type"] in _types(schema["properties"]["type"])
    ]
    assert len(matching) == 1, document["type"]  # one JSON Schema per event type
    jsonschema.validate(document, matching[0])


def _types(field: dict[str, Any]) -> list[str]:
    return [field["const"]] if "const" in field else list(field.get("enum", []))
