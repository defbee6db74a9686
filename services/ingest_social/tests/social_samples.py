"""The reference's sample payloads, byte for byte, and builders of multi-message deliveries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

WHATSAPP_TEXT = (
    b'{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{\n'
    b'  "messaging_product":"whatsapp",\n'
    b'  "metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},\n'
    b'  "contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],\n'
    b'  "messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",\n'
    b'    "timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}]},\n'
    b'  "field":"messages"}]}]}'
)

MESSENGER_TEXT = (
    b'{"object":"page","entry":[{"id":"<PAGE_ID>","time":1457764198246,"messaging":[{\n'
    b'  "sender":{"id":"<PSID>"},"recipient":{"id":"<PAGE_ID>"},"timestamp":1457764197627,\n'
    b'  "message":{"mid":"mid.1457764197618:41d102a3e1ae206a38","text":"hello, world!"}}]}]}'
)

LINE_TEXT = (
    b'{"destination":"U123","events":[{"replyToken":"nHuyWiB7yP5Zw52FIkcQobQuGDXCTA","type":"message",'
    b'"mode":"active",\n'
    b'  "timestamp":1462629479859,"source":{"type":"user","userId":"U206d25c2ea6bd87c17655609a1c37cb8"},\n'
    b'  "webhookEventId":"testwebhookeventid","deliveryContext":{"isRedelivery":false},\n'
    b'  "message":{"id":"325708","type":"text","text":"Hello, world","quoteToken":"quoteToken"}}]}'
)

TELEGRAM_START = (
    b'{"update_id":10000,"message":{"date":1441645532,\n'
    b'  "chat":{"last_name":"Test Lastname","id":1111111,"first_name":"Test","username":"Test"},\n'
    b'  "message_id":1365,\n'
    b'  "from":{"last_name":"Test Lastname","id":1111111,"first_name":"Test","username":"Test"},\n'
    b'  "text":"/start"}}'
)

X_DM = (
    b'{"for_user_id":"4337869213","direct_message_events":[{"type":"message_create","id":"954491830116155396",\n'
    b'  "created_timestamp":"1516403560557",\n'
    b'  "message_create":{"target":{"recipient_id":"4337869213"},"sender_id":"3001969357","source_app_id":"13090192",\n'
    b'    "message_data":{"text":"Hello World!","entities":{"hashtags":[],"symbols":[],"user_mentions":[],"urls":[]}}}}],\n'
    b' "users":{"3001969357":{"id":"3001969357","name":"Jordan Brinks","screen_name":"furiouscamper"}}}'
)

SECRETS = {
    "meta_app_secret": "meta-app-secret",
    "meta_verify_token": "meatyhamhock",
    "line_channel_secret": "line-channel-secret",
    "telegram_secret_token": "tg_Secret-Token_123",
    "x_consumer_secret": "x-consumer-secret",
}

JA_BILLING = "請求書の金額が間違っているようです。確認していただけますか？"
JA_DELIVERY = "注文した商品がまだ届いていません。"


def meta_sig(secret: str, body: bytes) -> str:
    """Meta's documented recipe, written out independently of the code under test."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def line_sig(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def x_sig(secret: str, body: bytes) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def dumps(doc: Any) -> bytes:
    """Compact JSON with non-ASCII kept as UTF-8, as LINE sends it."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def line_event(
    text: str,
    *,
    event_id: str,
    user: str = "U206d25c2ea6bd87c17655609a1c37cb8",
    message_id: str = "325708",
    timestamp: int = 1462629479859,
) -> dict[str, Any]:
    return {
        "replyToken": "r" + event_id,
        "type": "message",
        "mode": "active",
        "timestamp": timestamp,
        "source": {"type": "user", "userId": user},
        "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": False},
        "message": {"id": message_id, "type": "text", "text": text, "quoteToken": "q"},
    }


def line_follow(event_id: str, user: str = "U4af4980629") -> dict[str, Any]:
    return {
        "replyToken": "f" + event_id,
        "type": "follow",
        "mode": "active",
        "timestamp": 1462629479859,
        "source": {"type": "user", "userId": user},
        "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": False},
        "follow": {"isUnblocked": False},
    }


def messenger_batch() -> bytes:
    """Two entries for one page: two customer messages, an echo, a read and a delivery receipt."""
    page = "1234567890"
    return dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": page,
                    "time": 1700000000000,
                    "messaging": [
                        {
                            "sender": {"id": "PSID-1"},
                            "recipient": {"id": page},
                            "timestamp": 1700000000001,
                            "message": {"mid": "m_1", "text": JA_BILLING},
                        },
                        {
                            "sender": {"id": page},
                            "recipient": {"id": "PSID-1"},
                            "timestamp": 1700000000002,
                            "message": {"mid": "m_echo", "text": "auto reply", "is_echo": True, "app_id": 1},
                        },
                        {
                            "sender": {"id": "PSID-1"},
                            "recipient": {"id": page},
                            "timestamp": 1700000000003,
                            "read": {"watermark": 1700000000000},
                        },
                    ],
                },
                {
                    "id": page,
                    "time": 1700000000100,
                    "messaging": [
                        {
                            "sender": {"id": "PSID-2"},
                            "recipient": {"id": page},
                            "timestamp": 1700000000101,
                            "message": {
                                "mid": "m_2",
                                "text": "Where is my order?",
                                "attachments": [{"type": "image", "payload": {"url": "https://cdn.example/i.jpg"}}],
                            },
                        },
                        {
                            "sender": {"id": "PSID-2"},
                            "recipient": {"id": page},
                            "timestamp": 1700000000102,
                            "delivery": {"mids": ["m_x"], "watermark": 1700000000000},
                        },
                    ],
                },
            ],
        }
    )


def whatsapp_batch() -> bytes:
    """Two messages (text, image) and a delivery status in one change."""
    return dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550783881",
                                    "phone_number_id": "106540352242922",
                                },
                                "contacts": [{"profile": {"name": "山田 花子"}, "wa_id": "819012345678"}],
                                "messages": [
                                    {
                                        "from": "819012345678",
                                        "id": "wamid.A",
                                        "timestamp": "1749416383",
                                        "type": "text",
                                        "text": {"body": JA_DELIVERY},
                                    },
                                    {
                                        "from": "819012345678",
                                        "id": "wamid.B",
                                        "timestamp": "1749416390",
                                        "type": "image",
                                        "image": {
                                            "caption": "箱が壊れていました",
                                            "mime_type": "image/jpeg",
                                            "sha256": "x",
                                            "id": "media-1",
                                        },
                                    },
                                ],
                                "statuses": [
                                    {
                                        "id": "wamid.OUT",
                                        "status": "delivered",
                                        "timestamp": "1749416391",
                                        "recipient_id": "819012345678",
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
    )
