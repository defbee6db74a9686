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
import itertools
from bisect import bisect_left, insort
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from dataclasses import dataclass
from operator import attrgetter

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


_IDLE = ("idle0", "idle1", "idle2", "idle3")
_RR = ("rr0", "rr1", "rr2", "rr3")
_IDLE_KEY = tuple(attrgetter(name, "agent_id") for name in _IDLE)
_RR_KEY = tuple(attrgetter(name, "agent_id") for name in _RR)
_ALL_GROUPS = range(len(GROUPS))


class AgentRecord:
    """The core's live view of one agent (slotted: the index holds many of them).

    Order keys are per capacity group: `idle<g>` is when the agent last got or finished a
    conversation of group g (or became available), `rr<g>` the turn of its last assignment.
    """

    __slots__ = (
        "agent_id",
        "capacity",
        "idle0",
        "idle1",
        "idle2",
        "idle3",
        "load",
        "presence",
        "rr0",
        "rr1",
        "rr2",
        "rr3",
        "skills",
    )

    def __init__(self, profile: AgentProfile, *, now: float) -> None:
        self.agent_id = profile.agent_id
        self.skills: dict[str, int] = _terms_of(profile)
        capacity = tuple(max(0, int(profile.capacity.get(g, 0))) for g in GROUPS)
        self.capacity: tuple[int, ...] = _capacity_cache.setdefault(capacity, capacity)
        self.load: list[int] = [0, 0, 0, 0]
        self.presence = profile.presence
        self.idle0 = self.idle1 = self.idle2 = self.idle3 = now
        self.rr0 = self.rr1 = self.rr2 = self.rr3 = 0.0

    def spare(self, group: int) -> int:
        return self.capacity[group] - self.load[group]

    def idle_key(self, group: int) -> float:
        value: float = getattr(self, _IDLE[group])
        return value

    def rr_key(self, group: int) -> float:
        value: float = getattr(self, _RR[group])
        return value

    def copy_keys(self, other: AgentRecord) -> None:
        for name in (*_IDLE, *_RR):
            setattr(self, name, getattr(other, name))

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


_BLOCK = 256


class _Sorted:
    """Agents sorted by a key, held in blocks of at most 2 * _BLOCK: an insert or removal moves a
    block's worth of pointers, not the whole bucket, so huge buckets (`*`, a common language)
    stay cheap to update."""

    __slots__ = ("blocks",)

    def __init__(self) -> None:
        self.blocks: list[list[AgentRecord]] = []

    def __bool__(self) -> bool:
        return bool(self.blocks)

    def __iter__(self) -> Iterator[AgentRecord]:
        return itertools.chain.from_iterable(self.blocks)

    def insert(self, agent: AgentRecord, key: Callable[[AgentRecord], tuple[float, str]]) -> None:
        blocks = self.blocks
        if not blocks:
            blocks.append([agent])
            return
        if len(blocks) == 1:
            i = 0
        else:
            i = bisect_left(blocks, key(agent), key=lambda b: key(b[-1]))
            if i == len(blocks):
                i -= 1
        block = blocks[i]
        insort(block, agent, key=key)
        if len(block) > 2 * _BLOCK:
            blocks[i : i + 1] = [block[:_BLOCK], block[_BLOCK:]]

    def remove(self, agent: AgentRecord, key: Callable[[AgentRecord], tuple[float, str]]) -> None:
        blocks = self.blocks
        k = key(agent)
        i = 0 if len(blocks) == 1 else bisect_left(blocks, k, key=lambda b: key(b[-1]))
        block = blocks[i]
        j = bisect_left(block, k, key=key)
        while block[j] is not agent:  # equal keys only when two records share an id; never in practice
            j += 1
        del block[j]
        if not block:
            del blocks[i]


class _Bucket:
    __slots__ = ("by_idle", "by_rr")

    def __init__(self) -> None:
        self.by_idle = _Sorted()
        self.by_rr = _Sorted()


@dataclass(frozen=True, slots=True)
class Match:
    agent: AgentRecord
    candidates: int


class AgentIndex:
    """Agents by (group, skill, level, spare slots), each bucket in idle and round-robin order."""

    def __init__(self) -> None:
        self.agents: dict[str, AgentRecord] = {}
        # (group, skill) -> level -> spare slots -> bucket, and (group, skill) -> level -> agents
        self._tree: dict[tuple[int, str], dict[int, dict[int, _Bucket]]] = {}
        self._counts: dict[tuple[int, str], dict[int, int]] = {}
        # "no agent meets R in group g" stays true until an agent having all of R's terms gains a
        # place in g; such an agent bumps the epoch of every one of its terms there, so a cached
        # answer is still valid while at least one of R's term epochs is unchanged
        self._epochs: dict[tuple[int, str], int] = {}
        self._nobody: dict[tuple[int, Requirement], tuple[int, ...]] = {}

    # --- maintenance ------------------------------------------------------------------

    def upsert(self, profile: AgentProfile, *, now: float) -> AgentRecord:
        """Add or replace an agent's profile, keeping its current load and order keys."""
        old = self.agents.get(profile.agent_id)
        record = AgentRecord(profile, now=now)
        if old is not None:
            self._unindex(old, _ALL_GROUPS)
            record.load = old.load
            record.copy_keys(old)
        self.agents[record.agent_id] = record
        self._index(record, _ALL_GROUPS)
        self._bump(record, _ALL_GROUPS)
        return record

    def remove(self, agent_id: str) -> None:
        old = self.agents.pop(agent_id, None)
        if old is not None:
            self._unindex(old, _ALL_GROUPS)

    def set_presence(self, agent: AgentRecord, presence: Presence, *, now: float) -> None:
        """Change presence; becoming available starts the agent's idle time in every group."""
        self._unindex(agent, _ALL_GROUPS)
        agent.presence = presence
        if presence is Presence.AVAILABLE:
            for name in _IDLE:
                setattr(agent, name, now)
        self._index(agent, _ALL_GROUPS)
        self._bump(agent, _ALL_GROUPS)

    def change_load(
        self,
        agent: AgentRecord,
        group: int,
        *,
        delta: int = 0,
        absolute: int | None = None,
        idle_key: float | None = None,
        rr_key: float | None = None,
    ) -> None:
        """Change the load in one group (and that group's order keys), re-indexing that group only."""
        groups = (group,)
        self._unindex(agent, groups)
        before = agent.load[group]
        value = before + delta if absolute is None else absolute
        agent.load[group] = max(0, value)
        if idle_key is not None:
            setattr(agent, _IDLE[group], idle_key)
        if rr_key is not None:
            setattr(agent, _RR[group], rr_key)
        self._index(agent, groups)
        if agent.load[group] < before:
            self._bump(agent, groups)

    def _bump(self, agent: AgentRecord, groups: Iterable[int]) -> None:
        if agent.presence is not Presence.AVAILABLE:
            return
        epochs = self._epochs
        for g in groups:
            if agent.capacity[g] - agent.load[g] > 0:
                for skill in agent.skills:
                    key = (g, skill)
                    epochs[key] = epochs.get(key, 0) + 1

    def _memberships(self, agent: AgentRecord, groups: Iterable[int]) -> Iterator[tuple[int, str, int, int]]:
        if agent.presence is not Presence.AVAILABLE:
            return
        for g in groups:
            spare = agent.capacity[g] - agent.load[g]
            if spare <= 0:
                continue
            for skill, level in agent.skills.items():
                yield (g, skill, level, spare)

    def _index(self, agent: AgentRecord, groups: Iterable[int]) -> None:
        for g, skill, level, spare in self._memberships(agent, groups):
            levels = self._tree.get((g, skill))
            if levels is None:
                levels = self._tree[(g, skill)] = {}
                self._counts[(g, skill)] = {}
            spares = levels.get(level)
            if spares is None:
                spares = levels[level] = {}
            bucket = spares.get(spare)
            if bucket is None:
                bucket = spares[spare] = _Bucket()
            bucket.by_idle.insert(agent, _IDLE_KEY[g])
            bucket.by_rr.insert(agent, _RR_KEY[g])
            counts = self._counts[(g, skill)]
            counts[level] = counts.get(level, 0) + 1

    def _unindex(self, agent: AgentRecord, groups: Iterable[int]) -> None:
        for g, skill, level, spare in self._memberships(agent, groups):
            levels = self._tree[(g, skill)]
            spares = levels[level]
            bucket = spares[spare]
            bucket.by_idle.remove(agent, _IDLE_KEY[g])
            bucket.by_rr.remove(agent, _RR_KEY[g])
            counts = self._counts[(g, skill)]
            counts[level] -= 1
            if not bucket.by_idle:
                del spares[spare]
                if not spares:
                    del levels[level]
                    del counts[level]

    # --- queries ----------------------------------------------------------------------

    def eligible_count(self, group: str, skill: str, min_level: int) -> int:
        return self._count(_GROUP_INDEX[group], skill, min_level)

    def _count(self, g: int, skill: str, min_level: int) -> int:
        counts = self._counts.get((g, skill))
        if not counts:
            return 0
        return sum(n for level, n in counts.items() if level >= min_level)

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
        epochs = self._epochs
        cached = self._nobody.get((g, requirement))
        if cached is not None:
            if any(epochs.get((g, t[0]), 0) == e for t, e in zip(terms, cached, strict=True)):
                return None
            del self._nobody[(g, requirement)]
        found = self._best(g, terms, requirement, strategy, exclude)
        if found is None and not exclude:
            self._nobody[(g, requirement)] = tuple(epochs.get((g, t[0]), 0) for t in terms)
        return found

    def _best(
        self,
        g: int,
        terms: tuple[tuple[str, int], ...],
        requirement: Requirement,
        strategy: Strategy,
        exclude: Container[str],
    ) -> Match | None:
        if strategy is Strategy.BEST_SKILL and requirement.skills:
            pivot = max(requirement.skills, key=lambda t: (t[1], t[0]))
            pivot_count = self._count(g, pivot[0], pivot[1])
        else:
            pivot, pivot_count = min(((t, self._count(g, t[0], t[1])) for t in terms), key=lambda tc: (tc[1], tc[0]))
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

    def _candidates(self, g: int, pivot: tuple[str, int], strategy: Strategy) -> Iterator[AgentRecord]:
        skill, min_level = pivot
        tree = self._tree.get((g, skill), {})
        levels = sorted((level for level in tree if level >= min_level), reverse=True)
        idle = _IDLE_KEY[g]
        if strategy is Strategy.LEAST_LOADED:
            present = sorted({spare for level in levels for spare in tree[level]}, reverse=True)
            for spare in present:
                lists = [tree[level][spare].by_idle for level in levels if spare in tree[level]]
                yield from _merge(lists, idle)
        elif strategy is Strategy.BEST_SKILL:
            for level in levels:
                yield from _merge([b.by_idle for b in tree[level].values()], idle)
        elif strategy is Strategy.ROUND_ROBIN:
            yield from _merge([b.by_rr for level in levels for b in tree[level].values()], _RR_KEY[g])
        else:
            yield from _merge([b.by_idle for level in levels for b in tree[level].values()], idle)

    def eligible(self, agent: AgentRecord, group: str, requirement: Requirement) -> bool:
        """Whether this agent could take such a conversation right now."""
        g = _GROUP_INDEX[group]
        return agent.presence is Presence.AVAILABLE and agent.spare(g) > 0 and requirement.satisfied_by(agent.skills)


def _merge(lists: list[_Sorted], key: Callable[[AgentRecord], tuple[float, str]]) -> Iterator[AgentRecord]:
    if len(lists) == 1:
        return iter(lists[0])
    return heapq.merge(*lists, key=key)


def group_index(group: str) -> int:
    return _GROUP_INDEX[group]


def describe_skills(agent: AgentRecord, requirement: Requirement) -> Mapping[str, int]:
    return {name: agent.skills.get(name, 0) for name, _ in requirement.skills}
