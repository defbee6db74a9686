"""Scenarios are seeded, follow the configured rate with bursts, and keep threads unambiguous."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from omni_sim.domain.agents import make_roster
from omni_sim.domain.payloads import CHANNEL_OF_ROUTE
from omni_sim.domain.scenario import AbandonStep, ScenarioConfig, SendStep, generate
from omni_sim.domain.texts import Intent


def test_same_seed_same_plan_and_other_seed_other_plan() -> None:
    cfg = ScenarioConfig(seconds=30, rate=2.0)
    assert generate(cfg, seed=1, run_id="a") == generate(cfg, seed=1, run_id="a")
    assert generate(cfg, seed=1, run_id="a").steps != generate(cfg, seed=2, run_id="a").steps


def test_same_seed_in_another_run_repeats_the_story_with_fresh_ids() -> None:
    cfg = ScenarioConfig(seconds=30, rate=2.0)
    a, b = generate(cfg, seed=5, run_id="aa"), generate(cfg, seed=5, run_id="bb")
    assert [(s.at, type(s)) for s in a.steps] == [(s.at, type(s)) for s in b.steps]
    assert [c.route for c in a.contacts] == [c.route for c in b.contacts]
    # Telegram message ids count per chat, and the chats differ
    ids = [{c.provider_message_id for c in p.contacts if c.route != "telegram"} for p in (a, b)]
    assert not ids[0] & ids[1]
    assert not {c.customer.email for c in a.contacts} & {c.customer.email for c in b.contacts}


def test_bursts_raise_the_arrival_rate() -> None:
    cfg = ScenarioConfig(seconds=600, rate=1.0, burst_every_s=20, burst_length_s=5, burst_factor=4)
    plan = generate(cfg, seed=7, run_id="b")
    firsts = [
        s.at
        for s in plan.steps
        if isinstance(s, SendStep)
        and s.contact.in_reply_to is None
        and s.contact.ref == plan.threads[s.contact.thread].refs[0]
    ]
    in_burst = sum(1 for t in firsts if t % 20 >= 15)
    # bursts take a quarter of the time at four times the rate: about half of all arrivals
    assert 0.35 < in_burst / len(firsts) < 0.65
    assert 450 < len(firsts) < 1150


def test_plans_mix_languages_intents_and_every_channel() -> None:
    plan = generate(ScenarioConfig(seconds=300, rate=2.0), seed=3, run_id="c")
    contacts = plan.contacts
    assert {c.language for c in contacts} == {"en", "ja"}
    assert {c.intent for c in contacts} == {i.value for i in Intent}
    assert {c.channel for c in contacts} == set(CHANNEL_OF_ROUTE.values())
    assert any(isinstance(s, AbandonStep) for s in plan.steps)
    assert any(t.csat_score for t in plan.threads.values())


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_refs_are_unique_and_a_customer_never_reuses_a_channel(seed: int) -> None:
    plan = generate(ScenarioConfig(seconds=60, rate=3.0, other_channel_probability=0.5), seed=seed, run_id="p")
    refs = [c.ref for c in plan.contacts]
    assert len(refs) == len(set(refs))
    channels = Counter((t.customer.key, CHANNEL_OF_ROUTE[t.route]) for t in plan.threads.values())
    assert max(channels.values(), default=1) == 1
    for thread in plan.threads.values():
        if thread.abandons:
            assert len(thread.refs) == 1
    assert [s.at for s in plan.steps] == sorted(s.at for s in plan.steps)


def test_roster_covers_every_intent_in_both_languages() -> None:
    roster = make_roster(1, count=10)
    for intent in Intent:
        for language in ("en", "ja"):
            assert any(a.skills.get(intent.value, 0) >= 7 and language in a.languages for a in roster), (
                intent,
                language,
            )
