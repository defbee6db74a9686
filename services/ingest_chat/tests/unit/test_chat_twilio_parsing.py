"""Twilio inbound SMS/MMS/WhatsApp forms normalized into omni.message.received.v1 data."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode
from uuid import uuid4

import pytest
from chat_samples import SMS_BODY, sms_params

from omni_ingest_chat.domain.errors import MalformedInput
from omni_ingest_chat.domain.twilio_signature import group_params
from omni_ingest_chat.domain.twilio_sms import parse_form, parse_inbound_message
from omni_schemas import Channel, Provider

NOW = datetime(2026, 11, 20, 1, 2, 3, tzinfo=UTC)


def _parse(pairs: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    return parse_inbound_message(group_params(pairs), message_id=uuid4(), received_at=NOW)


def test_real_capture_parses_to_sms_message() -> None:
    result = parse_inbound_message(parse_form(SMS_BODY), message_id=uuid4(), received_at=NOW)
    m = result.message
    assert result.dedupe_key == "SMe287d7109a5a925f182f0e07fe5b223b"
    assert (m.channel, m.provider) == (Channel.SMS, Provider.TWILIO)
    assert m.provider_message_id == "SMe287d7109a5a925f182f0e07fe5b223b"
    assert m.customer.address == "+14133881111"
    assert m.thread_key == "sms:+14133881111:+12028831111"
    assert m.text == "Msg"
    assert m.attachments == []
    assert m.received_at == NOW


def test_japanese_sms_detected_as_japanese() -> None:
    m = _parse(sms_params(body="お世話になっております。注文番号1234の配送状況を教えてください。")).message
    assert m.language == "ja"
    assert m.text.startswith("お世話になっております")


def test_mms_media_become_attachments_in_order() -> None:
    media = [
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME111", "image/jpeg"),
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME222", "application/pdf"),
    ]
    m = _parse(sms_params(sid="MM0123456789abcdef0123456789abcdef", body="", media=media)).message
    assert [(a.url, a.content_type) for a in m.attachments] == media
    assert m.attachments[0].filename == "ME111"
    assert m.attachments[0].size_bytes is None
    assert m.text == ""
    assert m.language is None


def test_whatsapp_prefix_gives_whatsapp_channel_via_twilio() -> None:
    pairs = sms_params(
        from_="whatsapp:+819012345678",
        to="whatsapp:+14155238886",
        extra={"ProfileName": "Hanako", "WaId": "819012345678"},
    )
    m = _parse(pairs).message
    assert (m.channel, m.provider) == (Channel.WHATSAPP, Provider.TWILIO)
    assert m.customer.address == "+819012345678"
    assert m.customer.display_name == "Hanako"
    assert m.thread_key == "whatsapp:+819012345678:+14155238886"


def test_national_format_normalized_with_from_country() -> None:
    m = _parse(sms_params(from_="090-1234-5678")).message
    assert m.customer.address == "+819012345678"


def test_short_code_kept_as_our_number() -> None:
    assert _parse(sms_params(to="12345")).message.thread_key == "sms:+819012345678:12345"


def test_english_sms_detected_as_english() -> None:
    assert _parse(sms_params(body="Hi, my package has not arrived yet. Can you help?")).message.language == "en"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"MessageSid": None, "SmsMessageSid": None, "SmsSid": None}, "MessageSid"),
        ({"MessageSid": "not a sid!"}, "MessageSid"),
        ({"From": None}, "From"),
        ({"From": ""}, "From"),
        ({"To": None}, "To"),
        ({"From": "messenger:123"}, "From"),
        ({"NumMedia": "two"}, "NumMedia"),
        ({"NumMedia": "11"}, "NumMedia"),
        ({"NumMedia": "1"}, "MediaUrl0"),
    ],
)
def test_malformed_forms_name_the_field(change: dict[str, str | None], field: str) -> None:
    pairs = [(k, v) for k, v in sms_params() if k not in change]
    pairs += [(k, v) for k, v in change.items() if v is not None]
    with pytest.raises(MalformedInput) as info:
        _parse(pairs)
    assert info.value.field == field


def test_whatsapp_to_sms_number_mismatch_is_malformed() -> None:
    with pytest.raises(MalformedInput, match="To"):
        _parse(sms_params(from_="whatsapp:+819012345678", to="+15005550006"))


def test_form_with_invalid_utf8_is_malformed() -> None:
    with pytest.raises(MalformedInput):
        parse_form(b"Body=%FF%FE&From=%2B1")
    with pytest.raises(MalformedInput):
        parse_form("Body=日本".encode())


def test_form_keeps_repeated_and_blank_values() -> None:
    params = parse_form(urlencode([("A", "1"), ("A", "2"), ("B", "")]).encode())
    assert params == {"A": ["1", "2"], "B": [""]}


def test_status_callbacks_are_recognized_and_inbound_messages_are_not() -> None:
    from omni_ingest_chat.domain.twilio_sms import is_status_callback

    assert is_status_callback(group_params([("MessageSid", "SM1"), ("MessageStatus", "delivered")]))
    assert not is_status_callback(group_params(sms_params()))
    assert not is_status_callback(parse_form(SMS_BODY))
