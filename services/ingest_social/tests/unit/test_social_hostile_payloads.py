"""Hostile values in every provider's shape: each parser either names what is malformed or yields
messages whose events serialize, read back, and can be stored by the consumers."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hostile_payloads import Delivery, assert_consumable, deliveries
from hypothesis import HealthCheck, given, note, settings
from social_samples import MESSENGER_TEXT, TELEGRAM_START, WHATSAPP_TEXT, X_DM, dumps, line_event

from omni_ingest_social.domain import MalformedPayload, ParsedDelivery, parse_line, parse_meta, parse_telegram, parse_x
from omni_ingest_social.domain._fields import MAX_DEPTH
from omni_schemas import new_event, to_record
from omni_schemas.envelope import MAX_EVENT_BYTES
from omni_schemas.events import MAX_ID_CHARS, MAX_TEXT_CHARS

NOW = datetime(2026, 11, 20, 1, 2, 3, tzinfo=UTC)


def _detect(text: str) -> str | None:
    return "en" if text.strip() else None  # the real detector is exercised elsewhere; this keeps the fuzz fast


def _parse(delivery: Delivery) -> ParsedDelivery:
    if delivery.provider == "line":
        return parse_line(delivery.body, received_at=NOW, detect=_detect)
    if delivery.provider == "meta":
        return parse_meta(delivery.body, received_at=NOW, detect=_detect)
    if delivery.provider == "telegram":
        return parse_telegram(delivery.body, bot="s0", received_at=NOW, detect=_detect)
    return parse_x(delivery.body, received_at=NOW, detect=_detect)


def _outcome(delivery: Delivery) -> ParsedDelivery | MalformedPayload:
    try:
        return _parse(delivery)
    except MalformedPayload as exc:
        return exc


@pytest.mark.parametrize("provider", ["line", "meta", "telegram", "x"])
def test_hostile_bodies_are_malformed_or_yield_consumable_events(provider: str) -> None:
    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(delivery=deliveries(provider))
    def check(delivery: Delivery) -> None:
        note(repr(delivery))
        parsed = _outcome(delivery)
        if isinstance(parsed, MalformedPayload):
            assert parsed.field
            assert parsed.message
            answer = {"field": parsed.field, "message": parsed.message}
            json.dumps(answer, ensure_ascii=False).encode("utf-8")  # as the 400 answer renders it
            return
        for routed in parsed.routed:
            assert_consumable(routed.message)
        for rejected in parsed.rejected:  # its dead letter fits an event
            assert len(rejected.item) <= 512 * 1024
            if "bytes kept" not in rejected.message:
                json.loads(rejected.item)

    check()


# --- the defects the fuzz found, one by one -------------------------------------------------------


def _line_with(message: dict[str, object], **event: object) -> bytes:
    return dumps({"events": [line_event("hello", event_id="01HLINE0001") | {"message": message} | event]})


def _line_text(**event: object) -> bytes:
    return dumps({"events": [line_event("hello", event_id="01HLINE0001") | event]})


def _whatsapp_with(**message: object) -> bytes:
    doc = json.loads(WHATSAPP_TEXT)
    doc["entry"][0]["changes"][0]["value"]["messages"][0].update(message)
    return dumps(doc)


def _messenger_with(**event: object) -> bytes:
    doc = json.loads(MESSENGER_TEXT)
    doc["entry"][0]["messaging"][0].update(event)
    return dumps(doc)


def _telegram_with(**message: object) -> bytes:
    doc = json.loads(TELEGRAM_START)
    doc["message"].update(message)
    return dumps(doc)


def _x_with(**event: object) -> bytes:
    doc = json.loads(X_DM)
    doc["direct_message_events"][0].update(event)
    return dumps(doc)


@pytest.mark.parametrize("digits", ["²", "¹⁴⁶²⁶²⁹⁴⁷⁹⁸⁵⁹", "١٤٦٢٦٢٩٤٧٩٨٥٩", "１４６２６２９４７９"])
@pytest.mark.parametrize(
    ("provider", "body_with", "field"),
    [
        ("line", lambda v: _line_text(timestamp=v), "events[0].timestamp"),
        ("meta", lambda v: _messenger_with(timestamp=v), "entry[0].messaging[0].timestamp"),
        ("meta", lambda v: _whatsapp_with(timestamp=v), "entry[0].changes[0].value.messages[0].timestamp"),
        ("telegram", lambda v: _telegram_with(date=v), "message.date"),
        ("x", lambda v: _x_with(created_timestamp=v), "direct_message_events[0].created_timestamp"),
    ],
)
def test_timestamp_of_non_ascii_digits_is_malformed_not_a_crash(
    provider: str, body_with: Callable[[str], bytes], field: str, digits: str
) -> None:
    with pytest.raises(MalformedPayload) as err:
        _parse(Delivery(provider, body_with(digits)))
    assert err.value.field == field


@pytest.mark.parametrize("sender", ["١٦٥٠٥٥٥١٢٣٤", "¹⁶⁵⁰⁵⁵⁵¹²³⁴", "１６５０５５５１２３４"])
def test_whatsapp_sender_of_non_ascii_digits_is_not_taken_for_a_phone_number(sender: str) -> None:
    with pytest.raises(MalformedPayload) as err:
        parse_meta(_whatsapp_with(**{"from": sender}), received_at=NOW, detect=_detect)
    assert err.value.field == "entry[0].changes[0].value.messages[0].from"


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("line", _line_with({"id": "1", "type": "file", "fileName": "a" * 600 + ".pdf", "fileSize": 3})),
        ("meta", _whatsapp_with(type="document", document={"filename": "a" * 600 + ".pdf"})),
        ("telegram", _telegram_with(document={"file_name": "a" * 600 + ".pdf", "file_size": 3})),
    ],
)
def test_file_name_longer_than_the_event_holds_is_trimmed_not_a_crash(provider: str, body: bytes) -> None:
    [routed] = _parse(Delivery(provider, body)).routed
    [attachment] = routed.message.attachments
    assert attachment.filename == "a" * MAX_ID_CHARS
    assert_consumable(routed.message)


@pytest.mark.parametrize(
    "photo",
    [
        [{"file_size": "big"}, {"file_size": 2000}],
        [{"file_size": 2000}, {"file_size": [1]}, {"file_size": None}],
        [{"file_size": True}, {"file_size": 1.5}],
    ],
)
def test_telegram_photo_sizes_of_other_types_are_unknown_sizes_not_a_crash(photo: list[object]) -> None:
    [routed] = parse_telegram(_telegram_with(photo=photo), bot="b", received_at=NOW, detect=_detect).routed
    [attachment] = routed.message.attachments
    numeric = [p["file_size"] for p in photo if type(p["file_size"]) is int]  # type: ignore[index]
    assert attachment.size_bytes == (max(numeric) if numeric else None)


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("provider", "body"),
    [  # each next to, or inside, an otherwise good item
        (
            "line",
            _line_text()[:-2]
            + b',{"type":"message","webhookEventId":"01HDEEP","source":'
            + _deep(1010).encode()
            + b"}]}",
        ),
        (
            "line",
            _line_with({"id": "1", "type": "location", "latitude": 0}).replace(b"0}", _deep(1010).encode() + b"}"),
        ),
        ("meta", _messenger_with(timestamp=0).replace(b'"timestamp":0', b'"timestamp":' + _deep(1010).encode())),
        (
            "telegram",
            _telegram_with(location={"latitude": 0}).replace(b'"latitude":0', b'"latitude":' + _deep(1010).encode()),
        ),
        (
            "x",
            _x_with(created_timestamp=0).replace(
                b'"created_timestamp":0', b'"created_timestamp":' + _deep(1010).encode()
            ),
        ),
    ],
)
def test_body_nested_deeper_than_any_provider_shape_is_malformed_not_a_recursion_error(
    provider: str, body: bytes
) -> None:
    assert body.count(b"[") >= 1010
    with pytest.raises(MalformedPayload) as err:
        _parse(Delivery(provider, body))
    assert err.value.field == "<body>"
    assert "nest" in err.value.message


def test_nesting_as_deep_as_a_provider_shape_still_parses() -> None:
    message = {"id": "1", "type": "text", "text": "hi", "extra": json.loads(_deep(MAX_DEPTH - 4))}
    [routed] = parse_line(_line_with(message), received_at=NOW, detect=_detect).routed
    assert routed.message.text == "hi"


@pytest.mark.parametrize(
    ("provider", "body", "field"),
    [
        ("line", _line_text(source={"type": "user", "userId": "U1\x00"}), "events[0]"),
        ("line", _line_with({"id": "1\x00", "type": "text", "text": "hi"}), "events[0]"),
        ("meta", _messenger_with(sender={"id": "PSID\x00"}), "entry[0].messaging[0]"),
        ("meta", _whatsapp_with(id="wamid.\x00"), "entry[0].changes[0].value.messages[0]"),
        ("telegram", _telegram_with(chat={"id": "1\x00"}), "message"),
        (
            "x",
            _x_with(message_create={"sender_id": "3\x00", "message_data": {"text": "hi"}}),
            "direct_message_events[0]",
        ),
    ],
)
def test_nul_in_an_id_is_malformed_not_published(provider: str, body: bytes, field: str) -> None:
    """PostgreSQL text cannot hold a NUL: an event keyed by such an id would poison the router."""
    with pytest.raises(MalformedPayload) as err:
        _parse(Delivery(provider, body))
    assert err.value.field == field
    assert "NUL" in err.value.message


def test_nul_in_free_text_is_dropped_from_the_event() -> None:
    body = _telegram_with(
        text="he\x00llo",
        **{"from": {"id": 1, "is_bot": False, "first_name": "Te\x00st"}},
        document={"file_name": "a\x00.pdf", "mime_type": "application/pdf\x00"},
    )
    [routed] = parse_telegram(body, bot="b", received_at=NOW, detect=_detect).routed
    message = routed.message
    assert (message.text, message.customer.display_name) == ("hello", "Test")
    assert (message.attachments[0].filename, message.attachments[0].content_type) == (
        "a.pdf",
        "application/octet-stream",
    )
    assert_consumable(message)


def test_media_url_with_a_control_character_is_dropped() -> None:
    doc = json.loads(MESSENGER_TEXT)
    doc["entry"][0]["messaging"][0]["message"]["attachments"] = [
        {"type": "image", "payload": {"url": "https://cdn.example/\x00i.jpg"}}
    ]
    [routed] = parse_meta(dumps(doc), received_at=NOW, detect=_detect).routed
    assert routed.message.attachments[0].url is None
    assert_consumable(routed.message)


def test_message_too_large_for_an_event_keeps_as_much_full_text_as_fits() -> None:
    """Under LINE's 1 MiB body limit, 240 000 emoji make an event of 1.2 MB, which Kafka refuses (and
    the consumers would): the full text is cut to fit instead, the text stays whole."""
    text = "😀" * 240_000
    [routed] = parse_line(
        _line_text(message={"id": "1", "type": "text", "text": text}), received_at=NOW, detect=_detect
    ).routed
    message = routed.message
    assert message.text == text[:MAX_TEXT_CHARS]
    assert message.full_text is not None
    assert len(message.text) < len(message.full_text) < len(text)
    assert text.startswith(message.full_text)
    record = to_record(new_event("omni.message.received.v1", message, source="/omni/ingest_social"))
    assert MAX_EVENT_BYTES - 16 * 1024 < len(record.value) <= MAX_EVENT_BYTES
    assert_consumable(message)


def test_message_too_large_for_an_event_even_without_full_text_is_malformed() -> None:
    doc = json.loads(MESSENGER_TEXT)
    urls = [{"type": "image", "payload": {"url": "https://cdn.example/" + "😀" * 4000}} for _ in range(100)]
    doc["entry"][0]["messaging"][0]["message"]["attachments"] = urls
    with pytest.raises(MalformedPayload) as err:
        parse_meta(dumps(doc), received_at=NOW, detect=_detect)
    assert err.value.field == "entry[0].messaging[0]"
    assert "too large" in err.value.message


def test_a_huge_malformed_item_is_set_aside_cut_to_what_a_dead_letter_holds() -> None:
    doc = json.loads(MESSENGER_TEXT)
    bad = {"sender": {"id": "S"}, "message": {"mid": None, "text": "x" * 2_000_000}}
    doc["entry"][0]["messaging"].append(bad)
    parsed = parse_meta(dumps(doc), received_at=NOW, detect=_detect)
    assert len(parsed.routed) == 1
    [rejected] = parsed.rejected
    assert rejected.field == "entry[0].messaging[1].message.mid"
    assert len(rejected.item) == 512 * 1024
    assert dumps(bad).startswith(rejected.item)
    assert f"{len(dumps(bad))} bytes" in rejected.message
