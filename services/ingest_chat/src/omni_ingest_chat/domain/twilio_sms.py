"""Twilio Programmable Messaging inbound webhooks: SMS, MMS and WhatsApp via Twilio.

The form (`application/x-www-form-urlencoded`) carries `MessageSid`, `AccountSid`, `From`, `To`,
`Body`, `NumMedia`, `MediaUrl{N}`/`MediaContentType{N}` and many more; Twilio adds parameters
without notice, so unknown ones are kept for the signature and otherwise ignored. `From` and `To`
are E.164 numbers, or `whatsapp:+E164` for WhatsApp.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from urllib.parse import parse_qsl
from uuid import UUID

from omni_ingest_chat.domain.errors import MalformedInput
from omni_ingest_chat.domain.normalized import Normalized
from omni_ingest_chat.domain.phone import to_e164
from omni_ingest_chat.domain.threads import phone_thread_key
from omni_ingest_chat.domain.twilio_signature import group_params
from omni_schemas import MAX_TEXT_CHARS, Attachment, Channel, Customer, MessageReceived, Provider
from omni_service.language import detect_language

MAX_MEDIA = 10
"""Twilio delivers at most 10 media items per message."""

_SID = re.compile(r"^[A-Za-z]{2}[0-9A-Za-z]{1,62}$")
_PREFIXED_CHANNELS = {"whatsapp": Channel.WHATSAPP}


def parse_form(body: bytes) -> dict[str, list[str]]:
    """Decode a form body into its parameters (repeats kept), or MalformedInput."""
    try:
        text = body.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise MalformedInput("<body>", f"not a valid UTF-8 form encoding: {exc.reason}") from exc
    except ValueError as exc:
        raise MalformedInput("<body>", f"not a form body: {exc}") from exc
    return group_params(pairs)


def _one(params: Mapping[str, Sequence[str]], name: str, *, required: bool = False) -> str | None:
    """The first value of a parameter; with `required`, MalformedInput when absent or blank."""
    values = params.get(name)
    value = values[0] if values else None
    if required and not (value and value.strip()):
        raise MalformedInput(name, "required")
    return value


def _split_address(raw: str) -> tuple[str | None, str]:
    """`whatsapp:+1...` -> ("whatsapp", "+1..."); `+1...` -> (None, "+1...")."""
    prefix, sep, rest = raw.partition(":")
    if sep and prefix.isalpha():
        return prefix.lower(), rest
    return None, raw


_MAX_ADDRESS_CHARS = 128


def _checked(raw: str, field: str) -> str:
    if len(raw) > _MAX_ADDRESS_CHARS:
        raise MalformedInput(field, f"longer than {_MAX_ADDRESS_CHARS} characters")
    if "\x00" in raw:  # an address is an id consumers keep as PostgreSQL text, which cannot hold it
        raise MalformedInput(field, "contains the NUL character")
    return raw


def _our_address(raw: str) -> str:
    """Our number in E.164; short codes and anything unparseable are kept as sent."""
    raw = _checked(raw, "To")
    return to_e164(raw) or raw.strip()


def _customer_address(raw: str, region: str | None, field: str) -> str:
    raw = _checked(raw, field)
    normalized = to_e164(raw, region=region)
    if normalized is not None:
        return normalized
    text = raw.strip()
    if not text:
        raise MalformedInput(field, "empty address")
    # Alphanumeric or otherwise unparseable senders are kept as sent rather than dropped.
    return text


def _attachments(params: Mapping[str, Sequence[str]]) -> list[Attachment]:
    raw_count = _one(params, "NumMedia")
    if raw_count is None or raw_count == "":
        count = sum(1 for n in range(MAX_MEDIA) if f"MediaUrl{n}" in params)
    else:
        try:
            count = int(raw_count)
        except ValueError as exc:
            raise MalformedInput("NumMedia", f"not an integer: {raw_count[:20]!r}") from exc
        if not 0 <= count <= MAX_MEDIA:
            raise MalformedInput("NumMedia", f"must be between 0 and {MAX_MEDIA}, got {count}")
    attachments = []
    for n in range(count):
        url = _one(params, f"MediaUrl{n}")
        if not url:
            raise MalformedInput(f"MediaUrl{n}", f"required when NumMedia is {count}")
        if not url.startswith(("https://", "http://")) or len(url) > 4096:
            raise MalformedInput(f"MediaUrl{n}", "not an http(s) URL")
        content_type = (_one(params, f"MediaContentType{n}") or "application/octet-stream").strip()[:255]
        attachments.append(
            Attachment(
                filename=url.rstrip("/").rsplit("/", 1)[-1][:512] or None,
                content_type=content_type or "application/octet-stream",
                size_bytes=None,
                url=url,
            )
        )
    return attachments


_INBOUND_STATUSES = frozenset({"received", "receiving"})


def is_status_callback(params: Mapping[str, Sequence[str]]) -> bool:
    """A delivery-status callback of an outbound message (misrouted here), not a customer message.

    An inbound message carries `SmsStatus=received` (or no status at all); a status callback
    carries the outbound message's status (`sent`, `delivered`, `failed`, `read`, ...) and, for
    messages sent through a Messaging Service, even the outbound `Body`: the status decides.
    """
    status = (_one(params, "MessageStatus") or _one(params, "SmsStatus") or "received").strip().lower()
    return status not in _INBOUND_STATUSES


def _coordinate(raw: str | None, limit: float) -> str | None:
    """A latitude or longitude as sent, when it is a number within +-`limit`."""
    if not raw or len(raw) > 32:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return raw.strip() if math.isfinite(value) and -limit <= value <= limit else None


def _location_text(params: Mapping[str, Sequence[str]]) -> str | None:
    """A WhatsApp location pin (`Latitude`, `Longitude`, optional `Label`/`Address`) as a line of text."""
    latitude = _coordinate(_one(params, "Latitude"), 90.0)
    longitude = _coordinate(_one(params, "Longitude"), 180.0)
    if latitude is None or longitude is None:
        return None
    names = [v for v in ((_one(params, "Label") or "").strip(), (_one(params, "Address") or "").strip()) if v]
    place = f" ({', '.join(names)[:1000]})" if names else ""
    return f"Location: {latitude}, {longitude}{place}"


def parse_inbound_message(
    params: Mapping[str, Sequence[str]], *, message_id: UUID, received_at: datetime
) -> Normalized:
    """The normalized message of one Twilio inbound webhook; MalformedInput names a bad field."""
    sid = _one(params, "MessageSid") or _one(params, "SmsMessageSid") or _one(params, "SmsSid")
    if not sid:
        raise MalformedInput("MessageSid", "required")
    if not _SID.fullmatch(sid):
        raise MalformedInput("MessageSid", "not a Twilio SID")
    raw_from = _one(params, "From", required=True) or ""
    raw_to = _one(params, "To", required=True) or ""
    prefix, from_address = _split_address(raw_from)
    to_prefix, to_address = _split_address(raw_to)
    if prefix is None:
        channel = Channel.SMS
    elif prefix in _PREFIXED_CHANNELS:
        channel = _PREFIXED_CHANNELS[prefix]
    else:
        raise MalformedInput("From", f"unsupported channel prefix {prefix!r}")
    if to_prefix != prefix:
        raise MalformedInput("To", f"channel prefix {to_prefix!r} does not match From")
    customer = _customer_address(from_address, _one(params, "FromCountry"), "From")
    ours = _our_address(to_address)
    if not ours:
        raise MalformedInput("To", "empty address")
    sent_text = (_one(params, "Body") or "").replace("\x00", "")
    body = sent_text
    location = _location_text(params)
    if location is not None:  # a shared location arrives with an empty Body: keep the pin as text
        body = f"{body}\n{location}" if body.strip() else location
    text = body[:MAX_TEXT_CHARS]
    display_name = (_one(params, "ProfileName") or "").replace("\x00", "").strip()[:512] or None
    message = MessageReceived(
        message_id=message_id,
        channel=channel,
        provider=Provider.TWILIO,
        provider_message_id=sid,
        thread_key=phone_thread_key(channel.value, customer, ours),
        customer=Customer(address=customer, display_name=display_name),
        subject=None,
        text=text,
        full_text=body if len(body) > MAX_TEXT_CHARS else None,
        attachments=_attachments(params),
        # the customer's own words only: the location line is not their language
        language=detect_language(sent_text[:MAX_TEXT_CHARS]) if sent_text else None,
        sent_at=None,
        received_at=received_at,
    )
    return Normalized(message=message, dedupe_key=sid)
