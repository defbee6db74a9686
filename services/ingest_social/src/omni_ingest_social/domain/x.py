"""X Account Activity API: direct messages (`message_create`) from others to the subscribed account.

The account's own outgoing DMs arrive on the same webhook (`sender_id == for_user_id`) and are
not customer messages; typing and read indicators and every other activity are ignored by kind.
"""

from __future__ import annotations

from datetime import datetime

from omni_ingest_social.domain import _fields as f
from omni_ingest_social.domain.batch import (
    DeliveryBuilder,
    DetectLanguage,
    ParsedDelivery,
    from_epoch,
    media_type,
    media_url,
)
from omni_schemas import Attachment, Channel, Provider

_OTHER_ACTIVITIES = {
    "direct_message_indicate_typing_events": "typing",
    "direct_message_mark_read_events": "read",
    "tweet_create_events": "tweet",
    "favorite_events": "favorite",
    "follow_events": "follow",
    "unfollow_events": "unfollow",
    "block_events": "block",
    "unblock_events": "unblock",
    "mute_events": "mute",
    "unmute_events": "unmute",
    "user_event": "user_event",
    "tweet_delete_events": "tweet_delete",
}


def parse_x(body: bytes, *, received_at: datetime, detect: DetectLanguage) -> ParsedDelivery:
    """Normalize one Account Activity POST (already verified)."""
    doc = f.load_object(body, what="X account activity")
    out = DeliveryBuilder(Provider.X, received_at=received_at, detect=detect)
    if "for_user_id" not in doc and "user_event" in doc:  # a revoked authorization names no subscribed account
        out.ignore("user_event")
        return out.build()
    account = f.text(doc, "for_user_id", "")
    users = f.opt_obj(doc, "users", "") or {}
    for key, reason in _OTHER_ACTIVITIES.items():
        value = doc.get(key)
        if value is not None:
            out.ignore(reason, len(value) if isinstance(value, list) else 1)
    for i, raw in enumerate(f.arr(doc, "direct_message_events", "", required=False)):
        _dm(out, f.item_obj(raw, f"direct_message_events[{i}]"), f"direct_message_events[{i}]", account, users)
    return out.build()


def _dm(out: DeliveryBuilder, event: f.JsonObject, path: str, account: str, users: f.JsonObject) -> None:
    if event.get("type") != "message_create":
        out.ignore("unsupported_event")
        return
    event_id = f.text(event, "id", path)
    create = f.obj(event, "message_create", path)
    cpath = f"{path}.message_create"
    sender = f.text(create, "sender_id", cpath)
    if sender == account:
        out.ignore("own_message")
        return
    data = f.obj(create, "message_data", cpath)
    dpath = f"{cpath}.message_data"
    attachments = []
    attachment = f.opt_obj(data, "attachment", dpath)
    if attachment is not None:
        raw_media = attachment.get("media")
        media: f.JsonObject = raw_media if isinstance(raw_media, dict) else {}
        kind = media.get("type")
        attachments.append(
            Attachment(
                content_type=media_type(kind if isinstance(kind, str) else None),
                url=media_url(media.get("media_url_https")),
            )
        )
    profile = users.get(sender)
    name = profile.get("name") if isinstance(profile, dict) else None
    out.route(
        path=path,
        channel=Channel.X,
        dedupe_key=event_id,
        provider_message_id=event_id,
        thread_key=f"x:{account}:{sender}",
        address=sender,
        display_name=name if isinstance(name, str) else None,
        text=f.opt_text(data, "text", dpath) or "",
        attachments=attachments,
        sent_at=from_epoch(f.epoch_seconds(event.get("created_timestamp"), f"{path}.created_timestamp", millis=True)),
    )
