"""The baseline of the decision benchmark: the same routing rules, by scanning every agent and
every waiting conversation per decision (what a straightforward implementation does)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from omni_router.domain.agents import group_index
from omni_router.domain.model import (
    GROUPS,
    Assigned,
    Decision,
    Presence,
    Requirement,
    RoutingRequest,
    Strategy,
    group_of,
    requirement_at,
)
from omni_router.domain.routing import RoutingCore


@dataclass
class _Agent:
    agent_id: str
    skills: dict[str, int]
    capacity: tuple[int, ...]
    load: list[int]
    presence: Presence
    idle: list[float]
    rr: list[float]
    ordinal: int  # ties go to the agent the core has known longest


@dataclass
class _Conv:
    cid: str
    group: int
    queue: str
    priority: int
    sla_due: float
    enqueued_at: float
    requirement: Requirement
    declined: set[str] = field(default_factory=set)

    def order(self) -> tuple[int, float, float, str]:
        return (-self.priority, self.sla_due, self.enqueued_at, self.cid)


class NaiveCore:
    def __init__(self, core: RoutingCore) -> None:
        self.queues = core.queues
        self.seq = core._seq
        self.agents: dict[str, _Agent] = {}
        self.waiting: dict[str, _Conv] = {}
        self.held: dict[str, tuple[str, int]] = {}

    @classmethod
    def from_core(cls, core: RoutingCore) -> NaiveCore:
        naive = cls(core)
        for a in core.agents.agents.values():
            naive.agents[a.agent_id] = _Agent(
                a.agent_id,
                dict(a.skills),
                a.capacity,
                list(a.load),
                a.presence,
                [a.idle_key(g) for g in range(4)],
                [a.rr_key(g) for g in range(4)],
                a.ordinal,
            )
        for c in core.waiting.by_id.values():
            naive.waiting[c.conversation_id] = _Conv(
                c.conversation_id,
                c.group,
                c.queue,
                c.priority,
                c.sla_due,
                c.request.enqueued_at,
                c.requirement,
                set(c.declined),
            )
        for cid, h in core.held.items():
            naive.held[cid] = (h.agent_id, h.conv.group)
        return naive

    def _eligible(self, a: _Agent, g: int, req: Requirement, declined: set[str]) -> bool:
        return (
            a.presence is Presence.AVAILABLE
            and a.capacity[g] - a.load[g] > 0
            and a.agent_id not in declined
            and req.satisfied_by(a.skills)
        )

    def _key(self, a: _Agent, g: int, req: Requirement, strategy: Strategy) -> tuple[float, ...] | tuple:
        if strategy is Strategy.LEAST_LOADED:
            return (-(a.capacity[g] - a.load[g]), a.idle[g], a.ordinal)
        if strategy is Strategy.BEST_SKILL and req.skills:
            pivot = max(req.skills, key=lambda t: (t[1], t[0]))
            return (-a.skills.get(pivot[0], 0), a.idle[g], a.ordinal)
        if strategy is Strategy.ROUND_ROBIN:
            return (a.rr[g], a.ordinal)
        return (a.idle[g], a.ordinal)

    def _claim(self, conv: _Conv, a: _Agent, now: float) -> Assigned:
        del self.waiting[conv.cid]
        a.load[conv.group] += 1
        self.seq += 1
        a.rr[conv.group] = float(self.seq)
        a.idle[conv.group] = max(now, a.idle[conv.group])
        self.held[conv.cid] = (a.agent_id, conv.group)
        return Assigned(conv.cid, a.agent_id, GROUPS[conv.group], conv.queue, None, 0.0)  # type: ignore[arg-type]

    def enqueue(self, request: RoutingRequest, *, now: float) -> list[Decision]:
        spec = self.queues[request.queue]
        conv = _Conv(
            request.conversation_id,
            group_index(group_of(request.channel)),
            request.queue,
            request.priority,
            math.inf if request.sla_due_at is None else request.sla_due_at,
            request.enqueued_at,
            requirement_at(request, 0, spec.widening),
        )
        self.waiting[conv.cid] = conv
        best = None
        best_key = None
        for a in self.agents.values():
            if self._eligible(a, conv.group, conv.requirement, conv.declined):
                key = self._key(a, conv.group, conv.requirement, spec.strategy)
                if best_key is None or key < best_key:
                    best, best_key = a, key
        return [self._claim(conv, best, now)] if best is not None else []

    def release(self, cid: str, *, now: float) -> list[Decision]:
        if self.waiting.pop(cid, None) is not None:
            return []
        agent_id, g = self.held.pop(cid)
        a = self.agents[agent_id]
        a.load[g] -= 1
        a.idle[g] = now
        decisions: list[Decision] = []
        while a.presence is Presence.AVAILABLE:
            best = None
            for conv in self.waiting.values():
                if a.capacity[conv.group] - a.load[conv.group] <= 0 or a.agent_id in conv.declined:
                    continue
                if conv.requirement.satisfied_by(a.skills) and (best is None or conv.order() < best.order()):
                    best = conv
            if best is None:
                break
            decisions.append(self._claim(best, a, now))
        return decisions
