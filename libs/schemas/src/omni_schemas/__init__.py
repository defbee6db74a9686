"""omni's event contract: what downstream teams code against.

Every Kafka value is a CloudEvents 1.0 event in structured JSON mode. Build one with
`new_event`, turn it into a Kafka record with `to_record`, read one back with
`parse_event`. The topic registry (`TOPICS`, `EVENT_TYPES`) names each topic's key
and event types.
"""

from omni_schemas.envelope import (
    CONTENT_TYPE,
    CloudEvent,
    EventValidationError,
    KafkaRecord,
    new_event,
    parse_event,
    to_record,
)
from omni_schemas.events import *  # noqa: F403
from omni_schemas.events import __all__ as _events_all
from omni_schemas.topics import EVENT_TYPES, TOPICS, EventType, Topic, topic_for_type

__all__ = [
    "CONTENT_TYPE",
    "EVENT_TYPES",
    "TOPICS",
    "CloudEvent",
    "EventType",
    "EventValidationError",
    "KafkaRecord",
    "Topic",
    "new_event",
    "parse_event",
    "to_record",
    "topic_for_type",
    *_events_all,
]
