from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from social_samples import (
    JA_BILLING,
    JA_DELIVERY,
    LINE_TEXT,
    MESSENGER_TEXT,
    TELEGRAM_START,
    WHATSAPP_TEXT,
    X_DM,
    dumps,
    line_event,
    line_follow,
    messenger_batch,
    whatsapp_batch,
)

from omni_ingest_social.domain import (
    MalformedPayload,
    detect_language,
    parse_line,
    parse_meta,
    parse_telegram,
    parse_x,
)
from omni_schemas import Channel, Provider

NOW = datetime(2026, 11, 20, 1, 2, 3, tzinfo=UTC)
KW = {"received_at": NOW, "detect": detect_language}


def test_whatsapp_sample_text_message() -> None:
    parsed = parse_meta(WHATSAPP_TEXT, **KW)
    [routed] = parsed.routed
    m = routed.message
    assert (m.channel, m.provider) == (Channel.WHATSAPP, Provider.META)
    assert m.provider_message_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    assert routed.dedupe_key == m.provider_message_id
    assert m.customer.address == "+16505551234"
    assert m.customer.display_name == "Sheena Nelson"
    assert m.thread_key == "whatsapp:106540352242922:16505551234"
    assert m.text == "Does it come in another color?"
    assert m.language == "en"
    assert m.sent_at == datetime.fromtimestamp(1749416383, UTC)
    assert m.received_at == NOW
    assert parsed.ignored == {}


def test_messenger_sample_text_message() -> None:
    [routed] = parse_meta(MESSENGER_TEXT, **KW).routed
    m = routed.message
    assert m.channel is Channel.MESSENGER
    assert m.provider_message_id == "mid.1457764197618:41d102a3e1ae206a38"
    assert m.customer.address == "<PSID>"
    assert m.thread_key == "messenger:<PAGE_ID>:<PSID>"
    assert m.text == "hello, world!"
    assert m.sent_at == datetime.fromtimestamp(1457764197.627, UTC)


def test_instagram_uses_the_same_shape_with_its_own_channel() -> None:
    body = MESSENGER_TEXT.replace(b'"object":"page"', b'"object":"instagram"')
    [routed] = parse_meta(body, **KW).routed
    assert routed.message.channel is Channel.INSTAGRAM
    assert routed.message.thread_key == "instagram:<PAGE_ID>:<PSID>"


def test_messenger_batch_routes_every_customer_message_and_ignores_echo_and_receipts() -> None:
    parsed = parse_meta(messenger_batch(), **KW)
    assert [r.message.provider_message_id for r in parsed.routed] == ["m_1", "m_2"]
    assert parsed.ignored == {"echo": 1, "read": 1, "delivery": 1}
    first, second = (r.message for r in parsed.routed)
    assert first.text == JA_BILLING
    assert first.language == "ja"
    assert second.language == "en"
    assert [(a.content_type, a.url) for a in second.attachments] == [("image/*", "https://cdn.example/i.jpg")]


def test_whatsapp_batch_routes_text_and_media_and_ignores_statuses() -> None:
    parsed = parse_meta(whatsapp_batch(), **KW)
    texts = [(r.message.text, r.message.language) for r in parsed.routed]
    assert texts == [(JA_DELIVERY, "ja"), ("箱が壊れていました", "ja")]
    assert parsed.routed[1].message.attachments[0].content_type == "image/jpeg"
    assert {r.message.customer.display_name for r in parsed.routed} == {"山田 花子"}
    assert {r.message.customer.address for r in parsed.routed} == {"+819012345678"}
    assert parsed.ignored == {"status": 1}


def test_whatsapp_status_only_delivery_routes_nothing() -> None:
    body = dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "1",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "metadata": {"phone_number_id": "106540352242922"},
                                "statuses": [{"id": "wamid.X", "status": "read"}, {"id": "wamid.Y", "status": "sent"}],
                            },
                        }
                    ],
                }
            ],
        }
    )
    parsed = parse_meta(body, **KW)
    assert parsed.routed == ()
    assert parsed.ignored == {"status": 2}


def test_whatsapp_group_message_threads_on_the_group() -> None:
    body = WHATSAPP_TEXT.replace(b'"type":"text"', b'"group_id":"120363000000000001","type":"text"')
    [routed] = parse_meta(body, **KW).routed
    assert routed.message.thread_key == "whatsapp:106540352242922:group:120363000000000001"
    assert routed.message.customer.address == "+16505551234"


def test_meta_unknown_object_is_ignored_not_rejected() -> None:
    parsed = parse_meta(b'{"object":"permissions","entry":[{"id":"1","changes":[]}]}', **KW)
    assert parsed.routed == ()
    assert parsed.ignored == {"unsupported_object": 1}


def test_line_sample_text_event() -> None:
    [routed] = parse_line(LINE_TEXT, **KW).routed
    m = routed.message
    assert routed.dedupe_key == "testwebhookeventid"
    assert (m.channel, m.provider, m.provider_message_id) == (Channel.LINE, Provider.LINE, "325708")
    assert m.thread_key == "line:U206d25c2ea6bd87c17655609a1c37cb8"
    assert m.customer.address == "U206d25c2ea6bd87c17655609a1c37cb8"
    assert m.text == "Hello, world"
    assert m.language == "en"


def test_line_several_events_route_only_messages_and_count_the_rest() -> None:
    body = dumps(
        {
            "destination": "U123",
            "events": [
                line_event(JA_BILLING, event_id="E1", message_id="1"),
                line_follow("E2"),
                {
                    "type": "unfollow",
                    "mode": "active",
                    "timestamp": 1,
                    "source": {"type": "user", "userId": "U9"},
                    "webhookEventId": "E3",
                },
                line_event("Thanks!", event_id="E4", message_id="2"),
                {"type": "somethingNew", "webhookEventId": "E5"},
            ],
        }
    )
    parsed = parse_line(body, **KW)
    assert [(r.dedupe_key, r.message.language) for r in parsed.routed] == [("E1", "ja"), ("E4", "en")]
    assert parsed.ignored == {"follow": 1, "unfollow": 1, "unsupported_event": 1}


def test_line_group_message_threads_on_the_group() -> None:
    event = line_event("hi all", event_id="G1")
    event["source"] = {"type": "group", "groupId": "Cgroup1", "userId": "Uuser1"}
    [routed] = parse_line(dumps({"events": [event]}), **KW).routed
    assert routed.message.thread_key == "line:Cgroup1"
    assert routed.message.customer.address == "Uuser1"


def test_line_image_message_is_an_attachment_without_text() -> None:
    event = line_event("", event_id="I1")
    event["message"] = {"id": "77", "type": "file", "fileName": "見積書.pdf", "fileSize": 2048}
    [routed] = parse_line(dumps({"events": [event]}), **KW).routed
    [attachment] = routed.message.attachments
    assert (attachment.filename, attachment.size_bytes) == ("見積書.pdf", 2048)
    assert routed.message.text == ""
    assert routed.message.language is None


def test_line_console_verify_with_no_events_routes_nothing() -> None:
    parsed = parse_line(b'{"destination":"U123","events":[]}', **KW)
    assert parsed.routed == ()
    assert parsed.ignored == {}


def test_telegram_sample_update() -> None:
    [routed] = parse_telegram(TELEGRAM_START, bot="bot1", **KW).routed
    m = routed.message
    assert routed.dedupe_key == "bot1:10000"
    assert (m.channel, m.provider) == (Channel.TELEGRAM, Provider.TELEGRAM)
    assert m.provider_message_id == "1111111:1365"
    assert m.thread_key == "telegram:1111111"
    assert m.customer.address == "1111111"
    assert m.customer.display_name == "Test Test Lastname"
    assert m.text == "/start"
    assert m.sent_at == datetime.fromtimestamp(1441645532, UTC)


def test_telegram_update_id_is_scoped_by_bot() -> None:
    a = parse_telegram(TELEGRAM_START, bot="bot1", **KW).routed[0]
    b = parse_telegram(TELEGRAM_START, bot="bot2", **KW).routed[0]
    assert a.dedupe_key != b.dedupe_key


def test_telegram_edited_message_and_japanese_text() -> None:
    body = dumps(
        {
            "update_id": 10001,
            "edited_message": {
                "message_id": 1366,
                "date": 1441645532,
                "edit_date": 1441645600,
                "chat": {"id": -1001234567890123, "type": "supergroup"},
                "from": {"id": 2222222, "is_bot": False, "first_name": "花子"},
                "text": JA_DELIVERY,
            },
        }
    )
    [routed] = parse_telegram(body, bot="b", **KW).routed
    assert routed.message.thread_key == "telegram:-1001234567890123"
    assert routed.message.language == "ja"
    assert routed.message.sent_at == datetime.fromtimestamp(1441645600, UTC)


def test_telegram_other_updates_are_ignored_by_kind() -> None:
    parsed = parse_telegram(b'{"update_id":5,"callback_query":{"id":"1"}}', bot="b", **KW)
    assert parsed.routed == ()
    assert parsed.ignored == {"callback_query": 1}


def test_x_sample_direct_message() -> None:
    [routed] = parse_x(X_DM, **KW).routed
    m = routed.message
    assert (m.channel, m.provider, m.provider_message_id) == (Channel.X, Provider.X, "954491830116155396")
    assert m.customer.address == "3001969357"
    assert m.customer.display_name == "Jordan Brinks"
    assert m.thread_key == "x:4337869213:3001969357"
    assert m.text == "Hello World!"
    assert m.sent_at == datetime.fromtimestamp(1516403560.557, UTC)


def test_x_own_outgoing_dm_and_indicators_are_not_routed() -> None:
    body = X_DM.replace(b'"sender_id":"3001969357"', b'"sender_id":"4337869213"')
    body = body[:-1] + b',"direct_message_indicate_typing_events":[{"created_timestamp":"1"}]}'
    parsed = parse_x(body, **KW)
    assert parsed.routed == ()
    assert parsed.ignored == {"own_message": 1, "typing": 1}


@pytest.mark.parametrize(
    ("parse", "body", "field"),
    [
        (parse_meta, b"not json", "<body>"),
        (parse_meta, b"[]", "<body>"),
        (parse_meta, b'{"object":"page"}', "entry"),
        (
            parse_meta,
            b'{"object":"page","entry":[{"id":"1","messaging":[{"message":{"mid":"m"}}]}]}',
            "entry[0].messaging[0].sender",
        ),
        (
            parse_meta,
            b'{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"s"},"message":{}}]}]}',
            "entry[0].messaging[0].message.mid",
        ),
        (
            parse_meta,
            WHATSAPP_TEXT.replace(b'"from":"16505551234"', b'"from":"abc"'),
            "entry[0].changes[0].value.messages[0].from",
        ),
        (parse_line, b'{"destination":"U1"}', "events"),
        (parse_line, b'{"events":[{"type":"message","source":{"type":"user"}}]}', "events[0].source.userId"),
        (parse_x, b'{"direct_message_events":[]}', "for_user_id"),
    ],
)
def test_malformed_deliveries_name_the_field(parse, body: bytes, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MalformedPayload) as info:
        parse(body, **KW)
    assert info.value.field == field


def test_malformed_telegram_update_names_update_id() -> None:
    with pytest.raises(MalformedPayload) as info:
        parse_telegram(b'{"message":{}}', bot="b", **KW)
    assert info.value.field == "update_id"


def test_overlong_text_is_truncated_and_kept_in_full_text() -> None:
    body = dumps({"events": [line_event("あ" * 70_000, event_id="L1")]})
    [routed] = parse_line(body, **KW).routed
    assert len(routed.message.text) == 64 * 1024
    assert routed.message.full_text is not None
    assert len(routed.message.full_text) == 70_000


@pytest.mark.parametrize(
    ("text", "language"),
    [(JA_BILLING, "ja"), ("こんにちは", "ja"), ("Does it come in another color?", "en"), ("123", None), ("😀", None)],
)
def test_language_of_short_texts(text: str, language: str | None) -> None:
    assert detect_language(text) == language


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(doc=json_values, kind=st.sampled_from(["page", "instagram", "whatsapp_business_account"]))
def test_arbitrary_json_either_parses_or_fails_as_malformed(doc: object, kind: str) -> None:
    bodies = [
        dumps(doc),
        dumps({"object": kind, "entry": [doc]}),
        dumps({"events": [doc]}),
        dumps({"update_id": 1, "message": doc}),
        dumps({"for_user_id": "1", "direct_message_events": [doc]}),
    ]
    for body in bodies:
        for parse in (parse_meta, parse_line, parse_x):
            try:
                parse(body, **KW)
            except MalformedPayload:
                pass
        try:
            parse_telegram(body, bot="b", **KW)
        except MalformedPayload:
            pass


def _paths(doc: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found += _paths(v, (*prefix, i))
    return found


def _replace(doc: object, path: tuple[object, ...], value: object) -> object:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {**doc, head: _replace(doc[head], rest, value)}
    assert isinstance(doc, list)
    return [_replace(v, rest, value) if i == head else v for i, v in enumerate(doc)]


SAMPLES = [
    (parse_meta, messenger_batch()),
    (parse_meta, whatsapp_batch()),
    (parse_line, LINE_TEXT),
    (parse_x, X_DM),
    (lambda body, **kw: parse_telegram(body, bot="b", **kw), TELEGRAM_START),
]


@settings(max_examples=200, deadline=None)
@given(sample=st.sampled_from(SAMPLES), pick=st.integers(min_value=0), value=json_values)
def test_any_field_of_a_real_sample_replaced_by_any_json_parses_or_fails_as_malformed(
    sample: tuple[object, bytes], pick: int, value: object
) -> None:
    import json

    parse, body = sample
    doc = json.loads(body)
    paths = _paths(doc)
    mutated = dumps(_replace(doc, paths[pick % len(paths)], value))
    try:
        parsed = parse(mutated, **KW)  # type: ignore[operator]
    except MalformedPayload as exc:
        assert exc.field  # noqa: PT017
        return
    for routed in parsed.routed:
        assert routed.dedupe_key
        assert routed.message.thread_key


def test_one_malformed_event_in_a_line_batch_is_set_aside_and_the_others_still_parse() -> None:
    broken = {"type": "message", "webhookEventId": "01HBAD", "source": {"type": "user"}, "message": {"id": "1"}}
    body = dumps(
        {
            "events": [
                line_event(JA_BILLING, event_id="01HGOOD1", message_id="1001"),
                broken,
                line_follow("01HFOLLOW"),
                line_event("hello", event_id="01HGOOD2", message_id="1002"),
            ]
        }
    )
    parsed = parse_line(body, **KW)
    assert [r.message.provider_message_id for r in parsed.routed] == ["1001", "1002"]
    assert parsed.ignored == {"follow": 1}
    [rejected] = parsed.rejected
    assert rejected.field == "events[1].source.userId"
    assert "events[1].source.userId" in rejected.message
    assert json.loads(rejected.item) == broken


def test_a_malformed_whatsapp_message_leaves_its_neighbours_and_nothing_of_itself() -> None:
    doc = json.loads(whatsapp_batch())
    messages = doc["entry"][0]["changes"][0]["value"]["messages"]
    messages.insert(1, {"from": "not-a-number", "id": "wamid.BAD", "timestamp": "1749416383", "type": "text"})
    parsed = parse_meta(dumps(doc), **KW)
    assert [r.message.provider_message_id for r in parsed.routed] == ["wamid.A", "wamid.B"]
    [rejected] = parsed.rejected
    assert rejected.field == "entry[0].changes[0].value.messages[1].from"
    assert json.loads(rejected.item)["id"] == "wamid.BAD"
    assert parse_meta(whatsapp_batch(), **KW).ignored == parsed.ignored  # the bad message counted nowhere else


def test_a_malformed_envelope_still_refuses_the_whole_delivery() -> None:
    with pytest.raises(MalformedPayload) as err:
        parse_line(b'{"events": {"type": "message"}}', **KW)
    assert err.value.field == "events"
