"""Twilio and web chat payloads in the providers' exact formats, shared by unit and integration tests."""

from __future__ import annotations

from urllib.parse import urlencode

from omni_ingest_chat.domain.twilio_signature import compute_signature, group_params

AUTH_TOKEN = "test-twilio-auth-token"

# A real inbound SMS capture (nyaruka/courier tests; AccountSid replaced by a placeholder), as sent.
SMS_BODY = (
    b"ToCountry=US&ToState=District+Of+Columbia&SmsMessageSid=SMe287d7109a5a925f182f0e07fe5b223b&NumMedia=0"
    b"&ToCity=&FromZip=01022&SmsSid=SMe287d7109a5a925f182f0e07fe5b223b&FromState=MA&SmsStatus=received"
    b"&FromCity=CHICOPEE&Body=Msg&FromCountry=US&To=%2B12028831111&ToZip=&NumSegments=1"
    b"&MessageSid=SMe287d7109a5a925f182f0e07fe5b223b&AccountSid=ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
    b"&From=%2B14133881111&ApiVersion=2010-04-01"
)


def sms_params(
    *,
    sid: str = "SM0123456789abcdef0123456789abcdef",
    from_: str = "+819012345678",
    to: str = "+15005550006",
    body: str = "請求書の金額が間違っているようです。",
    media: list[tuple[str, str]] | None = None,
    extra: dict[str, str] | None = None,
) -> list[tuple[str, str]]:
    """The parameters Twilio posts for an inbound SMS/MMS (order as Twilio sends them)."""
    media = media or []
    pairs = [
        ("ToCountry", "US"),
        ("SmsMessageSid", sid),
        ("NumMedia", str(len(media))),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("Body", body),
        ("FromCountry", "JP"),
        ("To", to),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", "AC" + "0" * 32),
        ("From", from_),
        ("ApiVersion", "2010-04-01"),
    ]
    for n, (url, content_type) in enumerate(media):
        pairs += [(f"MediaContentType{n}", content_type), (f"MediaUrl{n}", url)]
    pairs += list((extra or {}).items())
    return pairs


def signed(url: str, pairs: list[tuple[str, str]], token: str = AUTH_TOKEN) -> tuple[bytes, str]:
    """The form body and the X-Twilio-Signature Twilio would send for it."""
    return urlencode(pairs).encode(), compute_signature(token, url, group_params(pairs))


def chat_body(
    text: str = "注文した商品がまだ届きません。", *, visitor_id: str = "v-123", client_message_id: str | None = None
) -> dict[str, object]:
    body: dict[str, object] = {"text": text, "visitor": {"id": visitor_id, "name": "山田 花子", "email": None}}
    if client_message_id is not None:
        body["client_message_id"] = client_message_id
    return body
