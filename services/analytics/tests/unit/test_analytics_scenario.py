"""The scripted scenario folded in memory: every KPI equals the hand-computed answer."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from omni_analytics import scenario
from omni_analytics.domain import DURATION_BUCKETS, HistogramCounts, KpiState
from omni_schemas import CloudEvent

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
NOW = (START + timedelta(seconds=scenario.READ_AT)).timestamp()


def fold(events: list[CloudEvent]) -> KpiState:
    state = KpiState(scenario.CONFIG)
    for event in events:
        state.apply(event, now=NOW)
    return state


def assert_scenario(state: KpiState) -> None:
    view = state.view(NOW)
    for name, expected in scenario.EXPECTED_COUNTERS.items():
        assert getattr(state, name) == expected, name
    assert state.sla_breaches == scenario.EXPECTED_SLA_BREACHES
    assert state.sla_met == scenario.EXPECTED_SLA_MET
    assert view.queue_depth == scenario.EXPECTED_DEPTH
    assert {k: v for k, v in view.oldest_wait_s.items() if v} == pytest.approx(scenario.EXPECTED_OLDEST)
    assert view.agents == scenario.EXPECTED_AGENTS
    assert view.occupancy == pytest.approx(scenario.EXPECTED_OCCUPANCY)
    assert view.service_level == pytest.approx(scenario.EXPECTED_SERVICE_LEVEL)
    assert view.abandonment == pytest.approx(scenario.EXPECTED_ABANDONMENT)
    assert view.fcr == pytest.approx(scenario.EXPECTED_FCR)
    assert view.csat == pytest.approx(scenario.EXPECTED_CSAT)
    assert view.sla_breach == pytest.approx(scenario.EXPECTED_SLA_BREACH_RATIO)
    for name, per_channel in scenario.EXPECTED_HISTOGRAMS.items():
        assert set(state.histograms[name]) == set(per_channel), name
        for channel, values in per_channel.items():
            expected = HistogramCounts()
            for v in values:
                expected.observe(v)
            got = state.histograms[name][channel]
            assert (got.count, got.counts) == (expected.count, expected.counts), (name, channel)
            assert got.sum == pytest.approx(sum(values)), (name, channel)


def test_scripted_scenario_gives_hand_computed_kpis() -> None:
    assert_scenario(fold(scenario.build(START).events))


def test_every_event_delivered_twice_counts_once() -> None:
    events = scenario.build(START).events
    doubled = [e for event in events for e in (event, event)]
    state = fold(doubled)
    assert_scenario(state)
    assert state.duplicates == len(events)


def test_replaying_the_whole_stream_after_it_was_folded_changes_nothing() -> None:
    events = scenario.build(START).events
    state = fold(events + events)
    assert_scenario(state)


def test_snapshot_round_trip_keeps_every_kpi_and_the_dedupe_memory() -> None:
    events = scenario.build(START).events
    state = fold(events[:30])
    restored = KpiState.from_dict(state.to_dict(NOW), scenario.CONFIG)
    for event in events:  # the first 30 again (redelivery after restart), then the rest
        restored.apply(event, now=NOW)
    assert_scenario(restored)


def interleave(events: list[CloudEvent], rng: random.Random) -> list[CloudEvent]:
    """A random merge of the per-key streams: the order Kafka may deliver across partitions."""
    by_key: dict[str, list[CloudEvent]] = defaultdict(list)
    for event in events:
        by_key[f"{event.topic}/{event.subject}"].append(event)
    queues = list(by_key.values())
    merged: list[CloudEvent] = []
    while queues:
        q = rng.choice(queues)
        merged.append(q.pop(0))
        if not q:
            queues.remove(q)
    return merged


@pytest.mark.parametrize("seed", range(8))
def test_any_interleaving_then_a_full_replay_gives_the_same_kpis_and_counts_every_replay_as_duplicate(
    seed: int,
) -> None:
    events = scenario.build(START).events
    rng = random.Random(seed)
    state = fold(interleave(events, rng) + interleave(events, rng))
    assert_scenario(state)
    assert state.duplicates == len(events)


def test_sla_events_before_their_conversation_then_replayed_count_once() -> None:
    events = scenario.build(START).events
    sla_first = [e for e in events if e.topic == "omni.sla.v1"] + [e for e in events if e.topic != "omni.sla.v1"]
    state = fold(sla_first + events)
    assert_scenario(state)
    assert state.duplicates == len(events)


def test_histogram_buckets_follow_prometheus_le_semantics() -> None:
    h = HistogramCounts()
    for v in (0.5, 1.0, 1.0001, 604800.0, 10**7):
        h.observe(v)
    cumulative = dict(h.cumulative())
    assert cumulative[1.0] == 2
    assert cumulative[5.0] == 3
    assert cumulative[604800.0] == 4
    assert cumulative[float("inf")] == 5
    assert DURATION_BUCKETS[0] == 1.0 and DURATION_BUCKETS[-1] == 7 * 86400


def test_outcomes_older_than_the_window_leave_the_gauges() -> None:
    state = fold(scenario.build(START).events)
    later = NOW + 3600 + 1800
    view = state.view(later)
    assert view.service_level == {} and view.fcr == {} and view.csat == {}
    assert state.resolved == scenario.EXPECTED_COUNTERS["resolved"]  # counters are forever
    assert view.oldest_wait_s[("general", "chat")] == pytest.approx(300 + 3600 + 1800)
