"""Table-driven tests of the routing core: strategies, ordering, offers, stickiness, widening, overflow."""

from __future__ import annotations

import pytest

from omni_router.domain.model import (
    AgentProfile,
    Assigned,
    Offered,
    OfferEnded,
    Presence,
    Queued,
    QueueSpec,
    RoutingRequest,
    Strategy,
    WideningStep,
)
from omni_router.domain.routing import CapacityExceeded, NotOffered, RoutingCore, UnknownAgent

AVAILABLE = Presence.AVAILABLE


def agent(agent_id: str, skills: dict[str, int] | None = None, *, chat: int = 2, email: int = 0, langs=("en",)):
    return AgentProfile(agent_id, skills or {}, tuple(langs), {"chat": chat, "email": email}, AVAILABLE)


def request(cid: str, *, queue: str = "q", at: float = 0.0, **kw) -> RoutingRequest:
    kw.setdefault("channel", "chat")
    return RoutingRequest(conversation_id=cid, queue=queue, enqueued_at=at, **kw)


def assigned(decisions) -> list[tuple[str, str]]:
    return [(d.conversation_id, d.agent_id) for d in decisions if isinstance(d, Assigned | Offered)]


def core(**spec) -> RoutingCore:
    return RoutingCore({"q": QueueSpec("q", **spec), "overflow": QueueSpec("overflow")}, default_queue="q")


def test_longest_idle_picks_agent_idle_longest_then_the_agent_known_longest():
    c = core(strategy=Strategy.LONGEST_IDLE)
    c.upsert_agent(agent("b"), now=5)
    c.upsert_agent(agent("a"), now=5)
    c.upsert_agent(agent("c"), now=1)
    assert assigned(c.enqueue(request("x1"), now=10)) == [("x1", "c")]
    # a and b idle since 5: the tie goes to b, which the core saw first (not to the smaller id)
    assert assigned(c.enqueue(request("x2"), now=10)) == [("x2", "b")]
    c.upsert_agent(agent("b", skills={"x": 2}), now=20)  # a new profile keeps b's place in ties
    assert c.agents.agents["b"].ordinal < c.agents.agents["a"].ordinal


def test_least_loaded_picks_most_spare_slots():
    c = core(strategy=Strategy.LEAST_LOADED)
    c.upsert_agent(agent("a", chat=3), now=0)
    c.upsert_agent(agent("b", chat=2), now=0)
    assert assigned(c.enqueue(request("x1"), now=1)) == [("x1", "a")]
    # a: 2 spare, b: 2 spare -> the one idle longer (b, since a just got x1)
    assert assigned(c.enqueue(request("x2"), now=1)) == [("x2", "b")]
    # a: 2 spare, b: 1 spare
    assert assigned(c.enqueue(request("x3"), now=1)) == [("x3", "a")]
    c.upsert_agent(agent("c", chat=1), now=0)
    c.upsert_agent(agent("d", chat=1), now=0)
    # a, b, c, d all have 1 spare; c and d idle since 0, tie broken by agent id
    assert assigned(c.enqueue(request("x4"), now=2)) == [("x4", "c")]


def test_best_skill_picks_highest_level_of_the_main_skill():
    c = core(strategy=Strategy.BEST_SKILL)
    c.upsert_agent(agent("a", {"billing": 5}), now=0)
    c.upsert_agent(agent("b", {"billing": 9}), now=1)
    c.upsert_agent(agent("c", {"billing": 3}), now=0)
    decisions = c.enqueue(request("x1", skills={"billing": 4}), now=2)
    assert assigned(decisions) == [("x1", "b")]
    reason = decisions[-1].reason
    assert reason.strategy == "best_skill"
    assert reason.agent_skills == {"billing": 9}
    assert reason.skills == {"billing": 4}
    assert "billing 9 (needs 4)" in reason.summary


def test_round_robin_rotates_through_agents():
    c = core(strategy=Strategy.ROUND_ROBIN)
    for name in ("a", "b", "c"):
        c.upsert_agent(agent(name, chat=5), now=0)
    got = [assigned(c.enqueue(request(f"x{i}"), now=1))[0][1] for i in range(6)]
    assert got == ["a", "b", "c", "a", "b", "c"]


def test_skills_and_language_are_required():
    c = core()
    c.upsert_agent(agent("en-only", {"billing": 9}), now=0)
    c.upsert_agent(agent("ja-low", {"billing": 2}, langs=("ja",)), now=0)
    decisions = c.enqueue(request("x1", skills={"billing": 5}, language="ja-JP"), now=1)
    assert assigned(decisions) == []
    assert isinstance(decisions[0], Queued)
    c.upsert_agent(agent("ja-high", {"billing": 6}, langs=("ja", "en")), now=2)
    assert c.state_of("x1") == "assigned"
    assert c.held["x1"].agent_id == "ja-high"


def test_capacity_is_per_channel_group():
    c = core()
    c.upsert_agent(agent("a", chat=1, email=0), now=0)
    assert assigned(c.enqueue(request("mail", channel="email"), now=1)) == []
    assert assigned(c.enqueue(request("chat1"), now=1)) == [("chat1", "a")]
    assert assigned(c.enqueue(request("chat2"), now=1)) == []


def test_queue_order_is_priority_then_sla_due_then_age():
    c = core()
    for cid, at, priority, due in [
        ("old-low", 0, 1, None),
        ("new-high", 5, 9, None),
        ("due-later", 3, 9, 100.0),
        ("due-soon", 4, 9, 50.0),
        ("older-high", 2, 9, None),
    ]:
        c.enqueue(request(cid, at=at, priority=priority, sla_due_at=due), now=5)
    decisions = c.upsert_agent(agent("a", chat=5), now=6)
    assert [cid for cid, _ in assigned(decisions)] == ["due-soon", "due-later", "older-high", "new-high", "old-low"]


def test_sla_warning_moves_conversation_ahead_within_its_priority():
    c = core()
    c.enqueue(request("first", at=0), now=0)
    c.enqueue(request("second", at=1), now=1)
    assert c.raise_urgency("second", sla_due_at=30)
    decisions = c.upsert_agent(agent("a", chat=1), now=2)
    assert assigned(decisions) == [("second", "a")]


def test_offer_accept_then_assigned():
    c = core(offer_timeout_s=20)
    c.upsert_agent(agent("a"), now=0)
    offered = c.enqueue(request("x"), now=1)[-1]
    assert isinstance(offered, Offered)
    assert offered.expires_at == 21
    with pytest.raises(NotOffered):
        c.accept("x", "someone-else", now=2)
    done = c.accept("x", "a", now=2)
    assert isinstance(done, Assigned)
    assert c.state_of("x") == "assigned"
    with pytest.raises(NotOffered):
        c.accept("x", "a", now=3)


def test_decline_never_reoffers_to_the_same_agent():
    c = core(offer_timeout_s=20)
    c.upsert_agent(agent("a"), now=0)
    c.upsert_agent(agent("b"), now=5)
    assert assigned(c.enqueue(request("x"), now=6)) == [("x", "a")]
    decisions = c.decline("x", "a", now=7)
    assert isinstance(decisions[0], OfferEnded)
    assert assigned(decisions) == [("x", "b")]
    decisions = c.decline("x", "b", now=8)
    assert assigned(decisions) == []
    assert c.state_of("x") == "waiting"
    assert c.agent("a").load[1] == 0


def test_offer_expiry_reroutes_and_frees_the_slot():
    c = core(offer_timeout_s=10)
    c.upsert_agent(agent("a", chat=1), now=0)
    c.enqueue(request("x"), now=1)
    assert c.tick(now=5) == []
    decisions = c.tick(now=11)
    assert [type(d).__name__ for d in decisions] == ["OfferEnded", "Queued"]
    assert decisions[0].expired
    assert c.agent("a").load[1] == 0
    c.upsert_agent(agent("b", chat=1), now=12)
    assert c.held["x"].agent_id == "b"


def test_sticky_conversation_waits_for_last_agent_within_grace():
    c = core(sticky_grace_s=30)
    c.upsert_agent(agent("last", chat=1), now=0)
    c.upsert_agent(agent("other", chat=1), now=0)
    c.enqueue(request("busy-maker"), now=0)  # occupies "last" (idle-longest tie -> "last" < "other")
    assert c.held["busy-maker"].agent_id == "last"
    decisions = c.enqueue(request("x", at=1, last_agent_id="last"), now=1)
    assert assigned(decisions) == []
    c.release("busy-maker", now=10)
    assert c.held["x"].agent_id == "last"
    assert c.held["x"].reason.sticky


def test_sticky_grace_ends_and_any_agent_takes_it():
    c = core(sticky_grace_s=30)
    c.upsert_agent(agent("last", chat=0), now=0)
    c.upsert_agent(agent("other", chat=1), now=0)
    assert assigned(c.enqueue(request("x", at=1, last_agent_id="last"), now=1)) == []
    assert assigned(c.tick(now=31)) == [("x", "other")]


def test_sticky_prefers_last_agent_when_available():
    c = core()
    c.upsert_agent(agent("a", chat=1), now=0)
    c.upsert_agent(agent("b", chat=1), now=5)
    decisions = c.enqueue(request("x", last_agent_id="b"), now=6)
    assert assigned(decisions) == [("x", "b")]
    assert decisions[-1].reason.sticky


def test_widening_drops_optional_then_lowers_levels():
    widening = (WideningStep(30, drop_optional=True), WideningStep(60, lower_levels_by=2))
    c = core(widening=widening)
    c.upsert_agent(agent("mid", {"billing": 4}), now=0)
    c.enqueue(request("x", skills={"billing": 6}, optional_skills={"keigo": 7}), now=0)
    assert c.waiting.by_id["x"].requirement.skills == (("billing", 6), ("keigo", 7))
    step1 = c.tick(now=30)
    assert [(d.widening_step, d.why) for d in step1 if isinstance(d, Queued)] == [(1, "widened")]
    assert c.waiting.by_id["x"].requirement.skills == (("billing", 6),)
    step2 = c.tick(now=60)
    assert assigned(step2) == [("x", "mid")]
    assert step2[-1].reason.widening_step == 2
    assert step2[-1].reason.skills == {"billing": 4}


def test_overflow_moves_to_overflow_queue_after_wait():
    c = core(overflow_after_s=120, overflow_to="overflow")
    c.upsert_agent(agent("generalist"), now=0)
    c.enqueue(request("x", skills={"rare": 9}), now=0)
    decisions = c.tick(now=120)
    queued = [d for d in decisions if isinstance(d, Queued)]
    assert [(d.queue, d.why) for d in queued] == [("overflow", "overflow")]
    assert assigned(decisions) == [("x", "generalist")]


def test_agent_becoming_available_pulls_waiting_work():
    c = core()
    c.upsert_agent(AgentProfile("a", {}, ("en",), {"chat": 2}, Presence.AWAY), now=0)
    c.enqueue(request("x1"), now=1)
    c.enqueue(request("x2"), now=2)
    assert c.held == {}
    decisions = c.set_presence("a", AVAILABLE, now=3)
    assert assigned(decisions) == [("x1", "a"), ("x2", "a")]


def test_release_frees_capacity_and_pulls_next():
    c = core()
    c.upsert_agent(agent("a", chat=1), now=0)
    c.enqueue(request("x1"), now=1)
    c.enqueue(request("x2"), now=2)
    assert assigned(c.release("x1", now=3)) == [("x2", "a")]


def test_claim_rejected_learns_load_and_routes_elsewhere():
    c = core()
    c.upsert_agent(agent("a", chat=1), now=0)
    c.upsert_agent(agent("b", chat=1), now=1)
    assert assigned(c.enqueue(request("x"), now=2)) == [("x", "a")]
    decisions = c.claim_rejected("x", now=2, actual_load=1)
    assert assigned(decisions) == [("x", "b")]
    assert c.agent("a").load[1] == 1


def test_transfer_to_agent_respects_capacity():
    c = core()
    c.upsert_agent(agent("a", chat=1), now=0)
    c.upsert_agent(agent("b", chat=0), now=0)
    c.enqueue(request("x"), now=1)
    with pytest.raises(CapacityExceeded):
        c.assign_to(request("x"), "b", now=2)
    with pytest.raises(UnknownAgent):
        c.assign_to(request("x"), "nobody", now=2)
    c.upsert_agent(agent("b", chat=1), now=3)
    done = c.assign_to(request("x"), "b", now=4)
    assert done.agent_id == "b"
    assert c.agent("a").load[1] == 0


def test_enqueue_twice_is_idempotent():
    c = core()
    c.enqueue(request("x"), now=0)
    assert c.enqueue(request("x"), now=1) == []


def test_unknown_queue_falls_back_to_default():
    c = core()
    decisions = c.enqueue(request("x", queue="nope"), now=0)
    assert decisions[0].queue == "q"


def test_reason_summary_names_levels_language_load_and_widening_even_with_braces_in_skill_names():
    c = core(widening=(WideningStep(after_s=10, lower_levels_by=2),))
    c.upsert_agent(AgentProfile("a", {"bil{l}ing": 7, "x": 3}, ("ja",), {"chat": 2}, AVAILABLE), now=0)
    first = c.enqueue(request("c1", skills={"bil{l}ing": 5, "x": 1}, language="ja"), now=1)[-1]
    assert first.reason.summary == (
        "longest_idle: bil{l}ing 7 (needs 5), x 3 (needs 1), speaks ja, 1 of 2 chat slots in use"
    )
    assert first.reason.agent_skills == {"bil{l}ing": 7, "x": 3}
    assert not assigned(c.enqueue(request("c2", skills={"x": 5}, at=1), now=1))
    widened = [d for d in c.tick(now=11) if isinstance(d, Assigned)]
    assert [d.reason.summary for d in widened] == [
        "longest_idle: x 3 (needs 3), 2 of 2 chat slots in use, widening step 1"
    ]
    # each reason owns its mappings: changing one leaves the next reason of the same shape alone
    first.reason.skills["x"] = 9  # type: ignore[index]
    c.release("c1", now=12)
    again = c.enqueue(request("c3", skills={"bil{l}ing": 5, "x": 1}, language="ja"), now=12)[-1]
    assert again.reason.skills == {"bil{l}ing": 5, "x": 1}
    assert again.reason.summary.endswith("speaks ja, 2 of 2 chat slots in use")
