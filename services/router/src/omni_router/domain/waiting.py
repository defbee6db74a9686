"""Waiting conversations, indexed so that an agent finds the best one it can take quickly.

Conversations are bucketed by (group, requirement); each bucket is sorted in queue order:
priority (high first), then SLA due time (soonest first, none last), then age, then id.
Requirements are found through their anchor (first index term, or `*`), so an agent only
looks at the requirements anchored on a skill or language it has.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Container, Iterator
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


class WaitingIndex:
    """Waiting conversations by (group, requirement), each bucket in queue order."""

    def __init__(self) -> None:
        self.by_id: dict[str, WaitingConversation] = {}
        self._buckets: dict[tuple[int, Requirement], list[WaitingConversation]] = {}
        self._anchors: dict[tuple[int, str], set[Requirement]] = {}

    def __len__(self) -> int:
        return len(self.by_id)

    def add(self, conv: WaitingConversation) -> None:
        self.by_id[conv.conversation_id] = conv
        conv.order = queue_order(conv)
        key = (conv.group, conv.requirement)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = []
            terms = conv.requirement.as_index_terms()
            anchor = terms[0][0] if terms else ANY_SKILL
            self._anchors.setdefault((conv.group, anchor), set()).add(conv.requirement)
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
            terms = conv.requirement.as_index_terms()
            anchor = terms[0][0] if terms else ANY_SKILL
            anchored = self._anchors[(conv.group, anchor)]
            anchored.discard(conv.requirement)
            if not anchored:
                del self._anchors[(conv.group, anchor)]
        return conv

    def best_for(
        self, group: int, skills: dict[str, int], agent_id: str, *, now: float, skip: Container[str] = ()
    ) -> WaitingConversation | None:
        """The first conversation in queue order that an agent with these skills may take."""
        best: WaitingConversation | None = None
        for skill in skills:
            for requirement in self._anchors.get((group, skill), ()):
                bucket = self._buckets[(group, requirement)]
                if best is not None and bucket[0].order >= best.order:
                    continue  # sorted: nothing in this bucket beats the best so far
                if not requirement.satisfied_by(skills):
                    continue
                for conv in self._takeable(bucket, agent_id, now, skip):
                    if best is None or conv.order < best.order:
                        best = conv
                    break
        return best

    @staticmethod
    def _takeable(
        bucket: list[WaitingConversation], agent_id: str, now: float, skip: Container[str]
    ) -> Iterator[WaitingConversation]:
        for conv in bucket:
            if agent_id in conv.declined or conv.conversation_id in skip:
                continue
            if conv.sticky_agent is not None and conv.sticky_agent != agent_id and now < conv.sticky_until:
                continue
            yield conv

    def all(self) -> Iterator[WaitingConversation]:
        return iter(list(self.by_id.values()))
