"""Write JSON Schema and an AsyncAPI 3.0 document from the models: ``make schemas``.

``python -m schemas.generate --check`` exits non-zero when the committed files are stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from schemas.topics import (
    AGENCY_TOPIC_TEMPLATE,
    KEY_RULE,
    REGISTRY,
    TopicSpec,
    agency_notices,
)

OUT_DIR = Path(__file__).parent / "generated"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ASYNCAPI_FILE = "asyncapi.json"
JSONSCHEMA_DIR = "jsonschema"


def _models() -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {}
    for spec in REGISTRY:
        for model in spec.messages:
            seen.setdefault(model.__name__, model)
    return sorted(seen.values(), key=lambda model: model.__name__)


def _channel_id(spec: TopicSpec) -> str:
    return spec.name.replace(".", "_").replace("-", "_")


def _channels() -> list[tuple[str, TopicSpec]]:
    template = agency_notices("agency")
    templated = TopicSpec(
        AGENCY_TOPIC_TEMPLATE,
        "Notices for one agency (one topic per agency slug).",
        template.messages,
    )
    plain = [
        spec
        for spec in REGISTRY
        if not spec.name.startswith("notices.") or spec.name == "notices.subject-copies.v1"
    ]
    return [(_channel_id(spec), spec) for spec in [*plain, templated]]


def render() -> dict[str, str]:
    """Every generated file, relative path -> text. Pure but for reading ``examples/``."""
    models = _models()
    _, definitions = models_json_schema(
        [(model, "validation") for model in models],
        ref_template="#/components/schemas/{model}/schema",
    )
    files: dict[str, str] = {}
    for model in models:
        schema = model.model_json_schema(mode="validation")
        files[f"{JSONSCHEMA_DIR}/{model.__name__}.json"] = _dump(schema)
    files[ASYNCAPI_FILE] = _dump(asyncapi(models, definitions.get("$defs", {})))
    return files


# The payloads are the JSON Schema pydantic writes (the same as schemas/generated/jsonschema),
# declared as such: AsyncAPI's own schema dialect wants ``discriminator`` to be a string, and
# pydantic writes JSON Schema's object form for a discriminated union (release_plan). Kept as
# JSON Schema, the contract says exactly what the JSON Schema files say.
SCHEMA_FORMAT = "application/schema+json;version=draft-07"
DEFAULT_PARTITIONS = 8  # RELEASEWATCH_PARTITIONS' default; a deployment may choose more


def _json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {"schemaFormat": SCHEMA_FORMAT, "schema": schema}


def _examples() -> dict[str, list[dict[str, Any]]]:
    """examples/*.json by event ``type``: the AsyncAPI examples are those files."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(EXAMPLES.glob("*.json")):
        document = json.loads(path.read_text())
        found.setdefault(document["type"], []).append(
            {
                "name": path.stem,
                "summary": f"examples/{path.name}",
                "payload": document,
                "headers": None,
            }
        )
    return found


# What a publisher of a public input may rely on (SPEC 2, issue 42).
PLACEMENT = (
    "Publish with any Kafka client and any partitioner: librdkafka's CRC32 default "
    "(confluent-kafka, Go, .NET, node-rdkafka), Java's murmur2, an explicit partition, or no "
    "key at all; the booking is read from the envelope. A message that is not on its "
    "booking's partition (murmur2 of the key, modulo the partition count) is moved there by "
    "the service that reads it, through the service's own placement topic, nothing lost "
    "and nothing handled twice; a booking's messages on one partition keep their order "
    "(without keys, Kafka keeps none between partitions); each move is logged at debug "
    "with the source topic, partition and offset and counted in "
    "`releasewatch_inputs_placed_total`. A topic created with another partition count "
    "than the rest works the same way (every message is moved)."
)


def _type_of(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("type")
    values = get_args(field.annotation) if field is not None else ()
    return next((v for v in values if isinstance(v, str)), None)


def asyncapi(models: list[type[BaseModel]], definitions: dict[str, Any]) -> dict[str, Any]:
    examples = _examples()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for channel_id, spec in _channels():
        retention = spec.retention_ms
        channel: dict[str, Any] = {
            "address": spec.name,
            "title": spec.name,
            "summary": spec.description,
            "description": f"{spec.description} Key: `{spec.key_rule}`."
            + (f" {PLACEMENT}" if spec.is_input else ""),
            "messages": {
                model.__name__: {"$ref": f"#/components/messages/{model.__name__}"}
                for model in spec.messages
            },
            "bindings": {
                "kafka": {
                    "topic": spec.name,
                    "partitions": DEFAULT_PARTITIONS,
                    "topicConfiguration": {
                        "cleanup.policy": [spec.cleanup.value],
                        "retention.ms": retention,
                    },
                    "bindingVersion": "0.5.0",
                }
            },
        }
        if "{agency}" in spec.name:
            channel["parameters"] = {"agency": {"description": "the agency slug, e.g. dhs-ice"}}
        channels[channel_id] = channel
        action = "receive" if spec.is_input else "send"
        verb = "Publish to" if spec.is_input else "Read from"
        operations[f"{action}_{channel_id}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "title": f"{verb} {spec.name}",
            "summary": spec.description,
            "messages": [
                {"$ref": f"#/channels/{channel_id}/messages/{model.__name__}"}
                for model in spec.messages
            ],
        }
        for model in spec.messages:
            event_type = _type_of(model)
            message: dict[str, Any] = {
                "name": model.__name__,
                "title": model.__name__,
                "summary": (model.__doc__ or spec.description).strip().split("\n")[0],
                "contentType": "application/json",
                "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
                "bindings": {
                    "kafka": {
                        "key": _json_schema(
                            {"type": "string", "description": spec.key_rule or KEY_RULE}
                        ),
                        "bindingVersion": "0.5.0",
                    }
                },
            }
            if event_type in examples:
                message["examples"] = [
                    {k: v for k, v in e.items() if v is not None} for e in examples[event_type]
                ]
            messages[model.__name__] = message
    return {
        "asyncapi": "3.1.0",
        "info": {
            "title": "releasewatch",
            "version": "1.0.0",
            "description": "Release notices for flagged bookings: topics and event shapes. "
            "Every message is keyed `<jurisdiction>/<booking_id>`. Publishers may use any "
            "Kafka client and any partitioner: each service places its inputs itself. "
            "Generated by "
            "`make schemas` from the pydantic models in schemas/.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "embedded": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "the embedded Apache Kafka started by `releasewatch up`",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": {name: _json_schema(schema) for name, schema in definitions.items()},
        },
    }


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def stale_files(out_dir: Path = OUT_DIR) -> list[str]:
    """Generated files that differ from what is on disk (missing, changed or extra)."""
    expected = render()
    stale = [
        path
        for path, text in expected.items()
        if not (out_dir / path).is_file() or (out_dir / path).read_text() != text
    ]
    on_disk = (
        {str(p.relative_to(out_dir)) for p in out_dir.rglob("*.json")}
        if out_dir.exists()
        else set()
    )
    stale.extend(sorted(on_disk - expected.keys()))
    return stale


def write(out_dir: Path = OUT_DIR) -> list[str]:
    expected = render()
    if out_dir.exists():
        for old in out_dir.rglob("*.json"):
            if str(old.relative_to(out_dir)) not in expected:
                old.unlink()
    for path, text in expected.items():
        target = out_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return sorted(expected)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed files are stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"stale: schemas/generated/{path}", file=sys.stderr)
        return 1 if stale else 0
    for path in write():
        print(f"wrote schemas/generated/{path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
