"""The KPI state as Prometheus metrics (contract section 6), computed at scrape time."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from omni_analytics.domain import HistogramCounts, KpiState
from omni_analytics.domain.kpis import HISTOGRAMS
from omni_schemas import Channel

CHANNELS = tuple(c.value for c in Channel)
SLA_METRICS = ("first_response", "next_response", "resolution")

_HISTOGRAM_NAMES = {
    "time_to_assign": ("omni_time_to_assign_seconds", "Time from entering a queue to an agent's assignment (ASA)."),
    "first_response": ("omni_first_response_seconds", "Time from a conversation's opening to the first agent reply."),
    "handle": ("omni_handle_seconds", "Time from the first assignment of a cycle to its resolution (AHT)."),
    "resolution": ("omni_resolution_seconds", "Time from opening (or reopening) to resolution."),
}
assert set(_HISTOGRAM_NAMES) == set(HISTOGRAMS)


def _fmt(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


class KpiCollector(Collector):
    """Reads the live `KpiState` on every scrape; the state is owned by the fold loop's event loop."""

    def __init__(self, state: Callable[[], KpiState], *, clock: Callable[[], float] = time.time) -> None:
        self._state = state
        self._clock = clock

    def describe(self) -> Iterable[Metric]:
        return []  # computed at scrape time; nothing to describe up front

    def collect(self) -> Iterable[Metric]:
        state = self._state()
        now = self._clock()
        view = state.view(now)

        depth = GaugeMetricFamily(
            "omni_queue_depth", "Conversations waiting for an agent now.", labels=["queue", "channel"]
        )
        oldest = GaugeMetricFamily(
            "omni_queue_oldest_wait_seconds",
            "How long the longest-waiting conversation of the queue has waited (0 when none waits).",
            labels=["queue", "channel"],
        )
        for (queue, channel), n in sorted(view.queue_depth.items()):
            depth.add_metric([queue, channel], n)
            oldest.add_metric([queue, channel], view.oldest_wait_s.get((queue, channel), 0.0))
        yield depth
        yield oldest

        agents = GaugeMetricFamily("omni_agents", "Known agents by presence status.", labels=["status"])
        for status, n in view.agents.items():
            agents.add_metric([status], n)
        yield agents
        occupancy = GaugeMetricFamily(
            "omni_agent_occupancy_ratio",
            "Conversations held by logged-in agents over their total capacity (absent without capacity).",
        )
        if view.occupancy is not None:
            occupancy.add_metric([], view.occupancy)
        yield occupancy

        window = f"over the last {state.config.window_s:g} s"
        for name, help_text, values in (
            (
                "omni_service_level_ratio",
                f"Share of waits answered within the queue's threshold, of waits answered or abandoned, {window}.",
                view.service_level,
            ),
            (
                "omni_abandonment_ratio",
                f"Share of waits abandoned, of waits answered or abandoned, {window}.",
                view.abandonment,
            ),
            (
                "omni_first_contact_resolution_ratio",
                f"Share of first resolutions with no transfer and no reopen, {window}.",
                view.fcr,
            ),
            ("omni_csat_average", f"Mean customer satisfaction score (1-5), {window}.", view.csat),
        ):
            family = GaugeMetricFamily(name, help_text, labels=["channel"])
            for channel, value in sorted(values.items()):
                family.add_metric([channel], value)
            yield family

        sla_ratio = GaugeMetricFamily(
            "omni_sla_breach_ratio",
            f"Share of SLA clocks stopped {window} that were breached (breached / (breached + met)).",
            labels=["metric", "channel"],
        )
        for (metric, channel), value in sorted(view.sla_breach.items()):
            sla_ratio.add_metric([metric, channel], value)
        yield sla_ratio

        for attr, name, help_text in (
            ("opened", "omni_conversations_opened", "Conversations opened."),
            ("assigned", "omni_conversations_assigned", "Assignments of a conversation to an agent."),
            ("resolved", "omni_conversations_resolved", "Resolutions (a reopened conversation resolves again)."),
            ("abandoned", "omni_conversations_abandoned", "Conversations the customer left before an agent."),
            ("messages", "omni_messages_received", "Inbound customer messages."),
        ):
            counter = CounterMetricFamily(name, help_text, labels=["channel"])
            counts: dict[str, int] = getattr(state, attr)
            for channel in sorted(set(CHANNELS) | set(counts)):
                counter.add_metric([channel], counts.get(channel, 0))
            yield counter

        for counts_by_key, name, help_text in (
            (state.sla_breaches, "omni_sla_breaches", "SLA targets breached."),
            (state.sla_met, "omni_sla_met", "SLA targets met."),
        ):
            counter = CounterMetricFamily(name, help_text, labels=["metric", "channel"])
            keys = {(m, c) for m in SLA_METRICS for c in CHANNELS} | set(counts_by_key)
            for metric, channel in sorted(keys):
                counter.add_metric([metric, channel], counts_by_key.get((metric, channel), 0))
            yield counter

        for key, (name, help_text) in _HISTOGRAM_NAMES.items():
            histogram = HistogramMetricFamily(name, help_text, labels=["channel"])
            per = state.histograms[key]
            for channel in sorted(set(CHANNELS) | set(per)):
                hist = per.get(channel)
                if hist is None:
                    hist = HistogramCounts()
                histogram.add_metric([channel], [(_fmt(b), n) for b, n in hist.cumulative()], sum_value=hist.sum)
            yield histogram

        yield CounterMetricFamily(
            "omni_analytics_duplicate_events",
            "Redelivered events (an id already folded) that were ignored.",
            value=state.duplicates,
        )
        yield GaugeMetricFamily(
            "omni_analytics_open_conversations", "Conversations the fold tracks as open.", value=len(state.open)
        )
