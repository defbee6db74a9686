"""Waiting conversations, indexed so that an agent finds the best one it can take quickly.

Conversations are bucketed by (group, requirement); each bucket is sorted in queue order:
priority (high first), then SLA due time (soonest first, none last), then age, then id.
Requirements are found through their anchor (first index term, or `*`), so an agent only
looks at the requirements anchored on a skill or language it has.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Callable, Container, Iterator
from operator import attrgetter

from omni_router.domain.model import ANY_SKILL, Requirement, RoutingRequest


class WaitingConversation:
    """One conversation that waits, with its current (possibly widened) requirement."""

    __slots__ = (
        "declined",
        "group",
        "order",
        "overflowed",
        "priority",
        "queue",
        "request",
        "requirement",
        "sla_due",
        "step",
        "sticky_agent",
        "sticky_until",
    )

    def __init__(self, request: RoutingRequest, *, group: int, requirement: Requirement) -> None:
        self.request = request
        self.group = group
        self.queue = request.queue
        self.priority = request.priority
        self.sla_due = request.sla_due_at if request.sla_due_at is not None else math.inf
        self.requirement = requirement
        self.step = 0
        self.overflowed = False
        self.declined: set[str] = set(request.excluded_agents)
        self.sticky_agent: str | None = None
        self.sticky_until = 0.0
        self.order: tuple[int, float, float, str] = (0, 0.0, 0.0, "")

    @property
    def conversation_id(self) -> str:
        return self.request.conversation_id


def queue_order(conv: WaitingConversation) -> tuple[int, float, float, str]:
    return (-conv.priority, conv.sla_due, conv.request.enqueued_at, conv.request.conversation_id)


_ORDER = attrgetter("order")
_AFTER_EVERY_ORDER: tuple[float | str, ...] = (math.inf,)  # sorts after every queue order (-priority is an int)
_ANY = (ANY_SKILL, 1)


class WaitingIndex:
    """Waiting conversations by (group, requirement), each bucket in queue order.

    Each bucket is found through one anchor term of its requirement, (skill, minimum level): the
    term met by the fewest agents when the bucket opens, if `rarity(group, skill, min_level)` is
    given, else the first term (`*` for none). An agent only looks at the buckets anchored on a
    skill it has at the anchor's level or higher.
    """

    def __init__(self, rarity: Callable[[int, str, int], int] | None = None) -> None:
        self.by_id: dict[str, WaitingConversation] = {}
        self._rarity = rarity
        self._buckets: dict[tuple[int, Requirement], list[WaitingConversation]] = {}
        # group -> anchor skill -> anchor level -> requirement -> its bucket; and each bucket's anchor
        self._anchors: dict[int, dict[str, dict[int, dict[Requirement, list[WaitingConversation]]]]] = {}
        self._anchor_of: dict[tuple[int, Requirement], tuple[str, int]] = {}

    def __len__(self) -> int:
        return len(self.by_id)

    def _anchor(self, group: int, requirement: Requirement) -> tuple[str, int]:
        terms = requirement.terms
        if not terms:
            return _ANY
        rarity = self._rarity
        if rarity is None or len(terms) == 1:
            return terms[0]
        return min(terms, key=lambda t: (rarity(group, t[0], t[1]), -t[1], t[0]))

    def add(self, conv: WaitingConversation) -> None:
        self.by_id[conv.conversation_id] = conv
        conv.order = queue_order(conv)
        key = (conv.group, conv.requirement)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = [conv]
            skill, level = self._anchor_of[key] = self._anchor(conv.group, conv.requirement)
            by_skill = self._anchors.setdefault(conv.group, {})
            levels = by_skill.get(skill)
            if levels is None:
                levels = by_skill[skill] = {}
            anchored = levels.get(level)
            if anchored is None:
                anchored = levels[level] = {}
            anchored[conv.requirement] = bucket
            return
        insort(bucket, conv, key=_ORDER)

    def remove(self, conversation_id: str) -> WaitingConversation | None:
        conv = self.by_id.pop(conversation_id, None)
        if conv is None:
            return None
        key = (conv.group, conv.requirement)
        bucket = self._buckets[key]
        i = bisect_left(bucket, conv.order, key=_ORDER)
        while bucket[i] is not conv:
            i += 1
        del bucket[i]
        if not bucket:
            del self._buckets[key]
            skill, level = self._anchor_of.pop(key)
            by_skill = self._anchors[conv.group]
            levels = by_skill[skill]
            anchored = levels[level]
            del anchored[conv.requirement]
            if not anchored:
                del levels[level]
                if not levels:
                    del by_skill[skill]
                    if not by_skill:
                        del self._anchors[conv.group]
        return conv

    def best_for(
        self, group: int, skills: dict[str, int], agent_id: str, *, now: float, skip: Container[str] = ()
    ) -> WaitingConversation | None:
        """The first conversation in queue order that an agent with these skills may take."""
        anchors = self._anchors.get(group)
        if anchors is None:
            return None
        best: WaitingConversation | None = None
        best_order: tuple[float | str, ...] = _AFTER_EVERY_ORDER
        for skill, have in skills.items():
            levels = anchors.get(skill)
            if levels is None:
                continue
            for need, requirements in levels.items():
                if need > have:
                    continue
                for requirement, bucket in requirements.items():
                    if bucket[0].order >= best_order:
                        continue  # sorted: nothing in this bucket beats the best so far
                    for name, level in requirement.terms:
                        if skills.get(name, 0) < level:
                            break
                    else:
                        for conv in bucket:
                            if agent_id in conv.declined or (skip and conv.request.conversation_id in skip):
                                continue
                            if (
                                conv.sticky_agent is not None
                                and conv.sticky_agent != agent_id
                                and now < conv.sticky_until
                            ):
                                continue
                            if conv.order < best_order:
                                best, best_order = conv, conv.order
                            break
        return best

    def all(self) -> Iterator[WaitingConversation]:
        return iter(list(self.by_id.values()))
