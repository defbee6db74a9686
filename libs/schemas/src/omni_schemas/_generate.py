"""Write the JSON Schemas, golden examples and AsyncAPI document generated from the code.

`python -m omni_schemas._generate` writes them under libs/schemas/; `--check` exits 1 on drift.
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from omni_schemas.envelope import new_event, serialize
from omni_schemas.examples import EXAMPLES
from omni_schemas.topics import EVENT_TYPES, TOPICS

OUT = Path(__file__).resolve().parents[2]


def _envelope_schema(event_type: str) -> dict[str, Any]:
    spec = EVENT_TYPES[event_type]
    data_schema = spec.model.model_json_schema(mode="serialization", ref_template="#/$defs/{model}")
    defs = data_schema.pop("$defs", {})
    key = TOPICS[spec.topic].key_field
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://omni.dev/schemas/{event_type}.json",
        "title": event_type,
        "description": spec.description
        + f" Topic {spec.topic}; Kafka key and subject: "
        + (f"data.{key}." if key else "none."),
        "type": "object",
        "required": ["specversion", "id", "source", "type", "time", "datacontenttype", "data"]
        + (["subject"] if key else []),
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "format": "uuid", "description": "Unique per event; the idempotency key."},
            "source": {"type": "string", "minLength": 1},
            "type": {"const": event_type},
            "time": {"type": "string", "format": "date-time", "description": "RFC 3339, UTC."},
            "subject": {"type": "string", "description": f"Equals data.{key}." if key else "Unused."},
            "datacontenttype": {"const": "application/json"},
            "traceparent": {"type": "string", "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"},
            "data": data_schema,
        },
        "$defs": defs,
    }


def _asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in TOPICS.values():
        refs = {}
        for event_type in topic.event_types:
            name = event_type.replace(".", "_")
            messages[name] = {
                "name": event_type,
                "title": event_type,
                "summary": EVENT_TYPES[event_type].description,
                "contentType": "application/cloudevents+json; charset=UTF-8",
                "payload": {"$ref": f"schemas/{event_type}.json"},
                "bindings": {"kafka": {"key": {"type": "string", "description": topic.key_field or "none"}}},
            }
            refs[name] = {"$ref": f"#/components/messages/{name}"}
        cid = topic.name.replace(".", "_")
        channels[cid] = {
            "address": topic.name,
            "description": topic.description,
            "messages": refs,
            "bindings": {
                "kafka": {
                    "topic": topic.name,
                    "partitions": topic.partitions,
                    "topicConfiguration": {
                        "cleanup.policy": ["compact" if topic.compacted else "delete"],
                        "retention.ms": topic.retention_ms,
                    },
                }
            },
        }
        operations[f"publish_{cid}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{cid}"},
            "summary": f"Produced by {', '.join(topic.producers)}",
            "messages": [{"$ref": f"#/channels/{cid}/messages/{m}"} for m in refs],
        }
        if topic.consumers:
            operations[f"consume_{cid}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{cid}"},
                "summary": f"Consumed by {', '.join(topic.consumers)}",
                "messages": [{"$ref": f"#/channels/{cid}/messages/{m}"} for m in refs],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "omni events",
            "version": "1.0.0",
            "description": "Every value is a CloudEvents 1.0 event in structured JSON mode.",
        },
        "defaultContentType": "application/cloudevents+json; charset=UTF-8",
        "servers": {"local": {"host": "127.0.0.1:9092", "protocol": "kafka"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def generated() -> dict[Path, str]:
    files: dict[Path, str] = {}
    for event_type in EVENT_TYPES:
        files[OUT / "schemas" / f"{event_type}.json"] = (
            json.dumps(_envelope_schema(event_type), indent=2, ensure_ascii=False) + "\n"
        )
        event = new_event(
            event_type,
            EXAMPLES[event_type],
            source="/omni/examples",
            event_id=uuid.uuid5(uuid.NAMESPACE_URL, event_type),
            time=datetime.fromisoformat("2026-11-20T01:02:03.456+00:00"),
        )
        files[OUT / "examples" / f"{event_type}.json"] = (
            json.dumps(json.loads(serialize(event)), indent=2, ensure_ascii=False) + "\n"
        )
    files[OUT / "asyncapi.json"] = json.dumps(_asyncapi(), indent=2) + "\n"
    return files


def main(argv: list[str]) -> int:
    files = generated()
    if "--check" in argv:
        drift = [str(p.relative_to(OUT)) for p, text in files.items() if not p.exists() or p.read_text() != text]
        if drift:
            print("generated schema files drifted from the code; run `make schemas`:\n  " + "\n  ".join(drift))
            return 1
        return 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"wrote {len(files)} files under {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
