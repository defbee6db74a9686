"""A parsed inbound e-mail: the facts every provider's format is reduced to."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class AttachmentMeta:
    filename: str | None
    content_type: str
    size_bytes: int | None
    url: str | None = None
    """Where the provider keeps the file (Mailgun store()), when it is not posted itself."""


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    """One mail, decoded: `text` has quoted history and signature removed, `full_text` has the whole body."""

    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    from_address: str | None
    from_name: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str | None
    sent_at: datetime | None
    text: str
    full_text: str
    attachments: tuple[AttachmentMeta, ...] = ()
    auto_reply_reason: str | None = None
    fingerprint: str = ""
    envelope_to: tuple[str, ...] = ()
    envelope_from: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def auto_reply(self) -> bool:
        return self.auto_reply_reason is not None


class MalformedEmail(ValueError):
    """The input cannot become a message (no sender, no body at all, broken form); answer 400 / 554."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message
