"""The indexed core makes exactly the decisions of the benchmark's naive linear scan (bench/_naive.py).

Random agents and conversations with many ties (whole-second times, few skills and levels),
every strategy, capacities above one (so least-loaded and the spare-slot buckets matter):
both start from the same state, then take the same arrivals and releases, and must pick the
same agent for the same conversation every time, in the same order.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from omni_router.domain.model import AgentProfile, Assigned, Offered, Presence, QueueSpec, RoutingRequest, Strategy
from omni_router.domain.routing import RoutingCore

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from _naive import NaiveCore

QUEUES = {s.value: QueueSpec(s.value, s) for s in Strategy}
SKILLS = ["a", "b", "c", "d", "e"]


def _request(rng: random.Random, n: int, now: float) -> RoutingRequest:
    skills = {s: rng.randint(1, 6) for s in rng.sample(SKILLS, rng.choice([0, 1, 1, 2, 3]))}
    return RoutingRequest(
        conversation_id=f"c{n:05d}",
        channel=rng.choice(["chat", "chat", "email", "line", "sms"]),
        queue=rng.choice(sorted(QUEUES)),
        skills=skills,
        language=rng.choice([None, None, "ja", "en"]),
        priority=rng.randint(0, 2),
        enqueued_at=now,
    )


def _run(core_like: object, rng: random.Random, start: int, ops: int, now: float, held: list[str]) -> list:
    made = []
    for k in range(ops):
        t = now + (k // 3)  # whole seconds: many idle-time ties, broken by agent id
        if rng.random() < 0.5 and held:
            decisions = core_like.release(held.pop(rng.randrange(len(held))), now=t)  # type: ignore[attr-defined]
        else:
            decisions = core_like.enqueue(_request(rng, start + k, t), now=t)  # type: ignore[attr-defined]
        for d in decisions:
            if isinstance(d, Assigned | Offered):
                held.append(d.conversation_id)
                made.append((d.conversation_id, d.agent_id, d.group))
    return made


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(5, 120))
def test_indexed_core_decides_like_the_naive_scan(seed: int, agents: int) -> None:
    rng = random.Random(seed)
    core = RoutingCore(QUEUES, default_queue="longest_idle")
    for i in range(agents):
        skills = {s: rng.randint(1, 8) for s in rng.sample(SKILLS, rng.randint(0, 4))}
        langs = rng.choice([("en",), ("ja",), ("en", "ja"), ()])
        capacity = {g: rng.randint(0, 3) for g in ("chat", "email", "sms", "social")}
        presence = Presence.AVAILABLE if rng.random() < 0.9 else Presence.AWAY
        core.upsert_agent(AgentProfile(f"ag{i:04d}", skills, langs, capacity, presence), now=float(rng.randint(0, 3)))
    n = 0
    for _ in range(agents * 2):  # fill: some assigned, some waiting
        n += 1
        core.enqueue(_request(rng, n, 5.0), now=5.0)
    naive = NaiveCore.from_core(core)
    held = sorted(core.held)
    fast = _run(core, random.Random(seed + 1), n + 1, 300, 10.0, list(held))
    slow = _run(naive, random.Random(seed + 1), n + 1, 300, 10.0, list(held))
    assert fast == slow
    assert fast  # the walk made decisions at all
