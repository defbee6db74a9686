"""LINE Messaging API webhooks: several events per POST; only `message` events are routed.

follow, unfollow, join, leave, postback, unsend and the other event types are counted as
ignored by their type. The console's "Verify" button posts an empty `events` array.
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
    media_url,
)
from omni_schemas import Attachment, Channel, Provider

_KNOWN_EVENTS = frozenset(
    {
        "follow",
        "unfollow",
        "join",
        "leave",
        "postback",
        "memberJoined",
        "memberLeft",
        "unsend",
        "videoPlayComplete",
        "accountLink",
        "beacon",
        "things",
        "membership",
        "activated",
        "deactivated",
        "botSuspended",
        "botResumed",
    }
)
_MEDIA = ("image", "video", "audio", "file")


def parse_line(body: bytes, *, received_at: datetime, detect: DetectLanguage) -> ParsedDelivery:
    """Normalize one LINE webhook POST (already verified) into routed messages and ignored events."""
    doc = f.load_object(body, what="LINE webhook")
    out = DeliveryBuilder(Provider.LINE, received_at=received_at, detect=detect)
    for i, raw in enumerate(f.arr(doc, "events", "")):
        path = f"events[{i}]"
        out.each(raw, path, lambda: _event(out, f.item_obj(raw, path), path))  # noqa: B023
    return out.build()


def _event(out: DeliveryBuilder, event: f.JsonObject, path: str) -> None:
    kind = f.text(event, "type", path)
    if kind != "message":
        out.ignore(_label(kind))
        return
    if event.get("mode") == "standby":  # another channel module is answering this chat
        out.ignore("standby")
        return
    source = f.obj(event, "source", path)
    spath = f"{path}.source"
    source_type = f.text(source, "type", spath)
    user = f.opt_text(source, "userId", spath)
    if source_type == "group":
        conversation = f.text(source, "groupId", spath)
    elif source_type == "room":
        conversation = f.text(source, "roomId", spath)
    else:
        conversation = f.text(source, "userId", spath)
    message = f.obj(event, "message", path)
    mpath = f"{path}.message"
    message_id = f.text(message, "id", mpath)
    text, attachments = _content(message, f.text(message, "type", mpath), mpath)
    dedupe = f.opt_text(event, "webhookEventId", path) or f"message:{message_id}"
    out.route(
        path=path,
        channel=Channel.LINE,
        dedupe_key=dedupe,
        provider_message_id=message_id,
        thread_key=f"line:{conversation}",
        address=user or conversation,
        text=text,
        attachments=attachments,
        sent_at=from_epoch(f.epoch_seconds(event.get("timestamp"), f"{path}.timestamp", millis=True)),
    )


def _content(message: f.JsonObject, kind: str, path: str) -> tuple[str, list[Attachment]]:
    if kind == "text":
        return f.opt_text(message, "text", path) or "", []
    if kind in _MEDIA:
        size = f.opt_int(message, "fileSize", path)
        # contentProvider "line": the content is fetched by message id; "external": from the sender's URL
        provider = message.get("contentProvider")
        external = provider.get("originalContentUrl") if isinstance(provider, dict) else None
        return "", [
            Attachment(
                filename=file_name(f.opt_text(message, "fileName", path)),
                content_type=media_type(kind),
                size_bytes=size if size is not None and size >= 0 else None,
                url=media_url(external),
                media_id=media_id(message.get("id")),
            )
        ]
    if kind == "location":  # title and address are optional; the coordinates are not
        parts = [message.get("title"), message.get("address")]
        label = "\n".join(p for p in parts if isinstance(p, str) and p)
        return label or f"location {message.get('latitude')},{message.get('longitude')}", []
    if kind == "sticker":  # a "message sticker" carries the text the user typed on it
        return f.opt_text(message, "text", path) or "", [Attachment(content_type="image/x-line-sticker")]
    return "", [Attachment(content_type=media_type(kind))]


def _label(kind: str) -> str:
    """A bounded metric label for an event type LINE may add in future."""
    return kind if kind in _KNOWN_EVENTS else "unsupported_event"
