"""Properties of the fold over random conversation lifecycles, in any delivery order."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from omni_analytics.domain import KpiConfig, KpiState
from omni_analytics.simulate import Script, conversation_uuid, synthetic_stream
from omni_schemas import CloudEvent

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
NOW = START.timestamp() + 7200

# each lifecycle: (steps, still waiting at the end, agent holding it at the end)
LIFECYCLES = ("waiting", "abandoned", "open", "resolved", "transferred", "reopened", "csat")


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Script, dict[str, str], dict[str, str]]:
    script = Script(START)
    waiting: dict[str, str] = {}  # conversation -> channel
    holding: dict[str, str] = {}  # conversation -> agent
    n = draw(st.integers(1, 12))
    for agent in ("a1", "a2"):
        script.agent(agent, 0, capacity={"chat": 2})
        script.presence(agent, draw(st.sampled_from(["available", "busy", "away", "offline"])), 0)
    for i in range(n):
        name = f"p{i}"
        kind = draw(st.sampled_from(LIFECYCLES))
        channel = draw(st.sampled_from(["chat", "email", "line"]))
        agent = draw(st.sampled_from(["a1", "a2"]))
        t = float(draw(st.integers(0, 3000)))
        gaps = draw(st.lists(st.integers(1, 600), min_size=8, max_size=8))

        def step(
            kind_: str,
            k: int,
            name: str = name,
            channel: str = channel,
            t: float = t,
            gaps: list[int] = gaps,
            **fields: object,
        ) -> None:
            script.conv(kind_, name, channel, t + sum(gaps[:k]), **fields)

        step("opened", 0)
        step("queued", 0, queue="general")
        if kind == "waiting":
            waiting[name] = channel
            continue
        if kind == "abandoned":
            step("abandoned", 1)
            continue
        step("assigned", 1, agent_id=agent)
        step("agent_replied", 2, agent_id=agent)
        if kind == "open":
            holding[name] = agent
            continue
        if kind == "transferred":
            step("transferred", 3, to_queue="tech")
            step("assigned", 4, agent_id=agent)
        step("resolved", 5)
        if kind == "reopened":
            step("reopened", 6)
            step("queued", 6, queue="general")
            waiting[name] = channel
        if kind == "csat":
            step("csat_submitted", 6, score=draw(st.integers(1, 5)))
    return script, waiting, holding


def keyed_shuffle(events: list[CloudEvent], rng: random.Random) -> list[CloudEvent]:
    """Interleave per-key streams at random, keeping each key's order (what Kafka guarantees)."""
    streams: dict[str, list[CloudEvent]] = {}
    for e in events:
        streams.setdefault(f"{e.topic}/{e.subject}", []).append(e)
    queues = list(streams.values())
    out: list[CloudEvent] = []
    while queues:
        q = rng.choice(queues)
        out.append(q.pop(0))
        if not q:
            queues.remove(q)
    return out


def fold(events: list[CloudEvent], config: KpiConfig | None = None) -> KpiState:
    state = KpiState(config)
    for e in events:
        state.apply(e, now=NOW)
    return state


def check_sane(state: KpiState) -> None:
    view = state.view(NOW)
    assert all(v >= 0 for v in view.queue_depth.values())
    assert all(v >= 0 for v in view.oldest_wait_s.values())
    assert all(v >= 0 for v in view.agents.values())
    assert all(a.load >= 0 for a in state.agents.values())
    for ratios in (view.service_level, view.abandonment, view.fcr):
        assert all(0.0 <= r <= 1.0 for r in ratios.values())
    assert all(1.0 <= c <= 5.0 for c in view.csat.values())
    if view.occupancy is not None:
        assert view.occupancy >= 0


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_any_kafka_order_gives_exact_queues_loads_and_counts(
    case: tuple[Script, dict[str, str], dict[str, str]], rng: random.Random
) -> None:
    script, waiting, holding = case
    state = fold(keyed_shuffle(script.events, rng))
    check_sane(state)
    view = state.view(NOW)
    assert sum(view.queue_depth.values()) == len(waiting)
    for channel in {"chat", "email", "line"}:
        assert sum(n for (_, ch), n in view.queue_depth.items() if ch == channel) == sum(
            1 for c in waiting.values() if c == channel
        )
    for agent in ("a1", "a2"):
        assert state.agents[agent].load == sum(1 for a in holding.values() if a == agent)
    opened = sum(1 for e in script.events if e.type.endswith("conversation.opened.v1"))
    assert sum(state.opened.values()) == opened


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False), st.integers(0, 3))
def test_redelivered_events_never_change_any_kpi(
    case: tuple[Script, dict[str, str], dict[str, str]], rng: random.Random, extra: int
) -> None:
    script, _, _ = case
    once = fold(script.events)
    events = script.events
    crashes = {rng.randrange(len(events)) for _ in range(extra + 1)}
    noisy: list[CloudEvent] = []
    for i, event in enumerate(events):  # after a crash before commit, the last few come again
        noisy.append(event)
        if i in crashes:
            noisy.extend(events[max(0, i - 5) : i + 1])
    twice = fold(noisy)
    assert twice.to_dict(NOW) | {"duplicates": 0, "recent": []} == once.to_dict(NOW) | {
        "duplicates": 0,
        "recent": [],
    }


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_fully_scrambled_order_never_makes_a_gauge_negative_or_a_closed_conversation_wait(
    case: tuple[Script, dict[str, str], dict[str, str]], rng: random.Random
) -> None:
    script, waiting, _ = case
    events = list(script.events)
    rng.shuffle(events)
    state = fold(events)
    check_sane(state)
    waiting_now = {cid for members in state.waiting.values() for cid in members}
    closed_names = {
        e.data.conversation_id.int  # type: ignore[attr-defined]
        for e in script.events
        if e.type.endswith(("resolved.v1", "abandoned.v1"))
    }
    still_waiting = {conversation_uuid(n).int for n in waiting}
    assert waiting_now == still_waiting
    assert not (waiting_now & (closed_names - still_waiting))


@settings(max_examples=50, deadline=None)
@given(scenarios(), st.integers(1, 40))
def test_snapshot_at_any_point_then_redelivery_resumes_exactly(
    case: tuple[Script, dict[str, str], dict[str, str]], cut: int
) -> None:
    script, _, _ = case
    events = script.events
    cut = min(cut, len(events))
    reference = fold(events)
    partial = fold(events[:cut])
    restored = KpiState.from_dict(partial.to_dict(NOW))
    for e in events[max(0, cut - 10) :]:  # the uncommitted tail comes again
        restored.apply(e, now=NOW)
    assert restored.view(NOW) == reference.view(NOW)
    assert restored.histograms.keys() == reference.histograms.keys()
    for name in reference.histograms:
        assert {c: h.to_dict() for c, h in restored.histograms[name].items()} == {
            c: h.to_dict() for c, h in reference.histograms[name].items()
        }


def test_memory_is_bounded_by_open_conversations_not_events_seen() -> None:
    config = KpiConfig(closed_conversations=500, recent_ids=2_000)
    state = KpiState(config)
    for e in synthetic_stream(30_000, open_at_once=100):
        state.apply(e, now=NOW)
    assert len(state.open) <= 100 + 1
    assert len(state.closed) <= 500
    assert len(state.recent) <= 2_000
    assert sum(state.opened.values()) > 4_000
