"""The project's own web chat API: one message from a visitor in a session.

Body: `{"text": "...", "visitor": {"id": "...", "name": null, "email": null},
"client_message_id": null, "sent_at": null}`. `client_message_id` is the widget's own id for
the message; a retry carrying the same one yields no second event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from omni_ingest_chat.domain.normalized import Normalized
from omni_ingest_chat.domain.threads import chat_thread_key
from omni_schemas import MAX_TEXT_CHARS, Channel, Customer, MessageReceived, Provider
from omni_service.language import detect_language

_ID_PATTERN = r"^[A-Za-z0-9._:@~-]{1,128}$"


class Visitor(BaseModel):
    """Who is typing in the widget: the site's own visitor id, and what they told us."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1, max_length=256, description="The site's visitor id (stable across visits).")
    name: str | None = Field(default=None, max_length=256)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")

    @field_validator("id")
    @classmethod
    def _id_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        if "\x00" in value:  # consumers keep ids as PostgreSQL text, which cannot hold it
            raise ValueError("must not contain the NUL character (\\u0000)")
        return value.strip()

    @field_validator("email", mode="before")
    @classmethod
    def _blank_email_is_none(cls, value: object) -> object:
        # a pre-chat form's empty e-mail input is posted as "": the visitor gave none
        return None if isinstance(value, str) and not value.strip() else value


class ChatMessageIn(BaseModel):
    """One visitor message posted by the widget."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    visitor: Visitor
    client_message_id: str | None = Field(
        default=None, pattern=_ID_PATTERN, description="The widget's id for this message; retries reuse it."
    )
    sent_at: AwareDatetime | None = Field(default=None, description="When the visitor sent it (widget clock).")

    @field_validator("sent_at")
    @classmethod
    def _sent_at_in_utc(cls, value: datetime | None) -> datetime | None:
        # in UTC, as every time on the bus; a widget clock near year 1 or 9999 has no UTC instant
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("must be an instant between years 1 and 9999 in UTC") from None

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, value: str) -> str:
        if not value.replace("\x00", "").strip():
            raise ValueError("must contain more than whitespace")
        return value


class IgnoredBody(BaseModel):
    """The optional body of starting and closing a session: a JSON object, none of its members read yet."""

    model_config = ConfigDict(extra="ignore", frozen=True)


def dedupe_key(session_id: str, client_message_id: str | None) -> str | None:
    """Client message ids are unique within a session, so the key is scoped to it."""
    return f"{session_id}:{client_message_id}" if client_message_id else None


def normalize_chat_message(
    session_id: str, body: ChatMessageIn, *, message_id: UUID, received_at: datetime
) -> Normalized:
    """The normalized message of one web chat post in `session_id`."""
    text = body.text.replace("\x00", "")  # no consumer can store it; it says nothing
    message = MessageReceived(
        message_id=message_id,
        channel=Channel.CHAT,
        provider=Provider.WEBCHAT,
        provider_message_id=body.client_message_id,
        thread_key=chat_thread_key(session_id),
        customer=Customer(
            address=body.visitor.id, display_name=(body.visitor.name or "").replace("\x00", "").strip() or None
        ),
        subject=None,
        text=text,
        attachments=[],
        language=detect_language(text),
        sent_at=body.sent_at,
        received_at=received_at,
    )
    return Normalized(message=message, dedupe_key=dedupe_key(session_id, body.client_message_id))
