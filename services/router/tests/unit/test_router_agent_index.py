"""The agent index's blocked sorted lists and buckets stay ordered through many inserts and removals."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from omni_router.domain.agents import AgentIndex, AgentRecord, _Sorted
from omni_router.domain.model import AgentProfile, Presence, Requirement, Strategy


def record(i: int, idle: float) -> AgentRecord:
    r = AgentRecord(AgentProfile(f"a{i:05d}", {}, (), {"chat": 1}, Presence.AVAILABLE), now=idle, ordinal=i)
    return r


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_blocked_list_keeps_order_across_block_splits(seed: int) -> None:
    rng = random.Random(seed)
    items = _Sorted()
    live = []
    for i in range(1500):
        entry = record(i, float(rng.randint(0, 300))).keys[1]
        items.insert(entry)
        live.append(entry)
        if rng.random() < 0.3:
            victim = live.pop(rng.randrange(len(live)))
            items.remove(victim)
    assert list(items) == sorted(live)
    assert all(0 < len(b) <= 512 for b in items.blocks)
    assert items.maxes == [b[-1] for b in items.blocks]


def test_index_with_thousands_of_agents_finds_longest_idle():
    index = AgentIndex()
    for i in range(3000):
        index.upsert(AgentProfile(f"a{i:05d}", {"x": 1 + i % 10}, ("en",), {"chat": 2}, Presence.AVAILABLE), now=i % 7)
    match = index.best("chat", Requirement.of({"x": 10}), Strategy.LONGEST_IDLE)
    assert match is not None
    expected = min((a for a in index.agents.values() if a.skills["x"] >= 10), key=lambda a: (a.idle_key(1), a.agent_id))
    assert match.agent is expected
    best = index.best("chat", Requirement.of({}), Strategy.BEST_SKILL)
    assert best is not None


def test_a_term_first_queried_after_many_changes_orders_its_agents_as_they_are_now():
    """Buckets of a term are built at its first pivot: from the agents' state then, not at upsert."""
    index = AgentIndex()
    for i in range(600):
        index.upsert(AgentProfile(f"a{i:04d}", {"x": 3}, ("ja",), {"chat": 1}, Presence.AVAILABLE), now=float(i))
    busy = index.agents["a0000"]
    index.change_load(busy, 1, delta=1)  # the longest idle agent is full now
    index.set_presence(index.agents["a0001"], Presence.AWAY, now=700.0)
    index.change_load(index.agents["a0599"], 1, delta=0, idle_key=-1.0)  # now idle longest of all
    for requirement in (Requirement.of({}), Requirement.of({}, "ja"), Requirement.of({"x": 2})):
        match = index.best("chat", requirement, Strategy.LONGEST_IDLE)
        assert match is not None and match.agent.agent_id == "a0599", requirement
        assert match.candidates == 598
    index.change_load(index.agents["a0599"], 1, delta=1)  # later changes keep the built buckets right
    match = index.best("chat", Requirement.of({}, "ja"), Strategy.LONGEST_IDLE)
    assert match is not None and match.agent.agent_id == "a0002"
