"""The routing core: matches conversations and agents both ways, with offers, stickiness,
widening and overflow. Pure: no I/O, the current time is a parameter, every outcome is a
frozen decision value with its reason.

Invariants (checked by the property tests): an agent's load in a group never exceeds its
capacity there; a conversation is held (offered or assigned) by at most one agent; a held
conversation's agent met its requirement at the time; and after every call no waiting
conversation could be taken by an available agent with a spare slot (liveness).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, replace

from omni_router.domain.agents import AgentIndex, AgentRecord, group_index
from omni_router.domain.model import (
    ANY_SKILL,
    GROUPS,
    AgentProfile,
    Assigned,
    Decision,
    Offered,
    OfferEnded,
    Presence,
    Queued,
    QueueSpec,
    Reason,
    Requirement,
    RoutingRequest,
    Strategy,
    group_of,
    requirement_at,
)
from omni_router.domain.waiting import WaitingConversation, WaitingIndex

_ALL_GROUPS = tuple(range(len(GROUPS)))
_AVAILABLE = Presence.AVAILABLE

_CHANNEL_GROUPS: dict[str, int] = {}
"""By channel: the index of the capacity group it counts against (only known channels get here)."""


def _group_at(channel: str) -> int:
    g = _CHANNEL_GROUPS.get(channel)
    if g is None:
        g = _CHANNEL_GROUPS[channel] = group_index(group_of(channel))  # raises for an unknown channel
    return g


class RoutingError(Exception):
    """A request the core refuses; `code` is stable and maps to an HTTP 4xx."""

    code = "routing_error"


class UnknownAgent(RoutingError):
    code = "unknown_agent"


class UnknownConversation(RoutingError):
    code = "unknown_conversation"


class NotOffered(RoutingError):
    code = "not_offered"


class CapacityExceeded(RoutingError):
    code = "capacity_exceeded"


@dataclass(slots=True)
class Held:
    """A conversation offered to or owned by an agent (holding one slot of its group)."""

    conv: WaitingConversation
    agent_id: str
    offered: bool
    expires_at: float
    reason: Reason
    waited_s: float


class RoutingCore:
    """All routing state of one router replica, and every decision over it."""

    def __init__(self, queues: Mapping[str, QueueSpec], *, default_queue: str) -> None:
        self.queues = dict(queues)
        if default_queue not in self.queues:
            self.queues[default_queue] = QueueSpec(default_queue)
        self.default_queue = default_queue
        self.agents = AgentIndex()
        # a waiting bucket is found through its requirement's term the fewest available agents meet
        self.waiting = WaitingIndex(rarity=self.agents.count_at_least)
        self.held: dict[str, Held] = {}
        self._timers: list[tuple[float, int, str, str, int]] = []
        self._seq = 0
        # an agent kept out of one group's buckets while it pulls work after a release (see release)
        self._detached: tuple[AgentRecord, int] | None = None

    # --- helpers ------------------------------------------------------------------------

    def spec(self, queue: str) -> QueueSpec:
        return self.queues.get(queue) or self.queues[self.default_queue]

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _timer(self, due: float, kind: str, conversation_id: str, token: int) -> None:
        heapq.heappush(self._timers, (due, self._next(), kind, conversation_id, token))

    def next_timer_at(self) -> float | None:
        """When `tick` next has something to do (timers may be stale; ticking early is harmless)."""
        return self._timers[0][0] if self._timers else None

    def agent(self, agent_id: str) -> AgentRecord:
        record = self.agents.agents.get(agent_id)
        if record is None:
            raise UnknownAgent(f"unknown agent {agent_id!r}")
        return record

    def state_of(self, conversation_id: str) -> str | None:
        """`waiting`, `offered`, `assigned` or None when the core does not hold it."""
        if conversation_id in self.waiting.by_id:
            return "waiting"
        held = self.held.get(conversation_id)
        if held is None:
            return None
        return "offered" if held.offered else "assigned"

    # --- agents -------------------------------------------------------------------------

    def upsert_agent(self, profile: AgentProfile, *, now: float) -> list[Decision]:
        """Add or change an agent; a new spare slot pulls the best waiting conversation."""
        record = self.agents.upsert(profile, now=now)
        return self._pull(record, now=now)

    def set_presence(self, agent_id: str, presence: Presence, *, now: float) -> list[Decision]:
        record = self.agent(agent_id)
        if record.presence is presence:
            return []
        became_available = presence is Presence.AVAILABLE
        self.agents.set_presence(record, presence, now=now)
        return self._pull(record, now=now) if became_available else []

    def sync_load(self, agent_id: str, group: str, load: int, *, now: float) -> list[Decision]:
        """Set an agent's load in a group to what the durable record says (another replica changed it)."""
        record = self.agent(agent_id)
        g = group_index(group)
        if record.load[g] == load:
            return []
        freed = load < record.load[g]
        self.agents.change_load(record, g, absolute=load, idle_key=now if freed else None)
        return self._pull(record, now=now, groups=(g,)) if freed else []

    # --- conversations ------------------------------------------------------------------

    def enqueue(self, request: RoutingRequest, *, now: float) -> list[Decision]:
        """A conversation needs an agent: queue it, then try to match it at once."""
        cid = request.conversation_id
        if cid in self.waiting.by_id or cid in self.held:
            return []
        spec = self.spec(request.queue)
        if spec.name != request.queue:
            request = replace(request, queue=spec.name)
        conv = WaitingConversation(
            request,
            group=_group_at(request.channel),
            requirement=requirement_at(request, 0, spec.widening),
        )
        last = request.last_agent_id
        if last is not None and spec.sticky_grace_s > 0 and last in self.agents.agents and last not in conv.declined:
            conv.sticky_agent = last
            conv.sticky_until = now + spec.sticky_grace_s
            self._timer(conv.sticky_until, "sticky", cid, 0)
        self._schedule_widening(conv, spec)
        decisions: list[Decision] = [Queued(cid, conv.queue, 0, "new", request.rule)]
        routed = self._route(conv, now=now)
        if routed:  # taken at once: it never needs a place in the waiting index
            decisions.extend(routed)
        else:
            self.waiting.add(conv)
        return decisions

    def _schedule_widening(self, conv: WaitingConversation, spec: QueueSpec) -> None:
        base = conv.request.enqueued_at
        if conv.step < len(spec.widening):
            self._timer(base + spec.widening[conv.step].after_s, "widen", conv.conversation_id, conv.step + 1)
        if spec.overflow_after_s is not None and spec.overflow_to and not conv.overflowed:
            self._timer(base + spec.overflow_after_s, "overflow", conv.conversation_id, 0)

    def accept(self, conversation_id: str, agent_id: str, *, now: float) -> Assigned:
        held = self.held.get(conversation_id)
        if held is None or not held.offered or held.agent_id != agent_id:
            raise NotOffered(f"conversation {conversation_id} is not offered to {agent_id}")
        held.offered = False
        conv = held.conv
        return Assigned(conversation_id, agent_id, GROUPS[conv.group], conv.queue, held.reason, held.waited_s)

    def decline(self, conversation_id: str, agent_id: str, *, now: float, expired: bool = False) -> list[Decision]:
        """The agent refused (or let the offer lapse): free its slot, re-route elsewhere."""
        held = self.held.get(conversation_id)
        if held is None or not held.offered or held.agent_id != agent_id:
            raise NotOffered(f"conversation {conversation_id} is not offered to {agent_id}")
        del self.held[conversation_id]
        conv = held.conv
        conv.declined.add(agent_id)
        record = self.agents.agents.get(agent_id)
        if record is not None:
            self.agents.change_load(record, conv.group, delta=-1)
        self.waiting.add(conv)
        why = "offer_expired" if expired else "offer_declined"
        decisions: list[Decision] = [
            OfferEnded(conversation_id, agent_id, expired),
            Queued(conversation_id, conv.queue, conv.step, why, conv.request.rule),
        ]
        decisions.extend(self._route(conv, now=now))
        if record is not None:
            decisions.extend(self._pull(record, now=now, groups=(conv.group,)))
        return decisions

    def release(self, conversation_id: str, *, now: float) -> list[Decision]:
        """The conversation leaves routing (resolved, abandoned, transferred): free what it held."""
        if self.waiting.remove(conversation_id) is not None:
            return []
        held = self.held.pop(conversation_id, None)
        if held is None:
            return []
        record = self.agents.agents.get(held.agent_id)
        if record is None:
            return []
        # the freed slot is often taken again at once: keep the agent out of that group's buckets
        # until its pulls are done, then index it once as it ends up
        g = held.conv.group
        self.agents.detach(record, g)
        self.agents.change_load(record, g, delta=-1, idle_key=now, detached=True)
        self._detached = (record, g)
        try:
            return self._pull(record, now=now, groups=(g,))
        finally:
            self._detached = None
            self.agents.attach(record, g)

    def forget(self, conversation_id: str) -> None:
        """Drop a conversation another replica or the API changed; loads are synced separately."""
        self.waiting.remove(conversation_id)
        self.held.pop(conversation_id, None)

    def claim_rejected(
        self, conversation_id: str, *, now: float, actual_load: int | None = None, requeue: bool = True
    ) -> list[Decision]:
        """The durable claim failed (another replica took the slot): undo, learn the load, re-route.

        With `requeue=False` the conversation is no longer waiting at all (taken or closed elsewhere).
        """
        held = self.held.pop(conversation_id, None)
        if held is None:
            return []
        conv = held.conv
        record = self.agents.agents.get(held.agent_id)
        if record is not None:
            if actual_load is None:
                self.agents.change_load(record, conv.group, delta=-1)
            else:
                self.agents.change_load(record, conv.group, absolute=actual_load)
        if not requeue:
            return []
        self.waiting.add(conv)
        return self._route(conv, now=now)

    def assign_to(self, request: RoutingRequest, agent_id: str, *, now: float) -> Assigned:
        """Direct transfer to a named agent: bypasses queues, never bypasses capacity."""
        record = self.agent(agent_id)
        g = group_index(group_of(request.channel))
        if record.spare(g) <= 0:
            raise CapacityExceeded(f"agent {agent_id} has no spare {GROUPS[g]} slot")
        self.release(request.conversation_id, now=now)
        spec = self.spec(request.queue)
        conv = WaitingConversation(request, group=g, requirement=requirement_at(request, 0, spec.widening))
        reason = Reason(
            summary=f"transferred to {agent_id} by request",
            strategy="transfer",
            rule=request.rule,
            skills=dict(conv.requirement.skills),
            agent_skills={n: record.skills.get(n, 0) for n, _ in conv.requirement.skills},
            widening_step=0,
            sticky=False,
            candidates=1,
        )
        self.agents.change_load(record, g, delta=1, rr_key=float(self._next()))
        waited = max(0.0, now - request.enqueued_at)
        self.held[request.conversation_id] = Held(conv, agent_id, False, 0.0, reason, waited)
        return Assigned(request.conversation_id, agent_id, GROUPS[g], conv.queue, reason, waited)

    def restore_held(self, request: RoutingRequest, agent_id: str, *, offered: bool, expires_at: float) -> None:
        """Rebuild: a conversation the durable record says this agent holds (load is synced separately)."""
        spec = self.spec(request.queue)
        conv = WaitingConversation(
            request, group=group_index(group_of(request.channel)), requirement=requirement_at(request, 0, spec.widening)
        )
        reason = Reason("restored", spec.strategy.value, request.rule, {}, {}, 0, False, 0)
        self.held[request.conversation_id] = Held(conv, agent_id, offered, expires_at, reason, 0.0)
        if offered:
            self._timer(expires_at, "offer", request.conversation_id, 0)

    def raise_urgency(self, conversation_id: str, *, sla_due_at: float, priority_boost: int = 0) -> bool:
        """An SLA warning: order the waiting conversation by its due time (and optionally boost it)."""
        conv = self.waiting.remove(conversation_id)
        if conv is None:
            return False
        conv.sla_due = min(conv.sla_due, sla_due_at)
        conv.priority = min(100, conv.priority + priority_boost)
        self.waiting.add(conv)
        return True

    def tick(self, *, now: float) -> list[Decision]:
        """Fire due timers: offer expiry, end of sticky grace, widening steps, overflow."""
        decisions: list[Decision] = []
        while self._timers and self._timers[0][0] <= now:
            _, _, kind, cid, token = heapq.heappop(self._timers)
            if kind == "offer":
                held = self.held.get(cid)
                if held is not None and held.offered and held.expires_at <= now:
                    decisions.extend(self.decline(cid, held.agent_id, now=now, expired=True))
                continue
            conv = self.waiting.by_id.get(cid)
            if conv is None:
                continue
            if kind == "sticky":
                if conv.sticky_agent is not None and now >= conv.sticky_until:
                    conv.sticky_agent = None
                    decisions.extend(self._route(conv, now=now))
            elif kind == "widen" and token == conv.step + 1 and not conv.overflowed:
                spec = self.spec(conv.queue)
                self.waiting.remove(cid)
                conv.step = token
                conv.requirement = requirement_at(conv.request, conv.step, spec.widening)
                self.waiting.add(conv)
                self._schedule_widening(conv, spec)
                decisions.append(Queued(cid, conv.queue, conv.step, "widened", conv.request.rule))
                decisions.extend(self._route(conv, now=now))
            elif kind == "overflow" and not conv.overflowed:
                target = self.spec(self.spec(conv.queue).overflow_to or self.default_queue)
                self.waiting.remove(cid)
                conv.overflowed = True
                conv.queue = target.name
                conv.request = replace(conv.request, queue=target.name, skills=dict(target.skills), optional_skills={})
                conv.step = 0
                conv.requirement = requirement_at(conv.request, 0, ())
                self.waiting.add(conv)
                decisions.append(Queued(cid, conv.queue, 0, "overflow", conv.request.rule))
                decisions.extend(self._route(conv, now=now))
        return decisions

    # --- matching -----------------------------------------------------------------------

    def _route(self, conv: WaitingConversation, *, now: float) -> list[Decision]:
        """Conversation-side matching: the best agent for this conversation, if any."""
        spec = self.spec(conv.queue)
        group = GROUPS[conv.group]
        preferred = conv.sticky_agent or conv.request.last_agent_id
        if preferred is not None and preferred not in conv.declined:
            record = self.agents.agents.get(preferred)
            if record is not None and self.agents.eligible(record, group, conv.requirement):
                return [self._claim(conv, record, now=now, spec=spec, sticky=True, candidates=1)]
        if conv.sticky_agent is not None and now < conv.sticky_until:
            return []
        match = self.agents.best(group, conv.requirement, spec.strategy, exclude=conv.declined)
        if match is None:
            return []
        return [self._claim(conv, match.agent, now=now, spec=spec, sticky=False, candidates=match.candidates)]

    def _pull(self, record: AgentRecord, *, now: float, groups: tuple[int, ...] = _ALL_GROUPS) -> list[Decision]:
        """Agent-side matching: while the agent has spare slots, take the best waiting conversation.

        `groups` narrows the search to the groups where the agent gained a slot: nothing waiting in
        another group could be taken by it (liveness held before this call), so it need not look."""
        decisions: list[Decision] = []
        best_for = self.waiting.best_for
        agent_id = record.agent_id
        while record.presence is _AVAILABLE:
            best: WaitingConversation | None = None
            for g in groups:
                if record.capacity[g] - record.load[g] <= 0:
                    continue
                conv = best_for(g, record.skills, agent_id, now=now)
                if conv is not None and (best is None or conv.order < best.order):
                    best = conv
            if best is None:
                break
            spec = self.spec(best.queue)
            sticky = best.sticky_agent == agent_id or best.request.last_agent_id == agent_id
            candidates = self.agents.count_at_least(best.group, ANY_SKILL, 1)
            detached = self._detached
            if detached is not None and detached[0] is record and detached[1] == best.group:
                candidates += 1  # the agent itself: available with a spare slot there, only not indexed now
            decisions.append(self._claim(best, record, now=now, spec=spec, sticky=sticky, candidates=candidates))
        return decisions

    def _claim(
        self,
        conv: WaitingConversation,
        record: AgentRecord,
        *,
        now: float,
        spec: QueueSpec,
        sticky: bool,
        candidates: int,
    ) -> Assigned | Offered:
        cid = conv.request.conversation_id
        self.waiting.remove(cid)
        g = conv.group
        reason = _reason(conv, record, spec.strategy, sticky=sticky, candidates=candidates)
        detached = self._detached
        # a new conversation ends the agent's idle time as much as finishing one starts it
        self.agents.change_load(
            record,
            g,
            delta=1,
            rr_key=float(self._next()),
            idle_key=max(now, record.idle_key(g)),
            detached=detached is not None and detached[0] is record and detached[1] == g,
        )
        waited = max(0.0, now - conv.request.enqueued_at)
        if spec.offer_timeout_s > 0:
            expires = now + spec.offer_timeout_s
            self.held[cid] = Held(conv, record.agent_id, True, expires, reason, waited)
            self._timer(expires, "offer", cid, 0)
            return Offered(cid, record.agent_id, GROUPS[g], conv.queue, reason, expires, waited)
        self.held[cid] = Held(conv, record.agent_id, False, 0.0, reason, waited)
        return Assigned(cid, record.agent_id, GROUPS[g], conv.queue, reason, waited)


def _reason(
    conv: WaitingConversation, record: AgentRecord, strategy: Strategy, *, sticky: bool, candidates: int
) -> Reason:
    requirement: Requirement = conv.requirement
    g = conv.group
    shape = _SKILL_PARTS.get(requirement)
    if shape is None:
        if len(_SKILL_PARTS) >= 4096:  # rules yield a few hundred distinct requirements: stay bounded
            _SKILL_PARTS.clear()
        shape = _SKILL_PARTS[requirement] = _skill_part(requirement)
    template, skills = shape
    have = record.skills
    agent_skills = {name: have.get(name, 0) for name in skills}
    name = _STRATEGY_NAMES[strategy]  # an enum's .value is a property: slow on this hot path
    head = "sticky: last agent of this customer" if sticky else name
    summary = f"{head}: {template.format(*agent_skills.values())}, {record.load[g] + 1} of {record.capacity[g]} {GROUPS[g]} slots in use"
    if conv.step:
        summary += f", widening step {conv.step}"
    if conv.overflowed:
        summary += ", overflow"
    return Reason(
        summary=summary,
        strategy=name,
        rule=conv.request.rule,
        skills=dict(skills),
        agent_skills=agent_skills,
        widening_step=conv.step,
        sticky=sticky,
        candidates=candidates,
    )


_STRATEGY_NAMES = {s: s.value for s in Strategy}

_SKILL_PARTS: dict[Requirement, tuple[str, dict[str, int]]] = {}
"""By requirement: the skills-and-language part of a reason's summary as a `str.format` template
taking the agent's level of each required skill, and the required skills. The same few
requirements come again and again."""


def _skill_part(requirement: Requirement) -> tuple[str, dict[str, int]]:
    def literal(text: str) -> str:
        return text.replace("{", "{{").replace("}", "}}")

    parts = [f"{literal(name)} {{}} (needs {level})" for name, level in requirement.skills]
    template = ", ".join(parts) if parts else "no skill required"
    if requirement.language:
        template += f", speaks {literal(requirement.language)}"
    return template, dict(requirement.skills)
