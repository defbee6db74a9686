"""Documented provider payloads beyond the reference samples: what each one must become."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from social_samples import JA_DELIVERY, WHATSAPP_TEXT, dumps

from omni_ingest_social.domain import MalformedPayload, detect_language, parse_line, parse_meta, parse_telegram, parse_x

NOW = datetime(2026, 11, 20, 1, 2, 3, tzinfo=UTC)
KW = {"received_at": NOW, "detect": detect_language}
NUMBER_ID = "106540352242922"


def _whatsapp(message: dict[str, Any], *, contacts: list[dict[str, Any]] | None = None) -> bytes:
    base = {"from": "16505551234", "id": "wamid.P1", "timestamp": "1749416383"}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER_ID},
        "contacts": contacts if contacts is not None else [{"profile": {"name": "Sheena"}, "wa_id": "16505551234"}],
        "messages": [{k: v for k, v in {**base, **message}.items() if v is not None}],
    }
    return dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
        }
    )


@pytest.mark.parametrize("kind", ["unsupported", "unknown", "ephemeral"])
def test_whatsapp_message_the_api_cannot_show_is_routed_marked_unsupported(kind: str) -> None:
    """A poll, a view-once photo, a newer client's message: the customer still waits for an answer."""
    error = {"code": 131051, "title": "Message type unknown", "message": "Message type unknown"}
    body = _whatsapp({"type": kind, "errors": [{**error, "error_data": {"details": "not supported"}}]})
    parsed = parse_meta(body, **KW)
    assert parsed.ignored == {}
    [routed] = parsed.routed
    assert routed.message.text == ""
    assert [a.content_type for a in routed.message.attachments] == ["application/x-unsupported"]
    assert routed.message.thread_key == f"whatsapp:{NUMBER_ID}:16505551234"


def test_whatsapp_reactions_and_system_notices_are_not_customer_messages() -> None:
    reaction = _whatsapp({"type": "reaction", "reaction": {"message_id": "wamid.Y", "emoji": "👍"}})
    system = _whatsapp({"type": "system", "system": {"body": "changed number", "type": "user_changed_number"}})
    assert (parse_meta(reaction, **KW).routed, parse_meta(reaction, **KW).ignored) == ((), {"reaction": 1})
    assert (parse_meta(system, **KW).routed, parse_meta(system, **KW).ignored) == ((), {"system": 1})


def test_instagram_unsupported_message_is_routed_marked_unsupported() -> None:
    event = {
        "sender": {"id": "1234567890"},
        "recipient": {"id": "17841400000000000"},
        "timestamp": 1700000000000,
        "message": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3", "is_unsupported": True},
    }
    body = dumps({"object": "instagram", "entry": [{"id": "17841400000000000", "time": 1, "messaging": [event]}]})
    [routed] = parse_meta(body, **KW).routed
    assert [a.content_type for a in routed.message.attachments] == ["application/x-unsupported"]
    assert routed.message.channel == "instagram"


def test_whatsapp_user_with_a_username_is_threaded_on_the_business_scoped_user_id() -> None:
    bsuid = "US.13491208655302741918"
    body = _whatsapp(
        {"from": None, "from_user_id": bsuid, "type": "text", "text": {"body": JA_DELIVERY}},
        contacts=[{"profile": {"name": "Bob", "username": "@bob"}, "user_id": bsuid}],
    )
    [routed] = parse_meta(body, **KW).routed
    assert routed.message.thread_key == f"whatsapp:{NUMBER_ID}:{bsuid}"
    assert routed.message.customer.address == bsuid
    assert routed.message.customer.display_name == "Bob"
    assert routed.message.text == JA_DELIVERY


def test_whatsapp_bsuid_beside_a_phone_number_keeps_the_phone_thread() -> None:
    body = _whatsapp(
        {"from_user_id": "IN.1410018717833190", "type": "text", "text": {"body": "Hey"}},
        contacts=[{"profile": {"name": "Krish"}, "wa_id": "16505551234", "user_id": "IN.1410018717833190"}],
    )
    [routed] = parse_meta(body, **KW).routed
    assert routed.message.thread_key == f"whatsapp:{NUMBER_ID}:16505551234"
    assert routed.message.customer.address == "+16505551234"
    assert routed.message.customer.display_name == "Krish"


def test_whatsapp_sender_without_phone_or_user_id_names_the_field() -> None:
    with pytest.raises(MalformedPayload) as info:
        parse_meta(_whatsapp({"from": None, "type": "text", "text": {"body": "x"}}), **KW)
    assert info.value.field == "entry[0].changes[0].value.messages[0].from"


def test_whatsapp_order_keeps_the_customers_text() -> None:
    order = {"catalog_id": "1", "text": "Can you deliver by Friday?", "product_items": []}
    [routed] = parse_meta(_whatsapp({"type": "order", "order": order}), **KW).routed
    assert routed.message.text == "Can you deliver by Friday?"
    assert [a.content_type for a in routed.message.attachments] == ["application/x-order"]


def test_whatsapp_sample_still_routes_with_its_phone_number() -> None:
    [routed] = parse_meta(WHATSAPP_TEXT, **KW).routed
    assert routed.message.customer.address == "+16505551234"


def _line(message: dict[str, Any]) -> bytes:
    event = {
        "type": "message",
        "mode": "active",
        "timestamp": 1462629479859,
        "source": {"type": "user", "userId": "U206d25c2ea6bd87c17655609a1c37cb8"},
        "webhookEventId": "01HLOC",
        "deliveryContext": {"isRedelivery": False},
        "replyToken": "r",
        "message": message,
    }
    return dumps({"destination": "U123", "events": [event]})


def test_line_location_without_title_or_address_keeps_its_coordinates() -> None:
    body = _line({"id": "1", "type": "location", "latitude": 35.65910807942215, "longitude": 139.70372892916203})
    [routed] = parse_line(body, **KW).routed
    assert routed.message.text == "location 35.65910807942215,139.70372892916203"


def test_line_message_sticker_keeps_the_text_typed_on_it() -> None:
    sticker = {
        "id": "2",
        "type": "sticker",
        "packageId": "789",
        "stickerId": "10855",
        "stickerResourceType": "MESSAGE",
        "keywords": ["Hang out"],
        "text": "今週末に会いましょう",
    }
    [routed] = parse_line(_line(sticker), **KW).routed
    assert routed.message.text == "今週末に会いましょう"
    assert routed.message.language == "ja"
    assert [a.content_type for a in routed.message.attachments] == ["image/x-line-sticker"]


USER = {"id": 2222222, "is_bot": False, "first_name": "花子"}
GROUP = {"id": -1001234567890, "title": "Support", "type": "supergroup"}


def _telegram(key: str = "message", **message: Any) -> bytes:
    base = {"message_id": 7, "from": USER, "chat": GROUP, "date": 1700000000}
    return dumps({"update_id": 42, key: {**base, **message}})


@pytest.mark.parametrize(
    "service",
    [
        {"new_chat_members": [USER], "new_chat_member": USER, "new_chat_participant": USER},
        {"left_chat_member": USER, "left_chat_participant": USER},
        {"pinned_message": {"message_id": 1, "chat": GROUP, "date": 1, "text": "Opening hours"}},
        {"new_chat_title": "Support JP"},
        {"migrate_to_chat_id": -1009999999999},
        {"forum_topic_created": {"name": "Billing", "icon_color": 7322096}},
    ],
)
def test_telegram_service_messages_are_not_customer_messages(service: dict[str, Any]) -> None:
    parsed = parse_telegram(_telegram(**service), bot="b", **KW)
    assert parsed.routed == ()
    assert parsed.ignored == {"service_message": 1}


def test_telegram_channel_post_forwarded_into_its_discussion_group_is_ignored() -> None:
    body = _telegram(
        **{"from": {"id": 777000, "is_bot": False, "first_name": "Telegram"}},
        sender_chat={"id": -1005555555555, "title": "News", "type": "channel"},
        is_automatic_forward=True,
        text="New opening hours from Monday",
    )
    parsed = parse_telegram(body, bot="b", **KW)
    assert parsed.routed == ()
    assert parsed.ignored == {"automatic_forward": 1}


def test_telegram_live_location_is_routed_once_and_its_updates_ignored() -> None:
    place = {"latitude": 35.681236, "longitude": 139.767125, "live_period": 900}
    [first] = parse_telegram(_telegram(location=place), bot="b", **KW).routed
    assert first.message.text == "location 35.681236,139.767125"
    moved = parse_telegram(_telegram("edited_message", location=place, edit_date=1700000030), bot="b", **KW)
    assert moved.routed == ()
    assert moved.ignored == {"live_location": 1}


def test_telegram_venue_and_contact_keep_their_content() -> None:
    venue = {
        "location": {"latitude": 35.681236, "longitude": 139.767125},
        "title": "東京駅",
        "address": "東京都千代田区丸の内1丁目",
    }
    [shared] = parse_telegram(_telegram(location=venue["location"], venue=venue), bot="b", **KW).routed
    assert shared.message.text == "東京駅\n東京都千代田区丸の内1丁目"
    contact = {"phone_number": "+819012345678", "first_name": "Taro", "user_id": 3333333}
    [card] = parse_telegram(_telegram(contact=contact), bot="b", **KW).routed
    assert [a.content_type for a in card.message.attachments] == ["text/vcard"]
    assert card.message.text == "Taro +819012345678"


def test_telegram_message_without_text_or_files_says_what_it_carried() -> None:
    poll = {
        "id": "5",
        "question": "どちらがいいですか？",
        "options": [{"text": "A", "voter_count": 0}],
        "type": "regular",
    }
    [asked] = parse_telegram(_telegram(poll=poll), bot="b", **KW).routed
    assert (asked.message.text, [a.content_type for a in asked.message.attachments]) == (
        "どちらがいいですか？",
        ["application/x-poll"],
    )
    [rolled] = parse_telegram(_telegram(dice={"emoji": "🎲", "value": 3}), bot="b", **KW).routed
    assert [a.content_type for a in rolled.message.attachments] == ["application/x-dice"]
    [newer] = parse_telegram(_telegram(some_future_content={"x": 1}), bot="b", **KW).routed
    assert [a.content_type for a in newer.message.attachments] == ["application/x-unsupported"]


def test_telegram_media_carry_the_file_id_getfile_takes() -> None:
    sizes = [
        {"file_id": f"AgAC-{w}", "file_unique_id": f"u{w}", "width": w, "height": w, "file_size": w * 10}
        for w in (90, 320, 1280)
    ]
    [photo] = parse_telegram(_telegram(photo=sizes, caption="壊れていました"), bot="b", **KW).routed
    [attachment] = photo.message.attachments
    assert (attachment.media_id, attachment.size_bytes) == ("AgAC-1280", 12800)
    voice = {"file_id": "AwACAgUAAxkBAAI", "file_unique_id": "v", "duration": 3, "mime_type": "audio/ogg"}
    [spoken] = parse_telegram(_telegram(voice=voice), bot="b", **KW).routed
    assert [(a.content_type, a.media_id) for a in spoken.message.attachments] == [("audio/ogg", "AwACAgUAAxkBAAI")]


def test_whatsapp_media_carry_the_media_id_and_contacts_their_numbers() -> None:
    url = "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1003383421387256&ext=1749416383"
    image = {
        "caption": "届いた箱です",
        "mime_type": "image/jpeg",
        "sha256": "abc",
        "id": "1003383421387256",
        "url": url,
    }
    [routed] = parse_meta(_whatsapp({"type": "image", "image": image}), **KW).routed
    assert [(a.content_type, a.media_id, a.url) for a in routed.message.attachments] == [
        ("image/jpeg", "1003383421387256", url)
    ]
    assert routed.message.text == "届いた箱です"
    cards = [
        {"name": {"formatted_name": "Jane Doe", "first_name": "Jane"}, "phones": [{"phone": "+1 650 555 1234"}]},
        {"name": {"formatted_name": "山田 太郎"}, "phones": [{"phone": "+81 90 1234 5678", "type": "CELL"}]},
    ]
    [shared] = parse_meta(_whatsapp({"type": "contacts", "contacts": cards}), **KW).routed
    assert shared.message.text == "Jane Doe +1 650 555 1234\n山田 太郎 +81 90 1234 5678"
    assert [a.content_type for a in shared.message.attachments] == ["text/vcard"]


def test_whatsapp_media_id_that_cannot_be_carried_is_dropped_not_the_message() -> None:
    image = {"mime_type": "image/jpeg", "id": "x" * 600}
    [routed] = parse_meta(_whatsapp({"type": "image", "image": image}), **KW).routed
    assert [(a.content_type, a.media_id) for a in routed.message.attachments] == [("image/jpeg", None)]


def test_line_media_carry_the_message_id_or_the_external_url() -> None:
    hosted = {"type": "image", "id": "354718705033693859", "contentProvider": {"type": "line"}}
    [routed] = parse_line(_line(hosted), **KW).routed
    [attachment] = routed.message.attachments
    assert (attachment.media_id, attachment.url) == ("354718705033693859", None)
    external = {
        "type": "video",
        "id": "325708",
        "duration": 60000,
        "contentProvider": {
            "type": "external",
            "originalContentUrl": "https://example.com/original.mp4",
            "previewImageUrl": "https://example.com/preview.jpg",
        },
    }
    [routed] = parse_line(_line(external), **KW).routed
    [attachment] = routed.message.attachments
    assert (attachment.content_type, attachment.media_id, attachment.url) == (
        "video/*",
        "325708",
        "https://example.com/original.mp4",
    )


def test_telegram_animation_is_one_attachment_not_two() -> None:
    gif = {"file_id": "a", "file_unique_id": "u", "file_name": "cat.mp4", "mime_type": "video/mp4", "file_size": 9}
    body = _telegram(animation={**gif, "width": 1, "height": 1, "duration": 1}, document=gif, caption="見て")
    [routed] = parse_telegram(body, bot="b", **KW).routed
    assert [(a.filename, a.content_type) for a in routed.message.attachments] == [("cat.mp4", "video/mp4")]
    assert routed.message.text == "見て"


def test_telegram_document_without_animation_is_still_an_attachment() -> None:
    doc = {"file_id": "a", "file_unique_id": "u", "file_name": "見積書.pdf", "mime_type": "application/pdf"}
    [routed] = parse_telegram(_telegram(document=doc), bot="b", **KW).routed
    assert [(a.filename, a.content_type) for a in routed.message.attachments] == [("見積書.pdf", "application/pdf")]


def test_x_revoke_user_event_without_for_user_id_is_ignored_not_rejected() -> None:
    body = (
        b'{"user_event":{"revoke":{"date_time":"2018-05-24T09:48:12+00:00",'
        b'"target":{"app_id":"13090192"},"source":{"user_id":"63046977"}}}}'
    )
    parsed = parse_x(body, **KW)
    assert parsed.routed == ()
    assert parsed.ignored == {"user_event": 1}
