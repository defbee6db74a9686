"""The agent index: who can take a conversation of a group with a requirement, best first.

An agent that is available and has a spare slot in a group sits in one bucket per
(group, skill, level, spare slots), for each of its skills, languages (`@ja`) and the
pseudo-skill `*`. A bucket holds two sorted lists of agent entries, one in idle order
(`idle_key`) and one in round-robin order (`rr_key`), ties going to the agent the index has
known longest (see `Entry`). A query picks
the most selective requirement term (the pivot), merges only the pivot's buckets in the
strategy's order and checks the remaining terms on each candidate; its cost depends on
the pivot's bucket sizes and the number of levels, not on the number of agents.

A term's buckets are built the first time a query pivots on it (their round-robin lists
the first time a round-robin query does); until then an agent change only counts it. Terms that are never the rarest of a requirement (`*` when every
queue asks for a skill, a language nearly every agent speaks) cost no ordering at all.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, insort
from collections.abc import Container, Iterable, Iterator, Mapping
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


_ALL_GROUPS = range(len(GROUPS))
_AVAILABLE = Presence.AVAILABLE
_RR = len(GROUPS)  # offset of the round-robin entries in AgentRecord.keys

Entry = int
"""An agent's place in one order: its order key in microseconds, shifted left by 32 bits, with the
agent's ordinal (the order in which the index first saw it) in the low bits. Ordinals are unique,
so entries never tie, and keeping a sorted list of them costs one integer comparison per step."""

_SHIFT = 32
_ORDINAL = (1 << _SHIFT) - 1


def _entry(key: float, ordinal: int) -> Entry:
    return (round(key * 1_000_000) << _SHIFT) | ordinal


def _key(entry: Entry) -> float:
    return (entry >> _SHIFT) / 1_000_000


class AgentRecord:
    """The core's live view of one agent (slotted: the index holds many of them).

    Order keys are per capacity group, as entries (see `Entry`): `keys[g]` is when the agent last
    got or finished a conversation of group g, or became available; `keys[4 + g]` the turn of its
    last assignment in g. The index's sorted lists hold these very entries.
    """

    __slots__ = ("agent_id", "capacity", "keys", "load", "ordinal", "presence", "skills")

    def __init__(self, profile: AgentProfile, *, now: float, ordinal: int = 0) -> None:
        self.agent_id = profile.agent_id
        self.ordinal = ordinal
        self.skills: dict[str, int] = _terms_of(profile)
        capacity = tuple(max(0, int(profile.capacity.get(g, 0))) for g in GROUPS)
        self.capacity: tuple[int, ...] = _capacity_cache.setdefault(capacity, capacity)
        self.load: list[int] = [0, 0, 0, 0]
        self.presence = profile.presence
        idle = _entry(now, ordinal)
        rr = _entry(0.0, ordinal)
        self.keys: list[Entry] = [idle, idle, idle, idle, rr, rr, rr, rr]

    def spare(self, group: int) -> int:
        return self.capacity[group] - self.load[group]

    def idle_key(self, group: int) -> float:
        return _key(self.keys[group])

    def rr_key(self, group: int) -> float:
        return _key(self.keys[_RR + group])

    def copy_keys(self, other: AgentRecord) -> None:
        self.keys = list(other.keys)

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
_MAX_BLOCK = 2 * _BLOCK


class _Sorted:
    """Entries in sorted order, held in blocks of at most 2 * _BLOCK (with each block's last entry
    in `maxes`): an insert or removal moves a block's worth of pointers, not the whole bucket, so
    huge buckets (`*`, a common language) stay cheap to update."""

    __slots__ = ("blocks", "maxes")

    def __init__(self) -> None:
        self.blocks: list[list[Entry]] = []
        self.maxes: list[Entry] = []

    def __bool__(self) -> bool:
        return bool(self.blocks)

    def __iter__(self) -> Iterator[Entry]:
        blocks = self.blocks
        if len(blocks) == 1:
            return iter(blocks[0])
        return itertools.chain.from_iterable(blocks)

    def first(self) -> Entry:
        return self.blocks[0][0]

    def fill(self, entries: list[Entry]) -> None:
        """Replace the contents by these entries (in any order)."""
        entries.sort()
        self.blocks = [entries[i : i + _BLOCK] for i in range(0, len(entries), _BLOCK)]
        self.maxes = [block[-1] for block in self.blocks]

    def insert(self, entry: Entry) -> None:
        maxes = self.maxes
        if not maxes:
            self.blocks.append([entry])
            maxes.append(entry)
            return
        if entry > maxes[-1]:  # the common case: a fresh key (now, a new turn) goes last
            block = self.blocks[-1]
            block.append(entry)
            maxes[-1] = entry
            if len(block) > _MAX_BLOCK:
                self._split(len(maxes) - 1)
            return
        i = bisect_left(maxes, entry) if len(maxes) > 1 else 0
        block = self.blocks[i]
        insort(block, entry)
        if len(block) > _MAX_BLOCK:
            self._split(i)

    def _split(self, i: int) -> None:
        """Split the over-full block `i` in two halves."""
        block = self.blocks[i]
        half = block[_BLOCK:]
        del block[_BLOCK:]
        self.blocks.insert(i + 1, half)
        self.maxes[i] = block[-1]
        self.maxes.insert(i + 1, half[-1])

    def remove(self, entry: Entry) -> None:
        maxes = self.maxes
        if len(maxes) == 1:
            i = 0
            block = self.blocks[0]
        else:
            i = bisect_left(maxes, entry)
            block = self.blocks[i]
        # a removed entry is often its block's first (the longest idle agent is the one taken)
        j = 0 if block[0] == entry else bisect_left(block, entry)
        del block[j]
        if not block:
            del self.blocks[i]
            del maxes[i]
        elif j == len(block):
            maxes[i] = block[-1]


class _Bucket:
    """The agents of one (group, skill, level, spare slots), in idle and in round-robin order
    (the latter kept only once a round-robin query has pivoted on the term: see _Term.rr)."""

    __slots__ = ("by_idle", "by_rr")

    def __init__(self) -> None:
        self.by_idle = _Sorted()
        self.by_rr = _Sorted()


class _Term:
    """One (group, skill): how many indexed agents have it at each level 0-10; once a query has
    pivoted on it, its buckets by level, then by spare slots (`levels`; None until then, so that
    terms nobody pivots on, such as `*` or a language every agent speaks, cost a count only); and
    its epoch for the "nobody meets this" cache (see AgentIndex)."""

    __slots__ = ("counts", "epoch", "levels", "rr")

    def __init__(self) -> None:
        self.counts = [0] * 11
        self.epoch = 0
        self.levels: dict[int, dict[int, _Bucket]] | None = None
        self.rr = False  # whether the buckets keep their round-robin order too


_NO_TERMS = (_Term(), _Term(), _Term(), _Term())  # what an unknown skill looks like (never changed)


@dataclass(frozen=True, slots=True)
class Match:
    agent: AgentRecord
    candidates: int


class AgentIndex:
    """Agents by (group, skill, level, spare slots), each bucket in idle and round-robin order."""

    def __init__(self) -> None:
        self.agents: dict[str, AgentRecord] = {}
        # every agent ever seen keeps its ordinal (the low bits of its entries); records by ordinal
        self._ordinals: dict[str, int] = {}
        self._records: list[AgentRecord | None] = []
        self._terms: dict[str, tuple[_Term, ...]] = {}  # skill -> its term in each group
        # "no agent meets R in group g" stays true until an agent having all of R's terms gains a
        # place in g; such an agent bumps the epoch of every one of its terms there, so a cached
        # answer is still valid while at least one of R's term epochs is unchanged
        self._nobody: dict[tuple[int, Requirement], tuple[int, ...]] = {}

    # --- maintenance ------------------------------------------------------------------

    def upsert(self, profile: AgentProfile, *, now: float) -> AgentRecord:
        """Add or replace an agent's profile, keeping its current load and order keys."""
        old = self.agents.get(profile.agent_id)
        ordinal = self._ordinals.setdefault(profile.agent_id, len(self._ordinals))
        if ordinal > _ORDINAL:
            raise OverflowError("more than 2**32 distinct agents")
        record = AgentRecord(profile, now=now, ordinal=ordinal)
        if ordinal == len(self._records):
            self._records.append(record)
        else:
            self._records[ordinal] = record
        if old is not None:
            self._unindex(old, _ALL_GROUPS)
            record.load = old.load
            record.copy_keys(old)
        self.agents[record.agent_id] = record
        self._index(record, _ALL_GROUPS, bump=True)
        return record

    def remove(self, agent_id: str) -> None:
        old = self.agents.pop(agent_id, None)
        if old is not None:
            self._unindex(old, _ALL_GROUPS)
            self._records[old.ordinal] = None

    def set_presence(self, agent: AgentRecord, presence: Presence, *, now: float) -> None:
        """Change presence; becoming available starts the agent's idle time in every group."""
        self._unindex(agent, _ALL_GROUPS)
        agent.presence = presence
        if presence is Presence.AVAILABLE:
            idle = _entry(now, agent.ordinal)
            agent.keys[:_RR] = [idle] * _RR
        self._index(agent, _ALL_GROUPS, bump=True)

    def change_load(
        self,
        agent: AgentRecord,
        group: int,
        *,
        delta: int = 0,
        absolute: int | None = None,
        idle_key: float | None = None,
        rr_key: float | None = None,
        detached: bool = False,
    ) -> None:
        """Change the load in one group (and that group's order keys), re-indexing that group only.

        With `detached` the agent is out of that group's buckets (see `detach`) and stays out.
        """
        groups = (group,)
        if not detached:
            self._unindex(agent, groups)
        before = agent.load[group]
        value = before + delta if absolute is None else absolute
        agent.load[group] = max(0, value)
        if idle_key is not None:
            agent.keys[group] = _entry(idle_key, agent.ordinal)
        if rr_key is not None:
            agent.keys[_RR + group] = _entry(rr_key, agent.ordinal)
        if detached:
            return
        self._index(agent, groups, bump=agent.load[group] < before)

    def detach(self, agent: AgentRecord, group: int) -> None:
        """Take the agent out of one group's buckets while several changes are made to it there
        (`change_load(..., detached=True)`), so that they cost one re-index (`attach`), not one each."""
        self._unindex(agent, (group,))

    def attach(self, agent: AgentRecord, group: int) -> None:
        """Put a detached agent back into the group's buckets, as it is now (a spare slot counts as
        a new place there for the "nobody meets this" cache)."""
        self._index(agent, (group,), bump=True)

    def _index(self, agent: AgentRecord, groups: Iterable[int], *, bump: bool = False) -> None:
        """Count the agent in its terms of these groups (where it has a spare slot) and place it in
        their built buckets; with `bump`, as a new place there (see `_nobody`): bump their epochs."""
        if agent.presence is not _AVAILABLE:
            return
        terms = self._terms
        keys = agent.keys
        skills = agent.skills.items()
        for g in groups:
            spare = agent.capacity[g] - agent.load[g]
            if spare <= 0:
                continue
            idle = keys[g]
            rr = keys[_RR + g]
            for skill, level in skills:
                per_group = terms.get(skill)
                if per_group is None:
                    per_group = terms[skill] = (_Term(), _Term(), _Term(), _Term())
                term = per_group[g]
                term.counts[level] += 1
                if bump:
                    term.epoch += 1
                levels = term.levels
                if levels is None:
                    continue
                try:
                    bucket = levels[level][spare]
                except KeyError:
                    bucket = levels.setdefault(level, {}).setdefault(spare, _Bucket())
                bucket.by_idle.insert(idle)
                if term.rr:
                    bucket.by_rr.insert(rr)

    def _unindex(self, agent: AgentRecord, groups: Iterable[int]) -> None:
        if agent.presence is not _AVAILABLE:
            return
        terms = self._terms
        keys = agent.keys
        skills = agent.skills.items()
        for g in groups:
            spare = agent.capacity[g] - agent.load[g]
            if spare <= 0:
                continue
            idle = keys[g]
            rr = keys[_RR + g]
            for skill, level in skills:
                term = terms[skill][g]
                term.counts[level] -= 1
                levels = term.levels
                if levels is None:
                    continue
                spares = levels[level]
                bucket = spares[spare]
                by_idle = bucket.by_idle
                by_idle.remove(idle)
                if term.rr:
                    bucket.by_rr.remove(rr)
                if not by_idle.blocks:
                    del spares[spare]
                    if not spares:
                        del levels[level]

    def order_every_term(self) -> None:
        """Build the buckets of every term now rather than at its first query (the worst case for
        memory: every term the pivot of some query)."""
        for skill in list(self._terms):
            for g in _ALL_GROUPS:
                self._rr_levels(g, skill)

    def _levels(self, g: int, skill: str) -> dict[int, dict[int, _Bucket]]:
        """The buckets of (group, skill) by level and spare slots, built from every agent the
        first time a query pivots on that term, then kept up to date."""
        term = self._terms[skill][g]
        if term.levels is not None:
            return term.levels
        idle: dict[tuple[int, int], list[Entry]] = {}
        for agent in self.agents.values():
            level = agent.skills.get(skill)
            if level is None or agent.presence is not Presence.AVAILABLE:
                continue
            spare = agent.capacity[g] - agent.load[g]
            if spare <= 0:
                continue
            idle.setdefault((level, spare), []).append(agent.keys[g])
        levels: dict[int, dict[int, _Bucket]] = {}
        for (level, spare), entries in idle.items():
            levels.setdefault(level, {})[spare] = bucket = _Bucket()
            bucket.by_idle.fill(entries)
        term.levels = levels
        return levels

    def _rr_levels(self, g: int, skill: str) -> dict[int, dict[int, _Bucket]]:
        """The same buckets with their round-robin order, built the first time a round-robin query
        pivots on the term (from the agents in idle order), then kept up to date."""
        levels = self._levels(g, skill)
        term = self._terms[skill][g]
        if not term.rr:
            records = self._records
            at = _RR + g
            for spares in levels.values():
                for bucket in spares.values():
                    bucket.by_rr.fill([records[e & _ORDINAL].keys[at] for e in bucket.by_idle])  # type: ignore[union-attr]
            term.rr = True
        return levels

    # --- queries ----------------------------------------------------------------------

    def eligible_count(self, group: str, skill: str, min_level: int) -> int:
        return self._count(_GROUP_INDEX[group], skill, min_level)

    def count_at_least(self, g: int, skill: str, min_level: int) -> int:
        """Available agents with a spare slot in group index `g` having `skill` at `min_level` or more."""
        return self._count(g, skill, min_level)

    def _count(self, g: int, skill: str, min_level: int) -> int:
        counts = self._terms.get(skill, _NO_TERMS)[g].counts
        if min_level <= 1:
            return sum(counts)
        return sum(counts[min_level:])

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
        terms = requirement.terms or _ANY_TERMS
        known = self._terms
        nobody_key = (g, requirement)
        cached = self._nobody.get(nobody_key)
        if cached is not None:
            for t, e in zip(terms, cached, strict=True):
                if known.get(t[0], _NO_TERMS)[g].epoch == e:
                    return None
            del self._nobody[nobody_key]
        found = self._best(g, terms, requirement, strategy, exclude)
        if found is None and not exclude:
            self._nobody[nobody_key] = tuple(known.get(t[0], _NO_TERMS)[g].epoch for t in terms)
        return found

    def _best(
        self,
        g: int,
        terms: tuple[tuple[str, int], ...],
        requirement: Requirement,
        strategy: Strategy,
        exclude: Container[str],
    ) -> Match | None:
        if strategy is _BEST_SKILL and requirement.skills:
            pivot = max(requirement.skills, key=_LEVEL_THEN_NAME)
            pivot_count = self._count(g, pivot[0], pivot[1])
        else:
            # the term the fewest agents meet, ties going to the smaller term (as min() of the pairs)
            pivot = terms[0]
            pivot_count = self._count(g, pivot[0], pivot[1])
            for i in range(1, len(terms)):
                t = terms[i]
                count = self._count(g, t[0], t[1])
                if count < pivot_count or (count == pivot_count and t < pivot):
                    pivot, pivot_count = t, count
        if pivot_count == 0:
            return None
        others = tuple([t for t in terms if t != pivot]) if len(terms) > 1 else ()
        skill, min_level = pivot
        term = self._terms[skill][g]  # the pivot is met by someone, so its term exists
        tree = term.levels
        if tree is None or (strategy is _ROUND_ROBIN and not term.rr):  # buckets (or their rr order) unbuilt
            tree = self._rr_levels(g, skill) if strategy is _ROUND_ROBIN else self._levels(g, skill)
        agents = self._records
        found: AgentRecord | None
        if strategy is _LONGEST_IDLE or strategy is _ROUND_ROBIN:
            # one order over every level and spare count: _first merges the lists by their heads
            if strategy is _LONGEST_IDLE:
                lists = [b.by_idle for level, spares in tree.items() if level >= min_level for b in spares.values()]
            else:
                lists = [b.by_rr for level, spares in tree.items() if level >= min_level for b in spares.values()]
            found = _first(lists, agents, others, exclude)
            return None if found is None else Match(found, pivot_count)
        levels = sorted((level for level in tree if level >= min_level), reverse=True)
        if strategy is _LEAST_LOADED:
            found = None
            for spare in sorted({spare for level in levels for spare in tree[level]}, reverse=True):
                lists = [tree[level][spare].by_idle for level in levels if spare in tree[level]]
                found = _first(lists, agents, others, exclude)
                if found is not None:
                    break
        else:  # best skill: the highest level first
            found = None
            for level in levels:
                found = _first([b.by_idle for b in tree[level].values()], agents, others, exclude)
                if found is not None:
                    break
        return None if found is None else Match(found, pivot_count)

    def eligible(self, agent: AgentRecord, group: str, requirement: Requirement) -> bool:
        """Whether this agent could take such a conversation right now."""
        g = _GROUP_INDEX[group]
        return agent.presence is Presence.AVAILABLE and agent.spare(g) > 0 and requirement.satisfied_by(agent.skills)


_ANY_TERMS = ((ANY_SKILL, 1),)


def _level_then_name(term: tuple[str, int]) -> tuple[int, str]:
    return (term[1], term[0])


_LEVEL_THEN_NAME = _level_then_name
_AFTER_EVERY_ENTRY: Entry = 1 << 1100  # sorts after every entry (of any finite float key: < 2**1077)
# module constants: an enum member looked up on its class costs more on the hot path
_LONGEST_IDLE = Strategy.LONGEST_IDLE
_LEAST_LOADED = Strategy.LEAST_LOADED
_BEST_SKILL = Strategy.BEST_SKILL
_ROUND_ROBIN = Strategy.ROUND_ROBIN


def _first(
    lists: list[_Sorted],
    agents: list[AgentRecord | None],
    others: tuple[tuple[str, int], ...],
    exclude: Container[str],
) -> AgentRecord | None:
    """The first agent, in the merged order of these sorted lists, not excluded and meeting `others`.

    No merge: the lists are walked one after another, smallest head first, each only as long as its
    entries sort before the best agent found so far (in the common case the first head qualifies
    and every other list stops at its head)."""
    if not others and not exclude and lists:  # the common case: every agent in these lists qualifies
        return agents[min([items.blocks[0][0] for items in lists]) & _ORDINAL]
    # heads are distinct (an agent sits in one bucket of a skill), so the pairs never compare lists
    ordered = sorted([(items.blocks[0][0], items.blocks) for items in lists])
    best = _AFTER_EVERY_ENTRY
    found: AgentRecord | None = None
    mask = _ORDINAL
    excluding = bool(exclude)
    for head, blocks in ordered:
        if head > best:
            break  # this list, and every list after it, starts after the best agent so far
        for entry in blocks[0] if len(blocks) == 1 else itertools.chain.from_iterable(blocks):
            if entry > best:
                break
            agent = agents[entry & mask]
            if agent is None or (excluding and agent.agent_id in exclude):
                continue
            skills = agent.skills
            for name, level in others:
                if skills.get(name, 0) < level:
                    break
            else:
                best, found = entry, agent
                break
    return found


def group_index(group: str) -> int:
    return _GROUP_INDEX[group]


def describe_skills(agent: AgentRecord, requirement: Requirement) -> Mapping[str, int]:
    return {name: agent.skills.get(name, 0) for name, _ in requirement.skills}
