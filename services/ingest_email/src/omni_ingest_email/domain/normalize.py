"""A ParsedEmail to the contract's `omni.message.received.v1` data, and its redelivery identity."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from omni_ingest_email.domain.message import MalformedEmail, ParsedEmail
from omni_schemas import Attachment, Channel, Customer, EmailHeaders, MessageReceived, Provider
from omni_schemas.events import MAX_ID_CHARS, MAX_TEXT_CHARS
from omni_schemas.sizing import EventTooLarge, within_event_limit
from omni_service.language import detect_language

_MAX_FULL_TEXT = 4 * MAX_TEXT_CHARS
_MAX_MESSAGE_ID = 400
_MAX_URL = 4096


def _id(value: str | None) -> str | None:
    return value[:MAX_ID_CHARS] if value else None


def dedupe_key(mail: ParsedEmail) -> str:
    """Identity of one mail across a provider's redeliveries: Message-ID plus a content hash.

    Message-IDs alone can be missing or reused by broken mailers, so the hash of what the
    sender wrote (not the trace headers relays add) is always part of the key.
    """
    content = mail.fingerprint[:32]
    if mail.message_id:
        return f"{mail.message_id[:_MAX_MESSAGE_ID]}|{content}"
    return f"fp:{mail.fingerprint[:48]}"


def customer_of(mail: ParsedEmail) -> Customer:
    address = mail.from_address or mail.envelope_from
    if not address:
        raise MalformedEmail("from", "no sender address in From, Sender, Reply-To or the envelope")
    name = mail.from_name[:MAX_ID_CHARS] if mail.from_name else None
    return Customer(address=address[:MAX_ID_CHARS], display_name=name)


def to_message(
    mail: ParsedEmail,
    *,
    provider: Provider,
    thread_key: str,
    message_id: UUID,
    received_at: datetime,
) -> MessageReceived:
    """The normalized event data, its `full_text` cut so that the event fits what consumers read;
    raises MalformedEmail when the mail names no sender, or cannot fit one event even so."""
    text = mail.text[:MAX_TEXT_CHARS]
    full_text = mail.full_text[:_MAX_FULL_TEXT] if mail.full_text.strip() != text.strip() else None
    subject = mail.subject[:4096] if mail.subject else None
    message = MessageReceived(
        message_id=message_id,
        channel=Channel.EMAIL,
        provider=provider,
        provider_message_id=_id(mail.message_id),
        thread_key=thread_key[:MAX_ID_CHARS],
        customer=customer_of(mail),
        subject=subject,
        text=text,
        full_text=full_text,
        attachments=[
            Attachment(
                filename=_id(a.filename),
                content_type=a.content_type,
                size_bytes=a.size_bytes,
                url=a.url[:_MAX_URL] if a.url else None,
            )
            for a in mail.attachments
        ],
        language=detect_language(text) or (detect_language(subject) if subject else None),
        sent_at=mail.sent_at,
        received_at=received_at,
        auto_reply=mail.auto_reply,
        email=EmailHeaders(
            message_id=_id(mail.message_id),
            in_reply_to=_id(mail.in_reply_to),
            references=[r[:MAX_ID_CHARS] for r in mail.references],
            to=[a[:MAX_ID_CHARS] for a in mail.to],
            cc=[a[:MAX_ID_CHARS] for a in mail.cc],
            envelope_to=[a[:MAX_ID_CHARS] for a in mail.envelope_to],
        ),
    )
    try:
        return within_event_limit(message)
    except EventTooLarge as exc:
        raise MalformedEmail("body", str(exc)) from exc
