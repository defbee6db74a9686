"""The topic registry: each topic with its key, event types, producers and consumers."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field

from pydantic import BaseModel

from omni_schemas import events as ev


@dataclass(frozen=True, slots=True)
class EventType:
    type: str
    topic: str
    model: builtins.type[BaseModel]
    description: str


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    key_field: str | None
    """The data field whose value is the Kafka key and the CloudEvents `subject`."""
    partitions: int
    compacted: bool
    retention_ms: int
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    description: str
    event_types: tuple[str, ...] = field(default=())


_DAY_MS = 24 * 3600 * 1000

MESSAGES = "omni.messages.v1"
CONVERSATIONS = "omni.conversations.v1"
AGENTS = "omni.agents.v1"
SLA = "omni.sla.v1"
DEADLETTER = "omni.deadletter.v1"

_C = "omni.conversation."

_TYPES: list[EventType] = [
    EventType("omni.message.received.v1", MESSAGES, ev.MessageReceived, "A customer message arrived on a channel."),
    EventType(_C + "opened.v1", CONVERSATIONS, ev.ConversationOpened, "A new conversation began."),
    EventType(_C + "customer_replied.v1", CONVERSATIONS, ev.ConversationCustomerReplied, "The customer wrote again."),
    EventType(_C + "queued.v1", CONVERSATIONS, ev.ConversationQueued, "The conversation waits in a queue."),
    EventType(_C + "offered.v1", CONVERSATIONS, ev.ConversationOffered, "Offered to an agent, who must accept."),
    EventType(_C + "offer_declined.v1", CONVERSATIONS, ev.ConversationOfferDeclined, "The agent declined."),
    EventType(_C + "offer_expired.v1", CONVERSATIONS, ev.ConversationOfferExpired, "The offer timed out."),
    EventType(_C + "assigned.v1", CONVERSATIONS, ev.ConversationAssigned, "An agent now owns it, with the reason."),
    EventType(_C + "agent_replied.v1", CONVERSATIONS, ev.ConversationAgentReplied, "The agent answered."),
    EventType(_C + "transferred.v1", CONVERSATIONS, ev.ConversationTransferred, "Moved to a queue or an agent."),
    EventType(_C + "resolved.v1", CONVERSATIONS, ev.ConversationResolved, "The agent resolved it."),
    EventType(_C + "reopened.v1", CONVERSATIONS, ev.ConversationReopened, "A resolved conversation reopened."),
    EventType(_C + "abandoned.v1", CONVERSATIONS, ev.ConversationAbandoned, "The customer left before an agent."),
    EventType(_C + "csat_submitted.v1", CONVERSATIONS, ev.ConversationCsatSubmitted, "The customer rated it."),
    EventType("omni.agent.updated.v1", AGENTS, ev.AgentUpdated, "An agent's profile: skills, languages, capacity."),
    EventType("omni.agent.presence_changed.v1", AGENTS, ev.AgentPresenceChanged, "An agent's presence changed."),
    EventType("omni.sla.warning.v1", SLA, ev.SlaWarning, "An SLA clock is near its target."),
    EventType("omni.sla.breached.v1", SLA, ev.SlaBreached, "An SLA clock passed its target."),
    EventType("omni.sla.met.v1", SLA, ev.SlaMet, "An SLA clock stopped in time."),
    EventType("omni.deadletter.v1", DEADLETTER, ev.DeadLetter, "A message that could not be processed."),
]

EVENT_TYPES: dict[str, EventType] = {t.type: t for t in _TYPES}

_TOPIC_LIST = [
    Topic(
        MESSAGES,
        "thread_key",
        12,
        False,
        7 * _DAY_MS,
        ("ingest_email", "ingest_chat", "ingest_social"),
        ("router",),
        "Every inbound customer message, normalized.",
    ),
    Topic(
        CONVERSATIONS,
        "conversation_id",
        12,
        False,
        30 * _DAY_MS,
        ("router",),
        ("sla", "analytics"),
        "The life of each conversation, from opened to resolved.",
    ),
    Topic(
        AGENTS,
        "agent_id",
        6,
        True,
        -1,
        ("router",),
        ("router", "analytics"),
        "Agent profiles and presence; compacted, so the latest state per agent is kept.",
    ),
    Topic(
        SLA,
        "conversation_id",
        12,
        False,
        30 * _DAY_MS,
        ("sla",),
        ("router", "analytics"),
        "SLA warnings, breaches and met targets.",
    ),
    Topic(
        DEADLETTER,
        None,
        3,
        False,
        30 * _DAY_MS,
        ("ingest_email", "ingest_chat", "ingest_social", "router", "sla", "analytics"),
        (),
        "What could not be processed, with the original bytes and the reason.",
    ),
]

TOPICS: dict[str, Topic] = {
    t.name: Topic(
        **{
            **{f: getattr(t, f) for f in t.__dataclass_fields__},
            "event_types": tuple(e.type for e in _TYPES if e.topic == t.name),
        }
    )
    for t in _TOPIC_LIST
}


def topic_for_type(event_type: str) -> Topic:
    """The topic an event type is published on; KeyError for an unknown type."""
    return TOPICS[EVENT_TYPES[event_type].topic]
