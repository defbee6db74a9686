"""The CloudEvents 1.0 envelope in structured JSON mode, and its Kafka record form."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from omni_schemas.topics import EVENT_TYPES, TOPICS

CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
MAX_EVENT_BYTES = 1024 * 1024
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


class EventValidationError(ValueError):
    """An event that does not fit the contract; the message names the event type and field."""

    def __init__(self, message: str, *, event_type: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.event_type = event_type
        self.field = field

    @classmethod
    def from_pydantic(cls, exc: ValidationError, *, event_type: str | None, prefix: str = "") -> EventValidationError:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in (prefix, *first["loc"]) if p != "")
        problems = "; ".join(
            f"{'.'.join(str(p) for p in (prefix, *e['loc']) if p != '') or '<root>'}: {e['msg']}"
            + (f" (got {_short(e['input'])})" if e["type"] != "missing" else "")
            for e in exc.errors()[:5]
        )
        return cls(f"{event_type or 'event'}: {problems}", event_type=event_type, field=loc or None)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class CloudEvent(BaseModel):
    """One omni event. `data` holds the validated model of the event's `type`."""

    model_config = ConfigDict(frozen=True, extra="ignore", arbitrary_types_allowed=True)

    specversion: Literal["1.0"] = "1.0"
    id: UUID
    source: str = Field(min_length=1, max_length=1024)
    type: str
    time: AwareDatetime
    subject: str | None = Field(default=None, max_length=1024)
    datacontenttype: Literal["application/json"] = "application/json"
    traceparent: str | None = None
    data: BaseModel

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @field_validator("traceparent")
    @classmethod
    def _traceparent(cls, value: str | None) -> str | None:
        if value is not None and not _TRACEPARENT.match(value):
            raise ValueError("traceparent must be a W3C trace context header (00-<32 hex>-<16 hex>-<2 hex>)")
        return value

    @property
    def topic(self) -> str:
        return EVENT_TYPES[self.type].topic


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def _key_of(event_type: str, data: BaseModel) -> str | None:
    key_field = TOPICS[EVENT_TYPES[event_type].topic].key_field
    if key_field is None:
        return None
    return str(getattr(data, key_field))


def new_event(
    event_type: str,
    data: BaseModel | dict[str, Any],
    *,
    source: str,
    time: datetime | None = None,
    event_id: UUID | None = None,
    traceparent: str | None = None,
) -> CloudEvent:
    """Build a valid event of a known type; its subject is the topic's key field."""
    spec = EVENT_TYPES.get(event_type)
    if spec is None:
        raise EventValidationError(f"unknown event type {event_type!r}", event_type=event_type, field="type")
    if isinstance(data, dict):
        try:
            data = spec.model.model_validate(data)
        except ValidationError as exc:
            raise EventValidationError.from_pydantic(exc, event_type=event_type, prefix="data") from exc
    elif not isinstance(data, spec.model):
        raise EventValidationError(
            f"{event_type}: data must be {spec.model.__name__}, got {type(data).__name__}",
            event_type=event_type,
            field="data",
        )
    model: BaseModel = data
    return CloudEvent(
        id=event_id or uuid.uuid4(),
        source=source,
        type=event_type,
        time=time or datetime.now(UTC),
        subject=_key_of(event_type, model),
        traceparent=traceparent,
        data=model,
    )


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def serialize(event: CloudEvent) -> bytes:
    """The structured-mode JSON bytes of an event."""
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(event.id),
        "source": event.source,
        "type": event.type,
        "time": _rfc3339(event.time),
        "subject": event.subject,
        "datacontenttype": event.datacontenttype,
    }
    if event.traceparent:
        envelope["traceparent"] = event.traceparent
    head = orjson.dumps(envelope)
    return head[:-1] + b',"data":' + event.data.model_dump_json().encode() + b"}"


def to_record(event: CloudEvent) -> KafkaRecord:
    """The Kafka record of an event: its topic, the key from the topic's key field, the JSON value."""
    return KafkaRecord(
        topic=event.topic,
        key=event.subject.encode() if event.subject is not None else None,
        value=serialize(event),
        headers=[("content-type", CONTENT_TYPE.encode()), ("ce_type", event.type.encode())],
    )


def parse_event(raw: bytes | str, *, topic: str | None = None, key: bytes | None = None) -> CloudEvent:
    """Decode and validate one event. Raises EventValidationError naming the field.

    With `topic`, the type must belong to that topic; with `key`, the key must equal the
    event's subject (the topic's key field).
    """
    if len(raw) > MAX_EVENT_BYTES:
        raise EventValidationError(f"event is {len(raw)} bytes, over the {MAX_EVENT_BYTES} byte limit")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise EventValidationError(f"event is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise EventValidationError(f"event must be a JSON object, got {type(doc).__name__}")
    event_type = doc.get("type")
    if not isinstance(event_type, str):
        raise EventValidationError("type: field required (string)", field="type")
    spec = EVENT_TYPES.get(event_type)
    if spec is None:
        raise EventValidationError(f"type: unknown event type {event_type!r}", event_type=event_type, field="type")
    if topic is not None and spec.topic != topic:
        raise EventValidationError(
            f"{event_type}: belongs on topic {spec.topic}, not {topic}", event_type=event_type, field="type"
        )
    if "data" not in doc:
        raise EventValidationError(f"{event_type}: data: field required", event_type=event_type, field="data")
    try:
        data = spec.model.model_validate(doc["data"])
    except ValidationError as exc:
        raise EventValidationError.from_pydantic(exc, event_type=event_type, prefix="data") from exc
    doc["data"] = data
    try:
        event = CloudEvent.model_validate(doc)
    except ValidationError as exc:
        raise EventValidationError.from_pydantic(exc, event_type=event_type) from exc
    expected = _key_of(event_type, data)
    if expected is not None and event.subject != expected:
        raise EventValidationError(
            f"{event_type}: subject must equal data.{TOPICS[spec.topic].key_field} ({expected!r}), "
            f"got {event.subject!r}",
            event_type=event_type,
            field="subject",
        )
    if key is not None and expected is not None and key.decode(errors="replace") != expected:
        raise EventValidationError(
            f"{event_type}: Kafka key {key!r} does not match data.{TOPICS[spec.topic].key_field} ({expected!r})",
            event_type=event_type,
            field="key",
        )
    return event
