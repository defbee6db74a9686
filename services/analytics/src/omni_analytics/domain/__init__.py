"""The pure KPI core: events in, KPI state out. No I/O, no clock (time is passed in)."""

from omni_analytics.domain.histogram import DURATION_BUCKETS, HistogramCounts
from omni_analytics.domain.ids import BoundedIdSet
from omni_analytics.domain.kpis import KpiConfig, KpiState, KpiView
from omni_analytics.domain.window import RollingWindow, WindowTotals

__all__ = [
    "DURATION_BUCKETS",
    "BoundedIdSet",
    "HistogramCounts",
    "KpiConfig",
    "KpiState",
    "KpiView",
    "RollingWindow",
    "WindowTotals",
]
