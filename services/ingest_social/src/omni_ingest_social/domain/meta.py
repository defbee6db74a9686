"""Meta's one webhook for Messenger (`object: page`), Instagram and the WhatsApp Cloud API.

One POST batches many `entry` items, each with many events. Customer messages are routed;
echoes of the page's own messages, read and delivery receipts, WhatsApp statuses and the
other event kinds are counted as ignored, by reason.
"""

from __future__ import annotations

import re
from datetime import datetime

from omni_ingest_social.domain import _fields as f
from omni_ingest_social.domain.batch import (
    DeliveryBuilder,
    DetectLanguage,
    MalformedPayload,
    ParsedDelivery,
    file_name,
    from_epoch,
    media_id,
    media_type,
    media_url,
)
from omni_schemas import Attachment, Channel, Provider

_MESSAGING_OBJECTS = {"page": Channel.MESSENGER, "instagram": Channel.INSTAGRAM}
_MESSAGING_KINDS = (
    "postback",
    "read",
    "delivery",
    "reaction",
    "referral",
    "optin",
    "account_linking",
    "policy_enforcement",
    "game_play",
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "app_roles",
    "message_edit",
)
_WHATSAPP_MEDIA = ("image", "video", "audio", "document", "sticker")
_WHATSAPP_IGNORED = ("system", "reaction", "request_welcome")
# the customer sent something the API does not show (a poll, a view-once photo, a message of a newer
# client, a disappearing one): still a customer waiting, so it is routed, marked by an attachment of
# this type, for the agent to ask again ("unknown" is what API versions before "unsupported" call it)
_WHATSAPP_UNSHOWN = ("unsupported", "unknown", "ephemeral")
UNSUPPORTED_CONTENT = "application/x-unsupported"
# a business-scoped user id (BSUID): country code, ".", up to 128 letters and digits ("US.ENT." for a parent id)
_BSUID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")


def parse_meta(body: bytes, *, received_at: datetime, detect: DetectLanguage) -> ParsedDelivery:
    """Normalize one Meta webhook POST (already verified) into routed messages and ignored events."""
    doc = f.load_object(body, what="Meta webhook")
    kind = f.text(doc, "object", "")
    out = DeliveryBuilder(Provider.META, received_at=received_at, detect=detect)
    entries = f.arr(doc, "entry", "")
    if kind in _MESSAGING_OBJECTS:
        for i, raw in enumerate(entries):
            _messaging_entry(out, f.item_obj(raw, f"entry[{i}]"), f"entry[{i}]", _MESSAGING_OBJECTS[kind])
    elif kind == "whatsapp_business_account":
        for i, raw in enumerate(entries):
            _whatsapp_entry(out, f.item_obj(raw, f"entry[{i}]"), f"entry[{i}]")
    else:
        out.ignore("unsupported_object", max(len(entries), 1))
    return out.build()


def _messaging_entry(out: DeliveryBuilder, entry: f.JsonObject, path: str, channel: Channel) -> None:
    owner = f.text(entry, "id", path)
    for j, raw in enumerate(f.arr(entry, "messaging", path, required=False)):
        epath = f"{path}.messaging[{j}]"
        out.each(raw, epath, lambda: _messaging_event(out, f.item_obj(raw, epath), epath, channel, owner))  # noqa: B023
    standby = f.arr(entry, "standby", path, required=False)
    out.ignore("standby", len(standby))  # another app owns these threads
    if "changes" in entry:  # page feed and other field subscriptions: not customer messages
        out.ignore("unsupported_field", len(f.arr(entry, "changes", path)))


def _messaging_event(out: DeliveryBuilder, event: f.JsonObject, path: str, channel: Channel, owner: str) -> None:
    message = f.opt_obj(event, "message", path)
    if message is None:
        kind = next((k for k in _MESSAGING_KINDS if k in event), "unsupported_event")
        out.ignore(kind)
        return
    mpath = f"{path}.message"
    if message.get("is_echo"):
        out.ignore("echo")
        return
    if message.get("is_deleted"):
        out.ignore("deleted")
        return
    sender = f.text(f.obj(event, "sender", path), "id", f"{path}.sender")
    recipient = f.opt_obj(event, "recipient", path)
    page = (f.opt_text(recipient, "id", f"{path}.recipient") if recipient else None) or owner
    mid = f.text(message, "mid", mpath)
    attachments = []
    for k, raw in enumerate(f.arr(message, "attachments", mpath, required=False)):
        att = f.item_obj(raw, f"{mpath}.attachments[{k}]")
        payload = f.opt_obj(att, "payload", f"{mpath}.attachments[{k}]") or {}
        attachments.append(
            Attachment(
                content_type=media_type(f.opt_text(att, "type", f"{mpath}.attachments[{k}]")),
                url=media_url(payload.get("url")),
            )
        )
    if message.get("is_unsupported") and not attachments and not message.get("text"):
        attachments.append(Attachment(content_type=UNSUPPORTED_CONTENT))  # a customer waiting all the same
    timestamp = f.epoch_seconds(event.get("timestamp"), f"{path}.timestamp", millis=True)
    out.route(
        path=path,
        channel=channel,
        dedupe_key=mid,
        provider_message_id=mid,
        thread_key=f"{channel.value}:{page}:{sender}",
        address=sender,
        text=f.opt_text(message, "text", mpath) or "",
        attachments=attachments,
        sent_at=from_epoch(timestamp),
    )


def _whatsapp_entry(out: DeliveryBuilder, entry: f.JsonObject, path: str) -> None:
    for j, raw in enumerate(f.arr(entry, "changes", path)):
        cpath = f"{path}.changes[{j}]"
        change = f.item_obj(raw, cpath)
        if change.get("field") != "messages":
            out.ignore("unsupported_field")
            continue
        value = f.obj(change, "value", cpath)
        vpath = f"{cpath}.value"
        out.ignore("status", len(f.arr(value, "statuses", vpath, required=False)))
        messages = f.arr(value, "messages", vpath, required=False)
        if not messages:
            continue
        number_id = f.text(f.obj(value, "metadata", vpath), "phone_number_id", f"{vpath}.metadata")
        names: dict[str, str] = {}
        for k, raw_contact in enumerate(f.arr(value, "contacts", vpath, required=False)):
            contact = f.item_obj(raw_contact, f"{vpath}.contacts[{k}]")
            profile = f.opt_obj(contact, "profile", f"{vpath}.contacts[{k}]") or {}
            name = profile.get("name")
            for key in ("wa_id", "user_id"):  # a user with a WhatsApp username may have no wa_id, only a BSUID
                contact_id = contact.get(key)
                if isinstance(contact_id, str) and isinstance(name, str):
                    names[contact_id] = name
        for k, raw_message in enumerate(messages):
            mpath = f"{vpath}.messages[{k}]"
            out.each(
                raw_message,
                mpath,
                lambda: _whatsapp_message(out, f.item_obj(raw_message, mpath), mpath, number_id, names),  # noqa: B023
            )


def _whatsapp_message(
    out: DeliveryBuilder, message: f.JsonObject, path: str, number_id: str, names: dict[str, str]
) -> None:
    kind = f.text(message, "type", path)
    if kind in _WHATSAPP_IGNORED:
        out.ignore(kind)
        return
    sender, address = _whatsapp_sender(message, path)
    wamid = f.text(message, "id", path)
    group = f.opt_text(message, "group_id", path)  # group chats thread on the group, like LINE groups
    text, attachments = _whatsapp_content(message, kind, path)
    out.route(
        path=path,
        channel=Channel.WHATSAPP,
        dedupe_key=wamid,
        provider_message_id=wamid,
        thread_key=f"whatsapp:{number_id}:group:{group}" if group else f"whatsapp:{number_id}:{sender}",
        address=address,
        display_name=names.get(sender),
        text=text,
        attachments=attachments,
        sent_at=from_epoch(f.epoch_seconds(message.get("timestamp"), f"{path}.timestamp", millis=False)),
    )


def _whatsapp_sender(message: f.JsonObject, path: str) -> tuple[str, str]:
    """The sender's id and address: the phone number (wa_id, E.164) when WhatsApp shares it, else the
    business-scoped user id that replaces it for a user who chose a username."""
    wa_id = f.opt_text(message, "from", path)
    if wa_id is not None and wa_id.isascii() and wa_id.isdigit() and 6 <= len(wa_id) <= 15:
        return wa_id, "+" + wa_id
    for candidate in (f.opt_text(message, "from_user_id", path), wa_id):
        if candidate is not None and _BSUID.fullmatch(candidate):
            return candidate, candidate
    raise MalformedPayload(
        f"{path}.from", f"{path}.from: expected a WhatsApp id (digits of an E.164 number) or a from_user_id"
    )


def _whatsapp_content(message: f.JsonObject, kind: str, path: str) -> tuple[str, list[Attachment]]:
    if kind == "text":
        return f.text(f.obj(message, "text", path), "body", f"{path}.text"), []
    if kind in _WHATSAPP_MEDIA:
        media = f.obj(message, kind, path)
        mpath = f"{path}.{kind}"
        attachment = Attachment(
            filename=file_name(f.opt_text(media, "filename", mpath)),
            content_type=media_type(kind, f.opt_text(media, "mime_type", mpath)),
            url=media_url(media.get("url")),  # sent since 2025; fetching it takes the access token
            media_id=media_id(media.get("id")),
        )
        return f.opt_text(media, "caption", mpath) or "", [attachment]
    if kind == "location":
        place = f.obj(message, "location", path)
        parts = [place.get("name"), place.get("address")]
        label = "\n".join(p for p in parts if isinstance(p, str) and p)
        return label or f"location {place.get('latitude')},{place.get('longitude')}", []
    if kind == "button":
        return f.opt_text(f.obj(message, "button", path), "text", f"{path}.button") or "", []
    if kind == "interactive":
        interactive = f.obj(message, "interactive", path)
        reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
        title = reply.get("title") if isinstance(reply, dict) else None
        return title if isinstance(title, str) else "", []
    if kind == "contacts":  # shared contact cards: their names and numbers are what the agent reads
        shared = message.get("contacts")
        cards = [c for c in shared if isinstance(c, dict)] if isinstance(shared, list) else []
        return "\n".join(filter(None, map(_whatsapp_card, cards))), [Attachment(content_type="text/vcard")]
    if kind == "order":  # a cart from the catalog, with the customer's own words
        order = f.obj(message, "order", path)
        return f.opt_text(order, "text", f"{path}.order") or "", [Attachment(content_type=media_type(kind))]
    if kind in _WHATSAPP_UNSHOWN:
        return "", [Attachment(content_type=UNSUPPORTED_CONTENT)]
    return "", [Attachment(content_type=media_type(kind))]


def _whatsapp_card(card: f.JsonObject) -> str:
    """One shared contact as a line: its formatted name and phone numbers ("" when it has neither)."""
    name = card.get("name")
    formatted = name.get("formatted_name") if isinstance(name, dict) else None
    phones = card.get("phones")
    numbers = (
        [p["phone"] for p in phones if isinstance(p, dict) and isinstance(p.get("phone"), str)]
        if isinstance(phones, list)
        else []
    )
    parts = [formatted] if isinstance(formatted, str) and formatted else []
    return " ".join(parts + numbers)
