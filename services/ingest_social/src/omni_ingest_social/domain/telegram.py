"""Telegram Bot API: one `Update` per POST; `message` and `edited_message` from people are routed.

Service messages (a member joined or left, a pinned message, a new title, ...), channel posts the
group's linked channel forwards automatically and live-location updates are not customer messages.
"""

from __future__ import annotations

from datetime import datetime

from omni_ingest_social.domain import _fields as f
from omni_ingest_social.domain.batch import (
    DeliveryBuilder,
    DetectLanguage,
    ParsedDelivery,
    file_name,
    from_epoch,
    media_id,
    media_type,
)
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
_SERVICE = frozenset(
    {
        "new_chat_members",
        "new_chat_member",
        "new_chat_participant",
        "left_chat_member",
        "left_chat_participant",
        "new_chat_title",
        "new_chat_photo",
        "delete_chat_photo",
        "group_chat_created",
        "supergroup_chat_created",
        "channel_chat_created",
        "message_auto_delete_timer_changed",
        "migrate_to_chat_id",
        "migrate_from_chat_id",
        "pinned_message",
        "successful_payment",
        "refunded_payment",
        "users_shared",
        "chat_shared",
        "connected_website",
        "write_access_allowed",
        "passport_data",
        "proximity_alert_triggered",
        "boost_added",
        "chat_background_set",
        "forum_topic_created",
        "forum_topic_edited",
        "forum_topic_closed",
        "forum_topic_reopened",
        "general_forum_topic_hidden",
        "general_forum_topic_unhidden",
        "giveaway_created",
        "giveaway_completed",
        "video_chat_scheduled",
        "video_chat_started",
        "video_chat_ended",
        "video_chat_participants_invited",
        "web_app_data",
    }
)


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
    if message.get("is_automatic_forward") is True:  # the linked channel's own post, copied into its group
        out.ignore("automatic_forward")
        return out.build()
    if key == "edited_message" and "location" in message:  # a live location moving, sent every few seconds
        out.ignore("live_location")
        return out.build()
    user_id = f.text(sender, "id", f"{key}.from")
    message_id = f.text(message, "message_id", key)
    names = [sender.get("first_name"), sender.get("last_name")]
    display = " ".join(n for n in names if isinstance(n, str) and n) or f.opt_text(sender, "username", f"{key}.from")
    text = (
        f.opt_text(message, "text", key)
        or f.opt_text(message, "caption", key)
        or _place(message, key)
        or _contact(message, key)
    )
    attachments = _attachments(message, key)
    if not text and not attachments and not _SERVICE.isdisjoint(message):
        out.ignore("service_message")
        return out.build()
    if not text and not attachments:  # a poll, a dice, a story, content of a newer Bot API: say what it was
        text, attachments = _other_content(message, key)
    out.route(
        path=key,
        channel=Channel.TELEGRAM,
        dedupe_key=f"{bot}:{update_id}",
        provider_message_id=f"{chat_id}:{message_id}",
        thread_key=f"telegram:{chat_id}",
        address=user_id,
        display_name=display,
        text=text,
        attachments=attachments,
        sent_at=from_epoch(
            f.epoch_seconds(message.get("edit_date") or message.get("date"), f"{key}.date", millis=False)
        ),
    )
    return out.build()


def _attachments(message: f.JsonObject, path: str) -> list[Attachment]:
    found: list[Attachment] = []
    photos = f.arr(message, "photo", path, required=False)
    if photos:  # several sizes of one photo, smallest first: the largest stands for it
        sizes = [s for p in photos if isinstance(p, dict) and (s := _size(p.get("file_size"))) is not None]
        largest = next((p for p in reversed(photos) if isinstance(p, dict)), {})
        found.append(
            Attachment(
                content_type="image/jpeg",
                size_bytes=max(sizes, default=None),
                media_id=media_id(largest.get("file_id")),
            )
        )
    for kind in _MEDIA:
        media = f.opt_obj(message, kind, path)
        if media is None or (kind == "document" and "animation" in message):  # an animation is also sent
            continue  # as `document`, for older clients: one file, one attachment
        name = media.get("file_name")
        mime = media.get("mime_type")
        found.append(
            Attachment(
                filename=file_name(name if isinstance(name, str) else None),
                content_type=media_type(kind, mime if isinstance(mime, str) else None),
                size_bytes=_size(media.get("file_size")),
                media_id=media_id(media.get("file_id")),
            )
        )
    if f.opt_obj(message, "contact", path) is not None:
        found.append(Attachment(content_type="text/vcard"))
    return found


def _size(value: object) -> int | None:
    """A file size in bytes; None for anything but a non-negative integer (Telegram may omit it)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _place(message: f.JsonObject, path: str) -> str:
    """A shared venue or location as text, as WhatsApp's are (Telegram gives them no caption)."""
    venue = f.opt_obj(message, "venue", path)
    if venue is not None:
        parts = [venue.get("title"), venue.get("address")]
        label = "\n".join(p for p in parts if isinstance(p, str) and p)
        if label:
            return label
    place = f.opt_obj(message, "location", path)
    if place is None:
        return ""
    return f"location {place.get('latitude')},{place.get('longitude')}"


def _contact(message: f.JsonObject, path: str) -> str:
    """A shared contact as text: its name and phone number, what the agent needs to read."""
    card = f.opt_obj(message, "contact", path)
    if card is None:
        return ""
    parts = [card.get("first_name"), card.get("last_name"), card.get("phone_number")]
    return " ".join(p for p in parts if isinstance(p, str) and p)


_OTHER_CONTENT = ("poll", "dice", "game", "story", "paid_media", "checklist", "invoice", "giveaway")


def _other_content(message: f.JsonObject, path: str) -> tuple[str, list[Attachment]]:
    """What a message without text or files carries, so that the agent is not shown an empty message."""
    poll = f.opt_obj(message, "poll", path)
    if poll is not None:
        question = poll.get("question")
        return (question if isinstance(question, str) else ""), [Attachment(content_type="application/x-poll")]
    kind = next((k for k in _OTHER_CONTENT if k in message), "unsupported")
    return "", [Attachment(content_type=f"application/x-{kind}")]
