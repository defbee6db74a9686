from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from omni_sla.domain.clocks import (
    ConversationClocks,
    ConversationFact,
    Emission,
    Fact,
    Kind,
    Outcome,
    Timer,
    TimerKey,
    apply,
    fire,
    pending_timers,
    state_from_dict,
    state_to_dict,
)
from omni_sla.domain.policies import Metric, SlaConfig, load_config

CONV = UUID("0d7b7c1e-7f0e-4c9b-9d5e-7c4b0c8a1f01")
T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
FR, NR, RES = Metric.FIRST_RESPONSE, Metric.NEXT_RESPONSE, Metric.RESOLUTION


def config(*, pause: bool = False) -> SlaConfig:
    return load_config(
        {
            "calendars": {
                "tokyo-office": {
                    "timezone": "Asia/Tokyo",
                    "holidays": "JP",
                    "hours": {d: "09:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")},
                }
            },
            "policies": [
                {
                    "name": "billing-ja",
                    "match": {"queue": "billing-ja"},
                    "calendar": "tokyo-office",
                    "targets": {"first_response": "1h", "resolution": "1d"},
                    "warn_before": "10m",
                },
                {
                    "name": "chat-standard",
                    "match": {"channel": ["chat", "line"]},
                    "targets": {"first_response": "60s", "next_response": "2m", "resolution": "8h"},
                    "warn_at": 0.5,
                    "pause_resolution_on_customer": pause,
                },
            ],
        }
    )


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fact(kind: Fact, at: float, **kw: Any) -> ConversationFact:
    return ConversationFact(kind, CONV, s(at), **({"channel": "chat"} | kw))


def key(metric: Metric, cycle: int, kind: Kind) -> TimerKey:
    return TimerKey(CONV, metric, cycle, kind)


def run(*facts: ConversationFact, cfg: SlaConfig | None = None) -> tuple[ConversationClocks | None, list[Outcome]]:
    cfg = cfg or config()
    state: ConversationClocks | None = None
    outcomes = []
    for f in facts:
        outcome = apply(state, f, cfg)
        outcomes.append(outcome)
        state = outcome.state
    return state, outcomes


def test_opening_starts_first_response_and_resolution_with_warnings() -> None:
    state, [opened] = run(fact(Fact.OPENED, 0))
    assert state is not None
    assert state.policy == "chat-standard"
    assert "chat-standard" in opened.reason
    assert {(t.key, t.due_at, t.clock_due_at, t.remaining) for t in opened.schedule} == {
        (key(FR, 1, Kind.WARNING), s(30), s(60), timedelta(seconds=30)),
        (key(FR, 1, Kind.BREACHED), s(60), s(60), timedelta(0)),
        (key(RES, 1, Kind.WARNING), s(4 * 3600), s(8 * 3600), timedelta(hours=4)),
        (key(RES, 1, Kind.BREACHED), s(8 * 3600), s(8 * 3600), timedelta(0)),
    }
    assert opened.emit == ()


def test_first_agent_reply_in_time_is_met_with_the_time_left() -> None:
    _, [_, replied] = run(fact(Fact.OPENED, 0), fact(Fact.AGENT_REPLIED, 20))
    assert replied.emit == (Emission(key(FR, 1, Kind.MET), s(60), s(20), timedelta(seconds=40)),)
    assert set(replied.cancel) == {key(FR, 1, Kind.WARNING), key(FR, 1, Kind.BREACHED)}
    assert replied.schedule == ()


def test_agent_reply_after_the_warning_but_before_the_breach_is_met() -> None:
    _, [_, replied] = run(fact(Fact.OPENED, 0), fact(Fact.AGENT_REPLIED, 45))
    assert [e.key.kind for e in replied.emit] == [Kind.WARNING, Kind.MET]
    assert replied.emit[0].at == s(30)
    assert replied.emit[1].remaining == timedelta(seconds=15)


def test_agent_reply_at_the_due_instant_is_a_breach_not_met() -> None:
    _, [_, replied] = run(fact(Fact.OPENED, 0), fact(Fact.AGENT_REPLIED, 60))
    assert [(e.key.kind, e.at, e.due_at) for e in replied.emit] == [
        (Kind.WARNING, s(30), s(60)),
        (Kind.BREACHED, s(60), s(60)),
    ]


def test_late_agent_reply_emits_the_breach_with_its_true_due_instant() -> None:
    _, [_, replied] = run(fact(Fact.OPENED, 0), fact(Fact.AGENT_REPLIED, 600))
    breach = [e for e in replied.emit if e.key.kind is Kind.BREACHED]
    assert breach == [Emission(key(FR, 1, Kind.BREACHED), s(60), s(60), timedelta(0))]


def test_second_agent_reply_does_nothing_to_first_response() -> None:
    _, outcomes = run(fact(Fact.OPENED, 0), fact(Fact.AGENT_REPLIED, 10), fact(Fact.AGENT_REPLIED, 20))
    assert outcomes[2].emit == ()


def test_customer_reply_after_agent_reply_starts_next_response() -> None:
    state, outcomes = run(
        fact(Fact.OPENED, 0),
        fact(Fact.AGENT_REPLIED, 10),
        fact(Fact.CUSTOMER_REPLIED, 100),
        fact(Fact.CUSTOMER_REPLIED, 110),
        fact(Fact.AGENT_REPLIED, 150),
    )
    started = outcomes[2]
    assert {t.key for t in started.schedule} == {key(NR, 1, Kind.WARNING), key(NR, 1, Kind.BREACHED)}
    assert [t.due_at for t in started.schedule if t.key.kind is Kind.BREACHED] == [s(220)]
    assert outcomes[3].schedule == ()  # a second customer message does not restart the clock
    assert (
        outcomes[4].emit
        == (
            Emission(key(NR, 1, Kind.WARNING), s(220), s(160), timedelta(minutes=1)),
            Emission(key(NR, 1, Kind.MET), s(220), s(150), timedelta(seconds=70)),
        )[1:]
    )
    assert state is not None
    assert state.waiting_on == "customer"


def test_each_next_response_clock_has_its_own_cycle() -> None:
    _, outcomes = run(
        fact(Fact.OPENED, 0),
        fact(Fact.AGENT_REPLIED, 10),
        fact(Fact.CUSTOMER_REPLIED, 20),
        fact(Fact.AGENT_REPLIED, 30),
        fact(Fact.CUSTOMER_REPLIED, 40),
        fact(Fact.AGENT_REPLIED, 50),
    )
    met = [e.key for o in outcomes for e in o.emit if e.key.kind is Kind.MET]
    assert met == [key(FR, 1, Kind.MET), key(NR, 1, Kind.MET), key(NR, 2, Kind.MET)]


def test_resolution_is_met_on_resolve_and_open_response_clocks_stop_silently() -> None:
    state, outcomes = run(fact(Fact.OPENED, 0), fact(Fact.RESOLVED, 20))
    resolved = outcomes[1]
    assert resolved.emit == (
        Emission(key(RES, 1, Kind.MET), s(8 * 3600), s(20), timedelta(hours=8) - timedelta(seconds=20)),
    )
    assert set(resolved.cancel) >= {key(FR, 1, Kind.BREACHED), key(RES, 1, Kind.BREACHED)}
    assert state is not None
    assert state.clocks == ()


def test_resolution_pauses_while_waiting_on_the_customer() -> None:
    cfg = config(pause=True)
    state, outcomes = run(
        fact(Fact.OPENED, 0), fact(Fact.AGENT_REPLIED, 3600), fact(Fact.CUSTOMER_REPLIED, 7200), cfg=cfg
    )
    paused = outcomes[1]
    assert key(RES, 1, Kind.BREACHED) in paused.cancel
    assert not any(t.key.metric is RES for t in paused.schedule)
    resumed = outcomes[2]
    # one hour ran before the pause, the hour waiting on the customer does not count
    assert [t.due_at for t in resumed.schedule if t.key == key(RES, 1, Kind.BREACHED)] == [s(9 * 3600)]
    assert [t.due_at for t in resumed.schedule if t.key == key(RES, 1, Kind.WARNING)] == [s(5 * 3600)]
    assert state is not None
    resolved = apply(state, fact(Fact.RESOLVED, 8 * 3600), cfg)
    assert tuple(e for e in resolved.emit if e.key.metric is RES) == (
        Emission(key(RES, 1, Kind.WARNING), s(9 * 3600), s(5 * 3600), timedelta(hours=4)),
        Emission(key(RES, 1, Kind.MET), s(9 * 3600), s(8 * 3600), timedelta(hours=1)),
    )


def test_resolving_while_paused_is_met_with_the_time_left() -> None:
    cfg = config(pause=True)
    _, outcomes = run(fact(Fact.OPENED, 0), fact(Fact.AGENT_REPLIED, 3600), fact(Fact.RESOLVED, 20 * 3600), cfg=cfg)
    assert outcomes[2].emit == (Emission(key(RES, 1, Kind.MET), s(27 * 3600), s(20 * 3600), timedelta(hours=7)),)


def test_a_pause_after_the_due_instant_emits_the_breach_once_and_no_met_later() -> None:
    cfg = config(pause=True)
    _, outcomes = run(
        fact(Fact.OPENED, 0),
        fact(Fact.AGENT_REPLIED, 9 * 3600),
        fact(Fact.CUSTOMER_REPLIED, 10 * 3600),
        fact(Fact.RESOLVED, 11 * 3600),
        cfg=cfg,
    )
    assert [e.key.kind for e in outcomes[1].emit if e.key.metric is RES] == [Kind.WARNING, Kind.BREACHED]
    assert outcomes[1].emit[-1].due_at == s(8 * 3600)
    assert [
        t for t in outcomes[2].schedule if t.key.metric is RES
    ] == []  # an overdue clock has nothing left to warn or breach
    assert [e for e in outcomes[3].emit if e.key.metric is RES] == []


def test_reopen_starts_a_new_cycle() -> None:
    state, outcomes = run(
        fact(Fact.OPENED, 0),
        fact(Fact.AGENT_REPLIED, 10),
        fact(Fact.RESOLVED, 20),
        fact(Fact.REOPENED, 1000),
        fact(Fact.AGENT_REPLIED, 1030),
        fact(Fact.RESOLVED, 1100),
    )
    reopened = outcomes[3]
    assert {t.key for t in reopened.schedule} == {
        key(NR, 1, Kind.WARNING),
        key(NR, 1, Kind.BREACHED),
        key(RES, 2, Kind.WARNING),
        key(RES, 2, Kind.BREACHED),
    }
    assert [t.due_at for t in reopened.schedule if t.key == key(RES, 2, Kind.BREACHED)] == [s(1000 + 8 * 3600)]
    assert [e.key for e in outcomes[4].emit] == [key(NR, 1, Kind.MET)]
    assert [e.key for e in outcomes[5].emit] == [key(RES, 2, Kind.MET)]
    assert state is not None
    assert state.cycle == 2


def test_transfer_does_not_reset_clocks() -> None:
    state, outcomes = run(
        fact(Fact.OPENED, 0), fact(Fact.TRANSFERRED, 30, queue="billing-ja"), fact(Fact.AGENT_REPLIED, 50)
    )
    assert outcomes[1].schedule == () and outcomes[1].cancel == () and outcomes[1].emit == ()
    assert outcomes[2].emit == (
        Emission(key(FR, 1, Kind.WARNING), s(60), s(30), timedelta(seconds=30)),
        Emission(key(FR, 1, Kind.MET), s(60), s(50), timedelta(seconds=10)),
    )
    assert state is not None
    assert state.policy == "chat-standard"
    assert state.queue == "billing-ja"


def test_queueing_re_matches_the_policy_keeping_the_start() -> None:
    # Tue 24 Nov 2026 10:00 JST = 01:00 UTC; billing-ja is 1 h in Tokyo office hours
    state, outcomes = run(fact(Fact.OPENED, 0), fact(Fact.QUEUED, 120, queue="billing-ja"))
    queued = outcomes[1]
    assert state is not None
    assert state.policy == "billing-ja"
    assert "billing-ja" in queued.reason
    due = {t.key: t.due_at for t in queued.schedule}
    assert due[key(FR, 1, Kind.BREACHED)] == s(3600)
    assert due[key(FR, 1, Kind.WARNING)] == s(3000)
    # 1d is 24 business hours: the rest of Tuesday (8 h), Wednesday (9 h), and Thursday until 16:00 JST
    assert due[key(RES, 1, Kind.BREACHED)] == datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
    assert key(FR, 1, Kind.BREACHED) in queued.cancel


def test_abandoned_stops_every_clock_without_met() -> None:
    state, outcomes = run(fact(Fact.OPENED, 0), fact(Fact.ABANDONED, 40))
    assert [e.key.kind for e in outcomes[1].emit] == [Kind.WARNING]
    assert len(outcomes[1].cancel) == 4
    assert state is not None
    assert state.clocks == ()


def test_facts_of_a_conversation_never_opened_change_nothing() -> None:
    outcome = apply(None, fact(Fact.AGENT_REPLIED, 0), config())
    assert outcome == Outcome(None, reason=outcome.reason)
    assert "never seen opened" in outcome.reason


def test_a_second_opened_is_ignored() -> None:
    _, outcomes = run(fact(Fact.OPENED, 0), fact(Fact.OPENED, 5))
    assert outcomes[1].schedule == ()


def test_no_policy_means_no_clocks() -> None:
    state, outcomes = run(fact(Fact.OPENED, 0, channel="email"), fact(Fact.AGENT_REPLIED, 5, channel="email"))
    assert state is not None
    assert state.policy is None
    assert all(o.schedule == () and o.emit == () for o in outcomes)


def test_facts_after_resolve_do_not_move_clocks() -> None:
    _, outcomes = run(
        fact(Fact.OPENED, 0),
        fact(Fact.RESOLVED, 5),
        fact(Fact.AGENT_REPLIED, 6),
        fact(Fact.CUSTOMER_REPLIED, 7),
        fact(Fact.ABANDONED, 8),
    )
    assert all(o.schedule == () and o.emit == () for o in outcomes[2:])


def test_fire_turns_a_timer_into_its_emission() -> None:
    timer = Timer(key(FR, 1, Kind.WARNING), s(30), s(60), timedelta(seconds=30))
    assert fire(timer) == Emission(timer.key, s(60), s(30), timedelta(seconds=30))


def test_state_survives_its_json_form() -> None:
    state, _ = run(
        fact(Fact.OPENED, 0), fact(Fact.AGENT_REPLIED, 10), fact(Fact.CUSTOMER_REPLIED, 20), cfg=config(pause=True)
    )
    assert state is not None
    assert state_from_dict(state_to_dict(state)) == state
    assert pending_timers(state_from_dict(state_to_dict(state))) == pending_timers(state)


# --- a simulated scheduler over random conversations -------------------------------------

FACTS = [
    Fact.AGENT_REPLIED,
    Fact.CUSTOMER_REPLIED,
    Fact.RESOLVED,
    Fact.REOPENED,
    Fact.TRANSFERRED,
    Fact.QUEUED,
    Fact.ABANDONED,
]


@st.composite
def conversations(draw: st.DrawFn) -> list[ConversationFact]:
    steps = draw(st.lists(st.tuples(st.sampled_from(FACTS), st.integers(0, 400)), max_size=12))
    at = 0
    facts = [fact(Fact.OPENED, 0)]
    for kind, gap in steps:
        at += gap
        facts.append(fact(kind, at, queue="billing-ja" if kind is Fact.QUEUED and gap % 3 == 0 else None))
    return facts


def simulate(facts: list[ConversationFact], cfg: SlaConfig) -> dict[TimerKey, Emission]:
    """Fire timers as time passes, apply facts; keep the first emission per key (as the outbox does)."""
    state: ConversationClocks | None = None
    pending: dict[TimerKey, Timer] = {}
    emitted: dict[TimerKey, Emission] = {}

    def record(emission: Emission) -> None:
        slot = replace(emission.key, kind=Kind.WARNING if emission.key.kind is Kind.WARNING else Kind.MET)
        emitted.setdefault(slot, emission)

    for f in [*facts, fact(Fact.OTHER, 10**7)]:
        for timer in sorted(pending.values(), key=lambda t: t.due_at):
            if timer.due_at <= f.at:
                record(fire(timer))
                del pending[timer.key]
        outcome = apply(state, f, cfg)
        for k in outcome.cancel:
            pending.pop(k, None)
        for e in outcome.emit:
            record(e)
        for t in outcome.schedule:
            pending[t.key] = t
        state = outcome.state
    return emitted


@settings(max_examples=150, deadline=None)
@given(conversations(), st.booleans())
def test_every_clock_ends_at_most_once_and_truthfully(facts: list[ConversationFact], pause: bool) -> None:
    emitted = simulate(facts, config(pause=pause))
    for slot, emission in emitted.items():
        if emission.key.kind is Kind.BREACHED:
            assert emission.at == emission.due_at
        elif emission.key.kind is Kind.MET:
            assert emission.at < emission.due_at
            assert emission.remaining > timedelta(0)
        else:
            assert emission.at < emission.due_at
            warned_clock = replace(slot, kind=Kind.MET)
            if warned_clock in emitted and emitted[warned_clock].key.kind is Kind.MET:
                assert emission.at <= emitted[warned_clock].at


@settings(max_examples=100, deadline=None)
@given(conversations())
def test_the_json_form_round_trips_through_any_history(facts: list[ConversationFact]) -> None:
    state: ConversationClocks | None = None
    cfg = config(pause=True)
    for f in facts:
        state = apply(state, f, cfg).state
        assert state is not None
        assert state_from_dict(state_to_dict(state)) == state


def test_queueing_after_a_due_instant_still_emits_the_breach_that_came_due() -> None:
    # chat-standard's first response came due at 60 s; the re-match to billing-ja an hour later
    # (the consumer lagged, the timer had not fired) must not swallow that breach
    _, outcomes = run(fact(Fact.OPENED, 0), fact(Fact.QUEUED, 3600, queue="billing-ja"))
    assert [e for e in outcomes[1].emit if e.key.metric is FR] == [
        Emission(key(FR, 1, Kind.WARNING), s(60), s(30), timedelta(seconds=30)),
        Emission(key(FR, 1, Kind.BREACHED), s(60), s(60), timedelta(0)),
    ]


def test_queueing_to_a_stricter_policy_past_its_target_breaches_the_clock() -> None:
    # billing-ja gives 1 h; re-matched to chat-standard (60 s) after 2 min, the clock has used up its
    # new target: before, no breach was scheduled or emitted and the reply got no met, so the clock
    # never had an outcome; now it breaches at the instant its time reached the new target
    _, outcomes = run(
        fact(Fact.OPENED, 0, queue="billing-ja"), fact(Fact.QUEUED, 120, queue="general"), fact(Fact.AGENT_REPLIED, 300)
    )
    first_response = [e for o in outcomes for e in o.emit if e.key.metric is FR]
    assert [e.key.kind for e in first_response] == [Kind.BREACHED]
    assert (
        first_response[0].at
        == first_response[0].due_at
        == outcomes[0].state.clocks[0].running_since + timedelta(seconds=60)
    )
