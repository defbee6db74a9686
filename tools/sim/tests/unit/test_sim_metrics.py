"""Reading analytics' exposition: counter totals over labels and histogram quantiles."""

from __future__ import annotations

import pytest

from omni_sim.metrics import delta, parse

TEXT = """\
# TYPE omni_conversations_opened_total counter
omni_conversations_opened_total{channel="chat"} 3.0
omni_conversations_opened_total{channel="email"} 2.0
# TYPE omni_time_to_assign_seconds histogram
omni_time_to_assign_seconds_bucket{channel="chat",le="1.0"} 2.0
omni_time_to_assign_seconds_bucket{channel="chat",le="2.0"} 4.0
omni_time_to_assign_seconds_bucket{channel="chat",le="+Inf"} 4.0
omni_time_to_assign_seconds_count{channel="chat"} 4.0
omni_time_to_assign_seconds_sum{channel="chat"} 5.0
# TYPE omni_agents gauge
omni_agents{status="available"} 5.0
omni_agents{status="away"} 1.0
"""


def test_counters_sum_over_labels_and_deltas_subtract() -> None:
    snap = parse(TEXT)
    assert snap.counters()["opened"] == 5.0
    assert snap.counters()["resolved"] == 0.0
    assert delta({"opened": 7.0}, {"opened": 5.0}) == {"opened": 2.0}
    assert snap.by_label("omni_agents", "status") == {"available": 5.0, "away": 1.0}


def test_histogram_quantile_interpolates_within_a_bucket() -> None:
    snap = parse(TEXT)
    assert snap.histogram_quantile("omni_time_to_assign_seconds", 0.5) == pytest.approx(1.0)
    assert snap.histogram_quantile("omni_time_to_assign_seconds", 0.75) == pytest.approx(1.5)
    assert snap.histogram_quantile("omni_missing_seconds", 0.5) is None
