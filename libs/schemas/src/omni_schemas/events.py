"""Data models of every omni event type (the `data` member of the CloudEvent).

Rules of evolution: adding an optional field keeps `v1`; any other change is a new
`v2` type. Models ignore unknown fields so that consumers keep working while
producers add optional ones.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

MAX_TEXT_CHARS = 64 * 1024
"""Longest `text` a message event may carry; longer bodies are truncated by ingest."""

MAX_ID_CHARS = 512


class Channel(StrEnum):
    EMAIL = "email"
    CHAT = "chat"
    SMS = "sms"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    WHATSAPP = "whatsapp"
    LINE = "line"
    X = "x"
    TELEGRAM = "telegram"


class Provider(StrEnum):
    SMTP = "smtp"
    SENDGRID = "sendgrid"
    MAILGUN = "mailgun"
    WEBCHAT = "webchat"
    TWILIO = "twilio"
    META = "meta"
    LINE = "line"
    X = "x"
    TELEGRAM = "telegram"


class ChannelGroup(StrEnum):
    """Capacity is counted per group: e-mail, chat, SMS, and all social apps together."""

    EMAIL = "email"
    CHAT = "chat"
    SMS = "sms"
    SOCIAL = "social"


def channel_group(channel: Channel | str) -> ChannelGroup:
    """The capacity group a channel's conversations count against."""
    value = Channel(channel)
    if value in (Channel.EMAIL, Channel.CHAT, Channel.SMS):
        return ChannelGroup(value.value)
    return ChannelGroup.SOCIAL


class Presence(StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    AWAY = "away"
    OFFLINE = "offline"


class SlaMetric(StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (\\u0000), which consumers' PostgreSQL text cannot hold")
    return value


Id = Annotated[
    str,
    Field(min_length=1, max_length=MAX_ID_CHARS, json_schema_extra={"pattern": "^[^\\u0000]*$"}),
    AfterValidator(_no_nul),
]
"""An identifier: never the NUL character."""
SkillLevel = Annotated[int, Field(ge=1, le=10)]


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, use_enum_values=False)


# --- omni.messages.v1 -------------------------------------------------------------


class Customer(_Data):
    address: Id = Field(description="Lower-cased e-mail address, E.164 phone number or the provider's user id.")
    display_name: str | None = Field(default=None, max_length=MAX_ID_CHARS)


class Attachment(_Data):
    filename: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    content_type: str = Field(max_length=255)
    size_bytes: int | None = Field(default=None, ge=0, description="Null when the provider does not say.")
    url: str | None = Field(default=None, max_length=4096, description="Provider media URL, where one exists.")
    media_id: Id | None = Field(
        default=None,
        description="The provider's id of the media, for channels that serve it by id: the WhatsApp media id "
        "(Graph API `GET /{media_id}`), the Telegram `file_id` (`getFile`), the LINE message id "
        "(`GET https://api-data.line.me/v2/bot/message/{id}/content`). Null elsewhere.",
    )


class EmailHeaders(_Data):
    """Threading and routing facts of an e-mail, for consumers that reply by mail."""

    message_id: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    in_reply_to: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    references: list[str] = Field(default_factory=list)
    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    envelope_to: list[str] = Field(default_factory=list)


class MessageReceived(_Data):
    """A customer's inbound message, normalized from any channel."""

    message_id: UUID
    channel: Channel
    provider: Provider
    provider_message_id: str | None = Field(max_length=MAX_ID_CHARS)
    thread_key: Id
    customer: Customer
    subject: str | None = Field(default=None, max_length=4096)
    text: str = Field(max_length=MAX_TEXT_CHARS, description="Plain text, quoted history stripped.")
    full_text: str | None = Field(
        default=None, max_length=4 * MAX_TEXT_CHARS, description="The whole body when `text` was trimmed."
    )
    attachments: list[Attachment] = Field(default_factory=list, max_length=100)
    language: str | None = Field(default=None, max_length=35, description="BCP 47 tag, or null.")
    sent_at: AwareDatetime | None = None
    received_at: AwareDatetime
    auto_reply: bool = Field(
        default=False, description="Auto-reply, bounce or bulk mail: recorded, not routed as a new contact."
    )
    tier: str | None = Field(default=None, max_length=64, description="Customer tier, where the channel knows it.")
    email: EmailHeaders | None = None


# --- omni.conversations.v1 --------------------------------------------------------


class _Conversation(_Data):
    conversation_id: UUID
    channel: Channel
    agent_id: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    queue: str | None = Field(default=None, max_length=128)
    priority: int | None = Field(default=None, ge=0, le=100)
    required_skills: dict[str, SkillLevel] | None = None
    waited_seconds: float | None = Field(default=None, ge=0)
    tier: str | None = Field(default=None, max_length=64)
    occurred_at: AwareDatetime | None = Field(
        default=None, description="When it happened, if different from the envelope `time`."
    )


class ConversationOpened(_Conversation):
    thread_key: Id
    customer_id: Id
    first_message_id: UUID
    language: str | None = None


class ConversationCustomerReplied(_Conversation):
    message_id: UUID


class ConversationQueued(_Conversation):
    rule: str | None = Field(default=None, description="Classification rule that chose the queue.")
    widening_step: int = Field(default=0, ge=0)


class ConversationOffered(_Conversation):
    agent_id: Id
    offer_expires_at: AwareDatetime
    reason: AssignmentReason


class ConversationOfferDeclined(_Conversation):
    agent_id: Id


class ConversationOfferExpired(_Conversation):
    agent_id: Id


class AssignmentReason(_Data):
    """Why this agent: enough to answer the question from the event alone."""

    summary: str
    strategy: str
    rule: str | None = None
    skills: dict[str, SkillLevel] = Field(default_factory=dict, description="Skills required at this step.")
    agent_skills: dict[str, SkillLevel] = Field(default_factory=dict, description="The agent's levels of them.")
    widening_step: int = 0
    sticky: bool = False
    candidates: int = Field(default=0, ge=0, description="Eligible agents considered.")


class ConversationAssigned(_Conversation):
    agent_id: Id
    reason: AssignmentReason


class ConversationAgentReplied(_Conversation):
    agent_id: Id
    message_id: UUID | None = None
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)


class ConversationTransferred(_Conversation):
    from_agent_id: str | None = None
    to_queue: str | None = None
    to_agent_id: str | None = None


class ConversationResolved(_Conversation):
    pass


class ConversationReopened(_Conversation):
    message_id: UUID | None = None


class ConversationAbandoned(_Conversation):
    pass


class ConversationCsatSubmitted(_Conversation):
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=4096)


# --- omni.agents.v1 ---------------------------------------------------------------


class AgentUpdated(_Data):
    agent_id: Id
    display_name: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    skills: dict[str, SkillLevel] = Field(default_factory=dict)
    languages: list[str] = Field(default_factory=list)
    capacity: dict[ChannelGroup, int] = Field(default_factory=dict)

    @field_validator("capacity")
    @classmethod
    def _capacity_non_negative(cls, value: dict[ChannelGroup, int]) -> dict[ChannelGroup, int]:
        for group, slots in value.items():
            if slots < 0 or slots > 1000:
                raise ValueError(f"capacity.{group.value} must be between 0 and 1000, got {slots}")
        return value


class AgentPresenceChanged(_Data):
    agent_id: Id
    status: Presence
    previous_status: Presence | None = None


# --- omni.sla.v1 ------------------------------------------------------------------


class _Sla(_Data):
    conversation_id: UUID
    policy: str
    metric: SlaMetric
    due_at: AwareDatetime
    cycle: int = Field(default=1, ge=1, description="Clock cycle: a reopen or a new customer reply starts the next.")
    channel: Channel | None = None
    queue: str | None = None


class SlaWarning(_Sla):
    remaining_seconds: float


class SlaBreached(_Sla):
    breached_at: AwareDatetime


class SlaMet(_Sla):
    met_at: AwareDatetime
    remaining_seconds: float


# --- omni.deadletter.v1 -----------------------------------------------------------


class DeadLetter(_Data):
    """A message a consumer or endpoint could not process, with its original bytes."""

    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    endpoint: str | None = Field(default=None, description="HTTP endpoint or SMTP, for ingest failures.")
    consumer: str | None = Field(default=None, description="The consumer group or service that gave up.")
    key: str | None = None
    payload_base64: str
    payload_size: int | None = Field(
        default=None,
        ge=0,
        description="The original payload's length in bytes; more than payload_base64 holds when cut.",
    )
    headers: dict[str, str] = Field(default_factory=dict)
    reason: str
    error: str | None = None
    failed_at: datetime


ConversationOffered.model_rebuild()

__all__ = [
    "MAX_TEXT_CHARS",
    "AgentPresenceChanged",
    "AgentUpdated",
    "AssignmentReason",
    "Attachment",
    "Channel",
    "ChannelGroup",
    "ConversationAbandoned",
    "ConversationAgentReplied",
    "ConversationAssigned",
    "ConversationCsatSubmitted",
    "ConversationCustomerReplied",
    "ConversationOfferDeclined",
    "ConversationOfferExpired",
    "ConversationOffered",
    "ConversationOpened",
    "ConversationQueued",
    "ConversationReopened",
    "ConversationResolved",
    "ConversationTransferred",
    "Customer",
    "DeadLetter",
    "EmailHeaders",
    "MessageReceived",
    "Presence",
    "Provider",
    "SlaBreached",
    "SlaMet",
    "SlaMetric",
    "SlaWarning",
    "channel_group",
]
