"""Cumulative-bucket duration histograms, as plain counts the shell turns into Prometheus samples."""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

DURATION_BUCKETS: tuple[float, ...] = (
    1.0,
    5.0,
    10.0,
    20.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
    7200.0,
    14400.0,
    28800.0,
    86400.0,
    172800.0,
    604800.0,
)
"""Support work spans seconds (chat answer) to days (e-mail resolution): 1 s up to 7 days, then +Inf."""


class HistogramCounts:
    """Per-bucket (non-cumulative) counts, the sum and the count of observed durations."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...] = DURATION_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        value = max(0.0, value)  # a duration from skewed clocks is never negative
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, cumulative count) pairs, the last one +Inf, as Prometheus exposes them."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"counts": list(self.counts), "sum": self.sum, "count": self.count}

    @classmethod
    def from_dict(cls, doc: dict[str, Any], bounds: tuple[float, ...] = DURATION_BUCKETS) -> HistogramCounts:
        h = cls(bounds)
        counts = [int(c) for c in doc["counts"]]
        if len(counts) == len(h.counts):
            h.counts = counts
            h.sum = float(doc["sum"])
            h.count = int(doc["count"])
        return h
