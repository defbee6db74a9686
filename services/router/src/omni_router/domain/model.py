"""Plain values of the decision core: agents, queues, requirements and decisions.

Times are seconds since the epoch (floats), always passed in by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

GROUPS: tuple[str, ...] = ("email", "chat", "sms", "social")
"""Capacity groups, in a fixed order (the index of a group in this tuple is used internally)."""

_SOCIAL = frozenset({"messenger", "instagram", "whatsapp", "line", "x", "telegram"})

ANY_SKILL = "*"
"""Pseudo-skill every agent has at level 1: the bucket of a requirement without skills."""

LANGUAGE_PREFIX = "@"
"""A spoken language is indexed as the pseudo-skill `@<primary subtag>` at level 1."""


def group_of(channel: str) -> str:
    """The capacity group a channel counts against."""
    if channel in ("email", "chat", "sms"):
        return channel
    if channel in _SOCIAL:
        return "social"
    raise ValueError(f"unknown channel {channel!r}")


def primary_language(tag: str | None) -> str | None:
    """The lower-cased primary subtag of a BCP 47 tag (`ja-JP` -> `ja`), or None."""
    if not tag:
        return None
    return tag.split("-", 1)[0].split("_", 1)[0].strip().lower() or None


class Strategy(StrEnum):
    LONGEST_IDLE = "longest_idle"
    LEAST_LOADED = "least_loaded"
    BEST_SKILL = "best_skill"
    ROUND_ROBIN = "round_robin"


class Presence(StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    AWAY = "away"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """What an administrator says about an agent (capacity per group; absent group = 0)."""

    agent_id: str
    skills: Mapping[str, int] = field(default_factory=dict)
    languages: tuple[str, ...] = ()
    capacity: Mapping[str, int] = field(default_factory=dict)
    presence: Presence = Presence.OFFLINE


@dataclass(frozen=True, slots=True)
class Requirement:
    """Skills (name, minimum level) an agent must have, sorted by name, and a language or None.

    `terms` is the requirement as index terms: the skills plus the language pseudo-skill.
    Build it with `Requirement.of`.
    """

    skills: tuple[tuple[str, int], ...] = ()
    language: str | None = None
    terms: tuple[tuple[str, int], ...] = field(default=(), compare=False, hash=False, repr=False)
    hashed: int = field(default=0, compare=False, hash=False, repr=False)

    def __hash__(self) -> int:
        return self.hashed

    @staticmethod
    def of(skills: Mapping[str, int], language: str | None = None) -> Requirement:
        ordered = tuple(sorted(skills.items()))
        lang = primary_language(language)
        terms = ordered if lang is None else (*ordered, (LANGUAGE_PREFIX + lang, 1))
        return Requirement(ordered, lang, terms, hash((ordered, lang)))

    def as_index_terms(self) -> tuple[tuple[str, int], ...]:
        return self.terms

    def satisfied_by(self, skills: Mapping[str, int]) -> bool:
        for name, level in self.terms:  # noqa: SIM110 - a plain loop is faster on this hot path
            if skills.get(name, 0) < level:
                return False
        return True


@dataclass(frozen=True, slots=True)
class WideningStep:
    """After `after_s` seconds of waiting: drop optional skills and/or lower every minimum level."""

    after_s: float
    drop_optional: bool = False
    lower_levels_by: int = 0


@dataclass(frozen=True, slots=True)
class QueueSpec:
    name: str
    strategy: Strategy = Strategy.LONGEST_IDLE
    offer_timeout_s: float = 0.0
    widening: tuple[WideningStep, ...] = ()
    overflow_after_s: float | None = None
    overflow_to: str | None = None
    skills: Mapping[str, int] = field(default_factory=dict)
    """Skills any conversation of this queue needs (used when a conversation overflows into it)."""
    sticky_grace_s: float = 0.0


@dataclass(frozen=True, slots=True)
class RoutingRequest:
    """A conversation that needs an agent."""

    conversation_id: str
    channel: str
    queue: str
    skills: Mapping[str, int] = field(default_factory=dict)
    optional_skills: Mapping[str, int] = field(default_factory=dict)
    language: str | None = None
    priority: int = 0
    sla_due_at: float | None = None
    enqueued_at: float = 0.0
    rule: str | None = None
    last_agent_id: str | None = None
    excluded_agents: frozenset[str] = frozenset()


_CLASSIFIED: dict[tuple[tuple[tuple[str, int], ...], str | None], Requirement] = {}
"""Requirements as classified (step 0, no optional skills), by the request's skills and language:
the same few requirements come again and again, and a requirement is an immutable value."""


def requirement_at(request: RoutingRequest, step: int, widening: tuple[WideningStep, ...]) -> Requirement:
    """The requirement after `step` widening steps (0 = as classified, optional skills included)."""
    if not step and not request.optional_skills:  # the common case: the requirement as classified
        key = (tuple(request.skills.items()), request.language)
        found = _CLASSIFIED.get(key)
        if found is None:
            if len(_CLASSIFIED) >= 4096:  # rules yield a few hundred distinct requirements; stay bounded
                _CLASSIFIED.clear()
            found = _CLASSIFIED[key] = Requirement.of({k: max(1, v) for k, v in request.skills.items()}, key[1])
        return found
    drop = False
    lower = 0
    for spec in widening[:step]:
        drop = drop or spec.drop_optional
        lower += spec.lower_levels_by
    skills: dict[str, int] = {} if drop else dict(request.optional_skills)
    for name, level in request.skills.items():
        skills[name] = max(level, skills.get(name, 0))
    return Requirement.of({k: max(1, v - lower) for k, v in skills.items()}, request.language)


# --- decisions -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reason:
    """Why this agent; maps one to one onto omni_schemas.AssignmentReason."""

    summary: str
    strategy: str
    rule: str | None
    skills: Mapping[str, int]
    agent_skills: Mapping[str, int]
    widening_step: int
    sticky: bool
    candidates: int


@dataclass(frozen=True, slots=True)
class Assigned:
    """The agent owns the conversation now (direct assignment or an accepted offer)."""

    conversation_id: str
    agent_id: str
    group: str
    queue: str
    reason: Reason
    waited_s: float


@dataclass(frozen=True, slots=True)
class Offered:
    """The agent is offered the conversation and holds a slot for it until `expires_at`."""

    conversation_id: str
    agent_id: str
    group: str
    queue: str
    reason: Reason
    expires_at: float
    waited_s: float


@dataclass(frozen=True, slots=True)
class Queued:
    """The conversation waits: newly, after a decline or expiry, or after widening or overflow."""

    conversation_id: str
    queue: str
    widening_step: int
    why: str
    rule: str | None


@dataclass(frozen=True, slots=True)
class OfferEnded:
    """An offer was declined or expired; the agent's slot is free again."""

    conversation_id: str
    agent_id: str
    expired: bool


Decision = Assigned | Offered | Queued | OfferEnded
