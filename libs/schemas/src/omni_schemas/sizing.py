"""The size of a message's event: every consumer reads events of at most MAX_EVENT_BYTES (about what
Kafka's brokers accept by default), so an ingest service fits each message to it before publishing."""

from __future__ import annotations

import orjson

from omni_schemas.envelope import MAX_EVENT_BYTES
from omni_schemas.events import MessageReceived

MAX_MESSAGE_JSON_BYTES = MAX_EVENT_BYTES - 16 * 1024
"""The JSON of a message may take this much, so that its event, envelope included, stays within
MAX_EVENT_BYTES: the most every consumer reads, and about what Kafka's brokers accept by default."""
_JSON_BYTES_PER_CHAR = 6  # the most one character takes in JSON: a control character as \u00XX
_BOUNDED_REST_BYTES = 64 * 1024  # every other field of a message together (ids of at most 512 characters)


class EventTooLarge(ValueError):
    """A message that cannot fit in one event even without its `full_text`: no retry will help."""


def within_event_limit(message: MessageReceived) -> MessageReceived:
    """`message`, with as much of `full_text` as lets its event fit MAX_EVENT_BYTES (none if that would be
    no more than `text`); raises EventTooLarge when even without it the event would not fit. A message
    that fits by a cheap bound on its size (nearly every one) is returned without serializing it."""
    if _json_bytes_bound(message) <= MAX_MESSAGE_JSON_BYTES:
        return message
    size = _json_size(message)
    if size <= MAX_MESSAGE_JSON_BYTES:
        return message
    bare = message.model_copy(update={"full_text": None})
    spare = MAX_MESSAGE_JSON_BYTES - _json_size(bare)
    if spare < 0:
        raise EventTooLarge(
            f"the message is too large for an event ({size} bytes of JSON, at most {MAX_MESSAGE_JSON_BYTES})"
        )
    room = spare + len(b"null")  # for full_text's JSON string, quotes included
    full = message.full_text or ""
    low, high = 0, len(full)  # the longest prefix whose JSON fits the room
    while low < high:
        middle = (low + high + 1) // 2
        if len(orjson.dumps(full[:middle])) <= room:
            low = middle
        else:
            high = middle - 1
    if low <= len(message.text):
        return bare
    return message.model_copy(update={"full_text": full[:low]})


def _json_size(message: MessageReceived) -> int:
    return len(message.model_dump_json().encode())  # as `serialize` writes the event's data


def _json_bytes_bound(message: MessageReceived) -> int:
    """An upper bound of the message's JSON size, from the lengths of its unbounded fields."""
    chars = len(message.text) + len(message.full_text or "") + len(message.subject or "")
    chars += sum(len(a.url or "") + len(a.filename or "") + len(a.content_type) for a in message.attachments)
    if message.email is not None:
        e = message.email
        chars += sum(len(v) + 3 for values in (e.references, e.to, e.cc, e.envelope_to) for v in values)
    return _JSON_BYTES_PER_CHAR * chars + _BOUNDED_REST_BYTES
