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


# A status callback Twilio posts for an outbound message sent through a Messaging Service: it
# carries the outbound Body (shape of a real capture; sids and numbers replaced).
STATUS_CALLBACK_WITH_BODY = (
    b"ApiVersion=2010-04-01&MessagingServiceSid=MG00000000000000000000000000000000&MessageStatus=delivered"
    b"&SmsSid=SM11111111111111111111111111111111&SmsStatus=delivered&From=%2B15005550006&To=%2B819012345678"
    b"&MessageSid=SM11111111111111111111111111111111&Body=Activity+recorded+right%3F"
    b"&AccountSid=AC00000000000000000000000000000000"
)
# A WhatsApp read receipt (shape of a real capture).
WHATSAPP_READ_CALLBACK = (
    b"EventType=READ&SmsSid=SM22222222222222222222222222222222&SmsStatus=read&MessageStatus=read"
    b"&ChannelToAddress=%2B819012345678&To=whatsapp%3A%2B819012345678&ChannelPrefix=whatsapp"
    b"&MessageSid=SM22222222222222222222222222222222&AccountSid=AC00000000000000000000000000000000"
    b"&From=whatsapp%3A%2B14155238886&ApiVersion=2010-04-01"
)
# A WhatsApp location pin via Twilio (shape of a real capture): the Body is empty.
WHATSAPP_LOCATION = (
    b"To=whatsapp%3A%2B14155238886&Body=&From=whatsapp%3A%2B819012345678&WaId=819012345678"
    b"&Latitude=35.681236&Longitude=139.767125&NumMedia=0&MessageSid=SM33333333333333333333333333333333"
    b"&MessageType=location&ProfileName=Hanako&SmsStatus=received"
)


@pytest.mark.parametrize("body", [STATUS_CALLBACK_WITH_BODY, WHATSAPP_READ_CALLBACK], ids=["sms-with-body", "wa-read"])
def test_status_callbacks_are_recognized_even_when_they_carry_the_outbound_body(body: bytes) -> None:
    from omni_ingest_chat.domain.twilio_sms import is_status_callback

    assert is_status_callback(parse_form(body))


@pytest.mark.parametrize("status", ["received", "Received", "receiving", None])
def test_inbound_messages_are_not_status_callbacks(status: str | None) -> None:
    from omni_ingest_chat.domain.twilio_sms import is_status_callback

    pairs = [(k, v) for k, v in sms_params() if k != "SmsStatus"]
    if status is not None:
        pairs.append(("SmsStatus", status))
    assert not is_status_callback(group_params(pairs))


def test_whatsapp_location_pin_is_kept_as_text() -> None:
    m = parse_inbound_message(parse_form(WHATSAPP_LOCATION), message_id=uuid4(), received_at=NOW).message
    assert m.channel == Channel.WHATSAPP
    assert m.text == "Location: 35.681236, 139.767125"
    assert m.language is None  # the customer wrote nothing


def test_whatsapp_location_with_label_and_address_keeps_them() -> None:
    pairs = sms_params(
        from_="whatsapp:+819012345678",
        to="whatsapp:+14155238886",
        body="",
        extra={
            "Latitude": "35.681236",
            "Longitude": "139.767125",
            "Label": "東京駅",
            "Address": "東京都千代田区丸の内1丁目",
        },
    )
    assert _parse(pairs).message.text == "Location: 35.681236, 139.767125 (東京駅, 東京都千代田区丸の内1丁目)"


@pytest.mark.parametrize(
    ("latitude", "longitude"), [("", "139.7"), ("abc", "139.7"), ("91", "139.7"), ("35.6", "181"), ("nan", "1")]
)
def test_unusable_coordinates_add_no_location(latitude: str, longitude: str) -> None:
    pairs = sms_params(body="こんにちは", extra={"Latitude": latitude, "Longitude": longitude})
    assert _parse(pairs).message.text == "こんにちは"


def test_nul_is_dropped_from_text_and_refused_in_an_address() -> None:
    # a form may carry %00; consumers keep texts and ids in PostgreSQL, which holds no NUL
    m = _parse(sms_params(body="請求\x00書", extra={"ProfileName": "山田\x00"})).message
    assert (m.text, m.customer.display_name) == ("請求書", "山田")
    for where in ({"to": "short\x00code"}, {"from_": "Alpha\x00Sender"}):
        with pytest.raises(MalformedInput, match="NUL"):
            _parse(sms_params(**where))
