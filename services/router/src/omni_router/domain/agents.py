"""The agent index: who can take a conversation of a group with a requirement, best first.

An agent that is available and has a spare slot in a group sits in one bucket per
(group, skill, level, spare slots), for each of its skills, languages (`@ja`) and the
pseudo-skill `*`. A bucket holds two lists of agent records, one sorted by idle order
(`idle_key`, agent id) and one by round-robin order (`rr_key`, agent id). A query picks
the most selective requirement term (the pivot), merges only the pivot's buckets in the
strategy's order and checks the remaining terms on each candidate; its cost depends on
the pivot's bucket sizes and the number of levels, not on the number of agents.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections.abc import Callable, Container, Iterator, Mapping
from dataclasses import dataclass

from omni_router.domain.model import (
    ANY_SKILL,
    GROUPS,
    LANGUAGE_PREFIX,
    AgentProfile,
    Presence,
    Requirement,
    Strategy,
    primary_language,
)

_GROUP_INDEX = {g: i for i, g in enumerate(GROUPS)}
_capacity_cache: dict[tuple[int, ...], tuple[int, ...]] = {}
_languages_cache: dict[frozenset[str], frozenset[str]] = {}


class AgentRecord:
    """The core's live view of one agent (slotted: the index holds many of them)."""

    __slots__ = ("agent_id", "capacity", "idle_key", "load", "presence", "rr_key", "skills")

    def __init__(self, profile: AgentProfile, *, now: float) -> None:
        self.agent_id = profile.agent_id
        self.skills: dict[str, int] = _terms_of(profile)
        capacity = tuple(max(0, int(profile.capacity.get(g, 0))) for g in GROUPS)
        self.capacity: tuple[int, ...] = _capacity_cache.setdefault(capacity, capacity)
        self.load: list[int] = [0, 0, 0, 0]
        self.presence = profile.presence
        self.idle_key = now
        self.rr_key = 0.0

    def spare(self, group: int) -> int:
        return self.capacity[group] - self.load[group]

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(k[1:] for k in self.skills if k.startswith(LANGUAGE_PREFIX))


def _terms_of(profile: AgentProfile) -> dict[str, int]:
    terms = {name: max(1, min(10, int(level))) for name, level in profile.skills.items()}
    for tag in profile.languages:
        lang = primary_language(tag)
        if lang:
            terms[LANGUAGE_PREFIX + lang] = 1
    terms[ANY_SKILL] = 1
    return terms


def _idle_order(agent: AgentRecord) -> tuple[float, str]:
    return (agent.idle_key, agent.agent_id)


def _rr_order(agent: AgentRecord) -> tuple[float, str]:
    return (agent.rr_key, agent.agent_id)


class _Bucket:
    __slots__ = ("by_idle", "by_rr")

    def __init__(self) -> None:
        self.by_idle: list[AgentRecord] = []
        self.by_rr: list[AgentRecord] = []


def _remove(items: list[AgentRecord], agent: AgentRecord, key: Callable[[AgentRecord], tuple[float, str]]) -> None:
    i = bisect_left(items, key(agent), key=key)
    while items[i] is not agent:  # equal keys only when two records share an id; never in practice
        i += 1
    del items[i]


@dataclass(frozen=True, slots=True)
class Match:
    agent: AgentRecord
    candidates: int


class AgentIndex:
    """Agents by (group, skill, level, spare slots), each bucket in idle and round-robin order."""

    def __init__(self) -> None:
        self.agents: dict[str, AgentRecord] = {}
        self._buckets: dict[tuple[int, str, int, int], _Bucket] = {}
        self._spares: dict[tuple[int, str, int], set[int]] = {}
        self._counts: dict[tuple[int, str, int], int] = {}

    # --- maintenance ------------------------------------------------------------------

    def upsert(self, profile: AgentProfile, *, now: float) -> AgentRecord:
        """Add or replace an agent's profile, keeping its current load and idle order."""
        old = self.agents.get(profile.agent_id)
        record = AgentRecord(profile, now=now)
        if old is not None:
            self._unindex(old)
            record.load = old.load
            record.idle_key = old.idle_key
            record.rr_key = old.rr_key
        self.agents[record.agent_id] = record
        self._index(record)
        return record

    def remove(self, agent_id: str) -> None:
        old = self.agents.pop(agent_id, None)
        if old is not None:
            self._unindex(old)

    def change(
        self,
        agent: AgentRecord,
        *,
        presence: Presence | None = None,
        load_delta: tuple[int, int] | None = None,
        load: tuple[int, int] | None = None,
        idle_key: float | None = None,
        rr_key: float | None = None,
    ) -> None:
        """Change presence, load (group, delta) or (group, absolute) and order keys, re-indexing."""
        self._unindex(agent)
        if presence is not None:
            agent.presence = presence
        if load_delta is not None:
            group, delta = load_delta
            agent.load[group] = max(0, agent.load[group] + delta)
        if load is not None:
            group, value = load
            agent.load[group] = max(0, value)
        if idle_key is not None:
            agent.idle_key = idle_key
        if rr_key is not None:
            agent.rr_key = rr_key
        self._index(agent)

    def _memberships(self, agent: AgentRecord) -> Iterator[tuple[int, str, int, int]]:
        if agent.presence is not Presence.AVAILABLE:
            return
        for g in range(len(GROUPS)):
            spare = agent.capacity[g] - agent.load[g]
            if spare <= 0:
                continue
            for skill, level in agent.skills.items():
                yield (g, skill, level, spare)

    def _index(self, agent: AgentRecord) -> None:
        for key in self._memberships(agent):
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket()
                self._spares.setdefault(key[:3], set()).add(key[3])
            insort(bucket.by_idle, agent, key=_idle_order)
            insort(bucket.by_rr, agent, key=_rr_order)
            self._counts[key[:3]] = self._counts.get(key[:3], 0) + 1

    def _unindex(self, agent: AgentRecord) -> None:
        for key in self._memberships(agent):
            bucket = self._buckets[key]
            _remove(bucket.by_idle, agent, _idle_order)
            _remove(bucket.by_rr, agent, _rr_order)
            self._counts[key[:3]] -= 1
            if not bucket.by_idle:
                del self._buckets[key]
                self._spares[key[:3]].discard(key[3])

    # --- queries ----------------------------------------------------------------------

    def eligible_count(self, group: str, skill: str, min_level: int) -> int:
        g = _GROUP_INDEX[group]
        return sum(self._counts.get((g, skill, level), 0) for level in range(min_level, 11))

    def best(
        self,
        group: str,
        requirement: Requirement,
        strategy: Strategy,
        *,
        exclude: Container[str] = (),
    ) -> Match | None:
        """The best available agent with a spare slot in `group` meeting `requirement`, or None."""
        g = _GROUP_INDEX[group]
        terms = requirement.as_index_terms() or ((ANY_SKILL, 1),)
        if strategy is Strategy.BEST_SKILL and requirement.skills:
            pivot = max(requirement.skills, key=lambda t: (t[1], t[0]))
            pivot_count = self.eligible_count(group, pivot[0], pivot[1])
        else:
            pivot, pivot_count = min(
                ((t, self.eligible_count(group, t[0], t[1])) for t in terms), key=lambda tc: (tc[1], tc[0])
            )
        if pivot_count == 0:
            return None
        others = [t for t in terms if t != pivot]
        for agent in self._candidates(g, pivot, strategy):
            if agent.agent_id in exclude:
                continue
            skills = agent.skills
            if all(skills.get(name, 0) >= level for name, level in others):
                return Match(agent, pivot_count)
        return None

    def _lists(self, g: int, skill: str, levels: range, spares: list[int], rr: bool) -> list[list[AgentRecord]]:
        found = []
        for level in levels:
            for spare in spares:
                bucket = self._buckets.get((g, skill, level, spare))
                if bucket is not None:
                    found.append(bucket.by_rr if rr else bucket.by_idle)
        return found

    def _candidates(self, g: int, pivot: tuple[str, int], strategy: Strategy) -> Iterator[AgentRecord]:
        skill, min_level = pivot
        levels = range(10, min_level - 1, -1)
        spares: set[int] = set()
        for level in levels:
            spares |= self._spares.get((g, skill, level), set())
        ordered_spares = sorted(spares, reverse=True)
        if strategy is Strategy.LEAST_LOADED:
            for spare in ordered_spares:
                yield from heapq.merge(*self._lists(g, skill, levels, [spare], False), key=_idle_order)
        elif strategy is Strategy.BEST_SKILL:
            for level in levels:
                yield from heapq.merge(
                    *self._lists(g, skill, range(level, level + 1), ordered_spares, False), key=_idle_order
                )
        elif strategy is Strategy.ROUND_ROBIN:
            yield from heapq.merge(*self._lists(g, skill, levels, ordered_spares, True), key=_rr_order)
        else:
            yield from heapq.merge(*self._lists(g, skill, levels, ordered_spares, False), key=_idle_order)

    def eligible(self, agent: AgentRecord, group: str, requirement: Requirement) -> bool:
        """Whether this agent could take such a conversation right now."""
        g = _GROUP_INDEX[group]
        return agent.presence is Presence.AVAILABLE and agent.spare(g) > 0 and requirement.satisfied_by(agent.skills)


def group_index(group: str) -> int:
    return _GROUP_INDEX[group]


def describe_skills(agent: AgentRecord, requirement: Requirement) -> Mapping[str, int]:
    return {name: agent.skills.get(name, 0) for name, _ in requirement.skills}
