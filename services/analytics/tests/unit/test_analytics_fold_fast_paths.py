"""The fold's fast paths give exactly what the plain code gave: enum text, window edges, floors at zero."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum, StrEnum

from omni_analytics.domain import KpiState, RollingWindow
from omni_analytics.domain.kpis import _str
from omni_analytics.domain.window import ANSWERED, ANSWERED_IN_SL, CSAT_COUNT, CSAT_SUM
from omni_analytics.simulate import Script
from omni_schemas.events import Channel

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
NOW = START.timestamp() + 1800


class _Colour(StrEnum):
    RED = "red"


class _Level(Enum):
    HIGH = 3


def test_enum_members_and_plain_values_give_the_same_plain_text_as_their_value() -> None:
    for value in (*Channel, _Colour.RED, _Level.HIGH, "chat", 7, None):
        expected = str(getattr(value, "value", value))
        assert _str(value) == expected
        assert type(_str(value)) is str


def test_validated_events_count_under_plain_string_channels() -> None:
    s = Script(START)
    s.conv("opened", "c1", "chat", 10)
    s.presence("a1", "available", 0)
    state = KpiState()
    for event in s.events:
        state.apply(event, now=NOW)
    assert state.opened == {"chat": 1}
    assert all(type(k) is str for k in state.opened)
    assert type(state.agents["a1"].status) is str


def test_window_edge_follows_now_whichever_order_now_comes_in() -> None:
    w = RollingWindow(3600.0)  # 10 s buckets
    t = 100_000.0
    assert w.add("chat", t, t + 3000, ANSWERED) == 10_000
    assert w.add("chat", t, t + 3599, ANSWERED) == 10_000  # its bucket is still the oldest kept
    assert w.add("chat", t, t + 3600, ANSWERED) is None  # past the edge at this later `now`
    assert w.add("chat", t, t + 10, ANSWERED) == 10_000  # an earlier `now` again: inside once more
    assert w.add("chat", t - 3581, t + 10, ANSWERED) is None
    assert w.add("chat", t - 3580, t + 10, ANSWERED) == 9_642
    assert w.totals(t + 10)["chat"].answered == 4


def test_window_counts_never_go_below_zero() -> None:
    w = RollingWindow(3600.0)
    t = 100_000.0
    bucket = w.add("chat", t, t, CSAT_SUM, 4, CSAT_COUNT, 1)
    assert bucket is not None
    w.retract("chat", bucket, t, CSAT_SUM, 9, CSAT_COUNT, 1)
    assert w.add("chat", t, t, CSAT_SUM, -2, ANSWERED_IN_SL, -1) == bucket
    assert w.totals(t) == {}  # every field of the bucket floored at zero
    w.add("chat", t, t, ANSWERED, 1)
    assert w.totals(t)["chat"].csat_sum == 0
    assert w.totals(t)["chat"].csat_count == 0
    assert w.totals(t)["chat"].answered == 1
