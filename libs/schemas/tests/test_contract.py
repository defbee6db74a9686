"""The event contract: every type valid, round-trippable, and strict about bad input."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omni_schemas import (
    EVENT_TYPES,
    TOPICS,
    EventValidationError,
    new_event,
    parse_event,
    to_record,
)
from omni_schemas._generate import main as generate_main
from omni_schemas.events import MAX_TEXT_CHARS, channel_group
from omni_schemas.examples import EXAMPLES

CONTRACT_TYPES = {
    "omni.message.received.v1",
    *(
        f"omni.conversation.{x}.v1"
        for x in (
            "opened",
            "customer_replied",
            "queued",
            "offered",
            "offer_declined",
            "offer_expired",
            "assigned",
            "agent_replied",
            "transferred",
            "resolved",
            "reopened",
            "abandoned",
            "csat_submitted",
        )
    ),
    "omni.agent.updated.v1",
    "omni.agent.presence_changed.v1",
    "omni.sla.warning.v1",
    "omni.sla.breached.v1",
    "omni.sla.met.v1",
    "omni.deadletter.v1",
}
EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
SCHEMAS_DIR = Path(__file__).resolve().parents[1] / "schemas"


def test_registry_lists_exactly_the_contract_types_and_topics() -> None:
    assert set(EVENT_TYPES) == CONTRACT_TYPES
    assert set(TOPICS) == {
        "omni.messages.v1",
        "omni.conversations.v1",
        "omni.agents.v1",
        "omni.sla.v1",
        "omni.deadletter.v1",
    }
    assert TOPICS["omni.agents.v1"].compacted
    assert {t.key_field for t in TOPICS.values()} == {"thread_key", "conversation_id", "agent_id", None}


@pytest.mark.parametrize("event_type", sorted(CONTRACT_TYPES))
def test_golden_example_round_trips(event_type: str) -> None:
    event = new_event(event_type, EXAMPLES[event_type], source="/omni/test")
    record = to_record(event)
    assert record.topic == EVENT_TYPES[event_type].topic
    assert ("content-type", b"application/cloudevents+json; charset=UTF-8") in record.headers
    back = parse_event(record.value, topic=record.topic, key=record.key)
    assert back == event
    doc = orjson.loads(record.value)
    assert doc["specversion"] == "1.0" and doc["time"].endswith("Z")
    committed = json.loads((EXAMPLES_DIR / f"{event_type}.json").read_text())
    assert parse_event(json.dumps(committed)).type == event_type


def test_committed_schemas_and_asyncapi_match_the_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert generate_main(["--check"]) == 0, capsys.readouterr().out


def _message_doc() -> dict:
    event = new_event("omni.message.received.v1", EXAMPLES["omni.message.received.v1"], source="/t")
    return orjson.loads(to_record(event).value)


def test_unknown_event_type_is_rejected_naming_the_type() -> None:
    doc = _message_doc() | {"type": "omni.message.exploded.v1"}
    with pytest.raises(EventValidationError, match="unknown event type 'omni.message.exploded.v1'") as info:
        parse_event(orjson.dumps(doc))
    assert info.value.field == "type"


def test_wrong_field_type_names_the_field_and_event_type() -> None:
    doc = _message_doc()
    doc["data"]["attachments"] = [{"content_type": "image/png", "size_bytes": "big"}]
    with pytest.raises(EventValidationError) as info:
        parse_event(orjson.dumps(doc))
    assert info.value.field == "data.attachments.0.size_bytes"
    assert "omni.message.received.v1" in str(info.value)


def test_missing_required_field_is_named() -> None:
    doc = _message_doc()
    del doc["data"]["thread_key"]
    with pytest.raises(EventValidationError, match=r"data\.thread_key: Field required"):
        parse_event(orjson.dumps(doc))


def test_an_id_with_the_nul_character_is_rejected_naming_the_field() -> None:
    # consumers keep ids as PostgreSQL text, which cannot hold NUL: such an event is invalid at once,
    # dead-lettered with this reason, not retried against the database
    doc = _message_doc()
    doc["data"]["customer"]["address"] = "U1\u0000"
    with pytest.raises(EventValidationError, match="NUL") as info:
        parse_event(orjson.dumps(doc))
    assert info.value.field == "data.customer.address"
    schema = json.loads((SCHEMAS_DIR / "omni.message.received.v1.json").read_text())
    assert "pattern" in json.dumps(schema["$defs"]["Customer"]["properties"]["address"])


def test_subject_must_equal_the_key_field() -> None:
    doc = _message_doc() | {"subject": "someone-else"}
    with pytest.raises(EventValidationError, match="subject must equal data.thread_key") as info:
        parse_event(orjson.dumps(doc))
    assert info.value.field == "subject"


def test_kafka_key_must_match() -> None:
    record = to_record(new_event("omni.message.received.v1", EXAMPLES["omni.message.received.v1"], source="/t"))
    with pytest.raises(EventValidationError, match="Kafka key"):
        parse_event(record.value, key=b"line:other")


def test_event_on_the_wrong_topic_is_rejected() -> None:
    record = to_record(new_event("omni.sla.met.v1", EXAMPLES["omni.sla.met.v1"], source="/t"))
    with pytest.raises(EventValidationError, match="belongs on topic omni.sla.v1"):
        parse_event(record.value, topic="omni.conversations.v1")


@pytest.mark.parametrize("bad_time", ["2026-11-20T01:02:03", "yesterday", "2026-13-01T00:00:00Z"])
def test_bad_timestamps_are_rejected(bad_time: str) -> None:
    doc = _message_doc() | {"time": bad_time}
    with pytest.raises(EventValidationError) as info:
        parse_event(orjson.dumps(doc))
    assert info.value.field == "time"


def test_oversize_text_is_rejected() -> None:
    data = EXAMPLES["omni.message.received.v1"] | {"text": "あ" * (MAX_TEXT_CHARS + 1)}
    with pytest.raises(EventValidationError) as info:
        new_event("omni.message.received.v1", data, source="/t")
    assert info.value.field == "data.text"


def test_non_json_and_non_object_are_rejected() -> None:
    with pytest.raises(EventValidationError, match="not JSON"):
        parse_event(b"\xff\xfe")
    with pytest.raises(EventValidationError, match="JSON object"):
        parse_event(b"[1, 2]")


def test_time_is_normalized_to_utc() -> None:
    doc = _message_doc() | {"time": "2026-11-20T10:02:03+09:00"}
    assert parse_event(orjson.dumps(doc)).time.isoformat() == "2026-11-20T01:02:03+00:00"


def test_social_channels_share_one_capacity_group() -> None:
    assert {channel_group(c) for c in ("line", "x", "telegram", "messenger", "instagram", "whatsapp")} == {"social"}
    assert channel_group("email") == "email"


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=300), name=st.one_of(st.none(), st.text(max_size=40)))
def test_any_unicode_text_round_trips(text: str, name: str | None) -> None:
    data = EXAMPLES["omni.message.received.v1"] | {
        "text": text,
        "customer": {"address": "u1", "display_name": name},
        "message_id": str(uuid.uuid4()),
    }
    event = new_event("omni.message.received.v1", data, source="/t")
    back = parse_event(to_record(event).value)
    assert back.data.text == text  # type: ignore[attr-defined]
    assert back.data.customer.display_name == name  # type: ignore[attr-defined]
