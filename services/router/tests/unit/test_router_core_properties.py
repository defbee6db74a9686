"""Property tests: random event sequences never break the routing invariants.

No agent over capacity, no conversation held twice, every claim met the skills and language
required at that moment, and no waiting conversation is left while an available agent with a
spare slot could take it (liveness, checked after every step by a brute-force scan).
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from omni_router.domain.agents import group_index
from omni_router.domain.model import (
    GROUPS,
    AgentProfile,
    Assigned,
    Offered,
    Presence,
    QueueSpec,
    RoutingRequest,
    Strategy,
    WideningStep,
    group_of,
)
from omni_router.domain.routing import RoutingCore

AGENTS = [f"agent-{i}" for i in range(6)]
SKILLS = st.dictionaries(st.sampled_from(["billing", "tech", "keigo"]), st.integers(1, 10), max_size=2)
CONVERSATION_SKILLS = st.one_of(st.just({}), SKILLS)
LANGS = st.lists(st.sampled_from(["en", "ja"]), max_size=2, unique=True).map(tuple)
PRESENCE = st.sampled_from([Presence.AVAILABLE, Presence.AVAILABLE, Presence.AVAILABLE, *Presence])
QUEUES = {
    "direct": QueueSpec("direct", Strategy.LONGEST_IDLE),
    "offer": QueueSpec("offer", Strategy.ROUND_ROBIN, offer_timeout_s=15),
    "skill": QueueSpec(
        "skill",
        Strategy.BEST_SKILL,
        widening=(WideningStep(20, drop_optional=True), WideningStep(40, lower_levels_by=5)),
        overflow_after_s=90,
        overflow_to="direct",
    ),
    "sticky": QueueSpec("sticky", Strategy.LEAST_LOADED, sticky_grace_s=25, offer_timeout_s=10),
}


class RoutingMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.core = RoutingCore(QUEUES, default_queue="direct")
        self.now = 1000.0
        self.capacity: dict[str, dict[str, int]] = {}
        self.conversations = 0

    def _check(self, decisions: list) -> None:
        for d in decisions:
            if isinstance(d, Assigned | Offered):
                record = self.core.agent(d.agent_id)
                held = self.core.held[d.conversation_id]
                assert held.agent_id == d.agent_id
                assert held.conv.requirement.satisfied_by(record.skills), (d, record.skills)
                assert d.agent_id not in held.conv.declined

    @rule(
        agent_id=st.sampled_from(AGENTS),
        skills=SKILLS,
        langs=LANGS,
        chat=st.integers(0, 3),
        email=st.integers(0, 2),
        social=st.integers(0, 1),
        presence=PRESENCE,
    )
    def upsert_agent(self, agent_id, skills, langs, chat, email, social, presence) -> None:
        # capacity is fixed at creation: lowering it below the load is an admin's choice, not a routing bug
        capacity = self.capacity.setdefault(agent_id, {"chat": chat, "email": email, "social": social})
        self._check(self.core.upsert_agent(AgentProfile(agent_id, skills, langs, capacity, presence), now=self.now))

    @precondition(lambda self: self.capacity)
    @rule(data=st.data(), presence=PRESENCE)
    def change_presence(self, data, presence) -> None:
        agent_id = data.draw(st.sampled_from(sorted(self.capacity)))
        self._check(self.core.set_presence(agent_id, presence, now=self.now))

    @rule(
        channel=st.sampled_from(["chat", "email", "line"]),
        queue=st.sampled_from(sorted(QUEUES)),
        skills=CONVERSATION_SKILLS,
        optional=CONVERSATION_SKILLS,
        language=st.sampled_from([None, None, "ja", "en-US"]),
        priority=st.integers(0, 3),
        last=st.sampled_from([None, *AGENTS]),
    )
    def enqueue(self, channel, queue, skills, optional, language, priority, last) -> None:
        self.conversations += 1
        request = RoutingRequest(
            conversation_id=f"c{self.conversations}",
            channel=channel,
            queue=queue,
            skills=skills,
            optional_skills=optional,
            language=language,
            priority=priority,
            enqueued_at=self.now,
            last_agent_id=last,
        )
        self._check(self.core.enqueue(request, now=self.now))

    def _offered(self) -> list[str]:
        return sorted(cid for cid, h in self.core.held.items() if h.offered)

    @precondition(lambda self: any(h.offered for h in self.core.held.values()))
    @rule(data=st.data())
    def accept(self, data) -> None:
        cid = data.draw(st.sampled_from(self._offered()))
        self.core.accept(cid, self.core.held[cid].agent_id, now=self.now)

    @precondition(lambda self: any(h.offered for h in self.core.held.values()))
    @rule(data=st.data())
    def decline(self, data) -> None:
        cid = data.draw(st.sampled_from(self._offered()))
        agent_id = self.core.held[cid].agent_id
        decisions = self.core.decline(cid, agent_id, now=self.now)
        self._check(decisions)
        assert all(
            d.agent_id != agent_id for d in decisions if isinstance(d, Assigned | Offered) and d.conversation_id == cid
        )

    @precondition(lambda self: self.core.held or len(self.core.waiting))
    @rule(data=st.data())
    def release(self, data) -> None:
        cid = data.draw(st.sampled_from(sorted([*self.core.held, *self.core.waiting.by_id])))
        self._check(self.core.release(cid, now=self.now))

    @rule(seconds=st.floats(0, 60))
    def time_passes(self, seconds) -> None:
        self.now += seconds
        self._check(self.core.tick(now=self.now))

    @invariant()
    def no_agent_over_capacity_and_load_matches_holdings(self) -> None:
        held_per: dict[tuple[str, int], int] = {}
        for h in self.core.held.values():
            key = (h.agent_id, h.conv.group)
            held_per[key] = held_per.get(key, 0) + 1
        for agent_id, record in self.core.agents.agents.items():
            for g in range(len(GROUPS)):
                assert record.load[g] == held_per.get((agent_id, g), 0)
                assert record.load[g] <= record.capacity[g]

    @invariant()
    def no_conversation_both_waiting_and_held(self) -> None:
        assert not (set(self.core.held) & set(self.core.waiting.by_id))

    @invariant()
    def liveness_no_takeable_conversation_left_waiting(self) -> None:
        for conv in self.core.waiting.all():
            for record in self.core.agents.agents.values():
                if record.agent_id in conv.declined:
                    continue
                if conv.sticky_agent not in (None, record.agent_id) and self.now < conv.sticky_until:
                    continue
                group = GROUPS[conv.group]
                assert not self.core.agents.eligible(record, group, conv.requirement), (
                    f"{conv.conversation_id} waits while {record.agent_id} could take it"
                )

    @invariant()
    def held_conversations_in_right_group(self) -> None:
        for h in self.core.held.values():
            assert h.conv.group == group_index(group_of(h.conv.request.channel))


RoutingMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_routing_invariants = RoutingMachine.TestCase


def test_seeded_random_walks_keep_invariants():
    """Long deterministic random walks (hypothesis explores widely; these go deep)."""
    import random

    rng = random.Random(20261122)
    for _ in range(60):
        m = RoutingMachine.__new__(RoutingMachine)
        m.setup()
        for _ in range(120):
            k = rng.randrange(7)
            if k == 0:
                m.upsert_agent(
                    rng.choice(AGENTS),
                    rng.choice([{}, {"billing": rng.randint(1, 10)}]),
                    rng.choice([(), ("ja",), ("en", "ja")]),
                    rng.randint(0, 3),
                    rng.randint(0, 2),
                    rng.randint(0, 1),
                    rng.choice([Presence.AVAILABLE, Presence.AVAILABLE, Presence.AWAY]),
                )
            elif k in (1, 2):
                m.enqueue(
                    rng.choice(["chat", "email", "line"]),
                    rng.choice(sorted(QUEUES)),
                    rng.choice([{}, {"billing": rng.randint(1, 10)}]),
                    rng.choice([{}, {"keigo": 3}]),
                    rng.choice([None, "ja"]),
                    rng.randint(0, 3),
                    rng.choice([None, *AGENTS]),
                )
            elif k == 3 and (m.core.held or len(m.core.waiting)):
                m.core.release(rng.choice(sorted([*m.core.held, *m.core.waiting.by_id])), now=m.now)
            elif k == 4 and m._offered():
                cid = rng.choice(m._offered())
                if rng.random() < 0.5:
                    m.core.accept(cid, m.core.held[cid].agent_id, now=m.now)
                else:
                    m._check(m.core.decline(cid, m.core.held[cid].agent_id, now=m.now))
            elif k == 5 and m.capacity:
                m._check(m.core.set_presence(rng.choice(sorted(m.capacity)), rng.choice(list(Presence)), now=m.now))
            else:
                m.time_passes(rng.uniform(0, 40))
            m.no_agent_over_capacity_and_load_matches_holdings()
            m.no_conversation_both_waiting_and_held()
            m.liveness_no_takeable_conversation_left_waiting()
