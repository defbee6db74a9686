"""Lifecycle edges the scripted scenario does not cover: late ratings and transfers out of a queue."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from omni_analytics.domain import KpiConfig, KpiState
from omni_analytics.simulate import Script

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
NOW = START.timestamp() + 1800


def fold(script: Script, config: KpiConfig | None = None) -> KpiState:
    state = KpiState(config)
    for event in script.events:
        state.apply(event, now=NOW)
    return state


def test_late_csat_of_a_forgotten_conversation_counts_but_leaves_no_open_conversation_behind() -> None:
    s = Script(START)
    for i in range(4):
        name = f"c{i}"
        s.conv("opened", name, "chat", 10 * i)
        s.conv("queued", name, "chat", 10 * i, queue="general")
        s.conv("assigned", name, "chat", 10 * i + 5, agent_id="a1")
        s.conv("resolved", name, "chat", 10 * i + 8, agent_id="a1")
    late = s.conv("csat_submitted", "c0", "chat", 600, score=4)  # c0 is no longer among the 2 kept closed
    state = fold(s, KpiConfig(closed_conversations=2))

    assert state.view(NOW).csat == {"chat": 4.0}
    assert len(state.open) == 0
    assert len(state.closed) == 2
    assert state.apply(late, now=NOW) is False  # a redelivery of the late rating is still recognised


def test_csat_of_an_open_conversation_keeps_it_open() -> None:
    s = Script(START)
    s.conv("opened", "c", "chat", 0)
    s.conv("queued", "c", "chat", 0, queue="general")
    s.conv("assigned", "c", "chat", 10, agent_id="a1")
    s.conv("csat_submitted", "c", "chat", 20, score=2)
    state = fold(s)
    assert len(state.open) == 1
    assert state.view(NOW).csat == {"chat": 2.0}


def test_waiting_conversation_transferred_straight_to_an_agent_is_answered_once() -> None:
    s = Script(START)
    s.conv("opened", "x", "chat", 0)
    s.conv("queued", "x", "chat", 0, queue="general")
    s.conv("transferred", "x", "chat", 30, to_agent_id="a2")
    s.conv("assigned", "x", "chat", 30, agent_id="a2")  # what the router emits with the transfer
    s.conv("opened", "y", "chat", 100)
    s.conv("queued", "y", "chat", 100, queue="general")
    s.conv("transferred", "y", "chat", 200, to_agent_id="a2")
    s.conv("assigned", "y", "chat", 200, agent_id="a2")
    state = fold(s)
    view = state.view(NOW)

    assert view.window["chat"].answered == 2
    assert view.service_level == {"chat": pytest.approx(0.5)}  # 30 s within 60 s, 100 s not
    assert view.abandonment == {"chat": 0.0}
    assert state.histograms["time_to_assign"]["chat"].count == 2
    assert state.histograms["time_to_assign"]["chat"].sum == pytest.approx(130.0)
    assert view.queue_depth[("general", "chat")] == 0
    assert state.agents["a2"].load == 2


def test_transfer_from_agent_to_agent_is_not_a_new_answer() -> None:
    s = Script(START)
    s.conv("opened", "x", "chat", 0)
    s.conv("queued", "x", "chat", 0, queue="general")
    s.conv("assigned", "x", "chat", 20, agent_id="a1", waited_seconds=20.0)
    s.conv("transferred", "x", "chat", 300, from_agent_id="a1", to_agent_id="a2")
    s.conv("assigned", "x", "chat", 300, agent_id="a2")
    state = fold(s)
    assert state.view(NOW).window["chat"].answered == 1
    assert state.histograms["time_to_assign"]["chat"].count == 1
    assert (state.agents["a2"].load, "a1" in state.agents) == (1, False)
