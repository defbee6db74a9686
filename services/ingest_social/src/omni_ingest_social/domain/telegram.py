"""Telegram Bot API: one `Update` per POST; `message` and `edited_message` from people are routed."""

from __future__ import annotations

from datetime import datetime

from omni_ingest_social.domain import _fields as f
from omni_ingest_social.domain.batch import DeliveryBuilder, DetectLanguage, ParsedDelivery, from_epoch, media_type
from omni_schemas import Attachment, Channel, Provider

_OTHER_UPDATES = (
    "channel_post",
    "edited_channel_post",
    "callback_query",
    "inline_query",
    "chosen_inline_result",
    "shipping_query",
    "pre_checkout_query",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "message_reaction",
    "message_reaction_count",
    "business_message",
    "edited_business_message",
    "business_connection",
    "deleted_business_messages",
    "chat_boost",
    "removed_chat_boost",
    "purchased_paid_media",
)
_MEDIA = ("document", "video", "audio", "voice", "animation", "video_note", "sticker")


def parse_telegram(body: bytes, *, bot: str, received_at: datetime, detect: DetectLanguage) -> ParsedDelivery:
    """Normalize one Update; `bot` scopes `update_id` (which counts per bot) for de-duplication."""
    update = f.load_object(body, what="Telegram update")
    update_id = f.integer(update, "update_id", "")
    out = DeliveryBuilder(Provider.TELEGRAM, received_at=received_at, detect=detect)
    key = "message" if "message" in update else "edited_message" if "edited_message" in update else None
    if key is None:
        out.ignore(next((k for k in _OTHER_UPDATES if k in update), "unsupported_update"))
        return out.build()
    message = f.obj(update, key, "")
    chat = f.obj(message, "chat", key)
    chat_id = f.text(chat, "id", f"{key}.chat")
    sender = f.opt_obj(message, "from", key)
    if sender is None or sender.get("is_bot") is True:
        out.ignore("bot_or_anonymous")
        return out.build()
    user_id = f.text(sender, "id", f"{key}.from")
    message_id = f.text(message, "message_id", key)
    names = [sender.get("first_name"), sender.get("last_name")]
    display = " ".join(n for n in names if isinstance(n, str) and n) or f.opt_text(sender, "username", f"{key}.from")
    text = f.opt_text(message, "text", key) or f.opt_text(message, "caption", key) or ""
    out.route(
        path=key,
        channel=Channel.TELEGRAM,
        dedupe_key=f"{bot}:{update_id}",
        provider_message_id=f"{chat_id}:{message_id}",
        thread_key=f"telegram:{chat_id}",
        address=user_id,
        display_name=display,
        text=text,
        attachments=_attachments(message, key),
        sent_at=from_epoch(
            f.epoch_seconds(message.get("edit_date") or message.get("date"), f"{key}.date", millis=False)
        ),
    )
    return out.build()


def _attachments(message: f.JsonObject, path: str) -> list[Attachment]:
    found: list[Attachment] = []
    photos = f.arr(message, "photo", path, required=False)
    if photos:  # several sizes of one photo: the largest stands for it
        sizes = [p for p in photos if isinstance(p, dict)]
        largest = max(sizes, key=lambda p: p.get("file_size") or 0, default={})
        size = largest.get("file_size")
        found.append(
            Attachment(content_type="image/jpeg", size_bytes=size if isinstance(size, int) and size >= 0 else None)
        )
    for kind in _MEDIA:
        media = f.opt_obj(message, kind, path)
        if media is None:
            continue
        size = media.get("file_size")
        name = media.get("file_name")
        mime = media.get("mime_type")
        found.append(
            Attachment(
                filename=name if isinstance(name, str) and name else None,
                content_type=media_type(kind, mime if isinstance(mime, str) else None),
                size_bytes=size if isinstance(size, int) and size >= 0 else None,
            )
        )
    return found
