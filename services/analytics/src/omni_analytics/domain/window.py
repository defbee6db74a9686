"""Rolling-window totals in fixed-width time buckets: memory is O(buckets), never O(events).

The window at time `now` holds every bucket whose start is after `now - window`, so it covers
`[now - window - width, now]` at worst: the oldest edge is exact to one bucket width
(`window / 360`, 10 s for the default hour). Buckets may be added and retracted out of order;
totals never go negative.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

SLA_METRICS = ("first_response", "next_response", "resolution")
FIELDS = (
    "answered",
    "answered_in_sl",
    "abandoned",
    "resolved_first",
    "fcr",
    "csat_sum",
    "csat_count",
    *(f"sla_{outcome}_{metric}" for metric in SLA_METRICS for outcome in ("breached", "met")),
)
ANSWERED, ANSWERED_IN_SL, ABANDONED, RESOLVED_FIRST, FCR, CSAT_SUM, CSAT_COUNT = range(7)
SLA_FIELD = {
    (outcome, metric): FIELDS.index(f"sla_{outcome}_{metric}")
    for metric in SLA_METRICS
    for outcome in ("breached", "met")
}
"""(outcome, SLA metric) -> field index of SLA clocks stopped in the window."""
_N = len(FIELDS)


@dataclass(slots=True)
class WindowTotals:
    """Sums over one bucket or a whole window, for one channel."""

    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    resolved_first: int = 0
    fcr: int = 0
    csat_sum: int = 0
    csat_count: int = 0
    sla_breached_first_response: int = 0
    sla_met_first_response: int = 0
    sla_breached_next_response: int = 0
    sla_met_next_response: int = 0
    sla_breached_resolution: int = 0
    sla_met_resolution: int = 0

    def add(self, other: WindowTotals) -> None:
        for f in FIELDS:
            setattr(self, f, getattr(self, f) + getattr(other, f))

    def is_empty(self) -> bool:
        return not any(getattr(self, f) for f in FIELDS)

    def to_list(self) -> list[int]:
        return [getattr(self, f) for f in FIELDS]

    @classmethod
    def from_list(cls, values: list[int]) -> WindowTotals:
        return cls(*(int(v) for v in (list(values) + [0] * len(FIELDS))[: len(FIELDS)]))


assert tuple(f.name for f in fields(WindowTotals)) == FIELDS


class RollingWindow:
    """Per-channel bucketed totals over the last `window_s` seconds of event time."""

    __slots__ = ("_buckets", "_now", "_oldest", "buckets", "width_s", "window_s")

    def __init__(self, window_s: float, *, buckets: int = 360) -> None:
        if window_s <= 0:
            raise ValueError("window must be positive")
        self.window_s = float(window_s)
        self.buckets = buckets
        self.width_s = self.window_s / buckets
        self._buckets: dict[str, dict[int, list[int]]] = {}
        self._now = float("nan")  # `now` of the last `add`, and the oldest bucket of the window at it
        self._oldest = 0

    def bucket_of(self, t: float) -> int:
        return int(t // self.width_s)

    def _oldest_bucket(self, now: float) -> int:
        return int(now // self.width_s) - self.buckets + 1

    def in_window(self, bucket: int, now: float) -> bool:
        return bucket >= self._oldest_bucket(now)

    def add(
        self, channel: str, t: float, now: float, field: int, delta: int = 1, field2: int = -1, delta2: int = 0
    ) -> int | None:
        """Add `delta` to `field` (and `delta2` to `field2`) in the bucket of event time `t`.

        Returns the bucket, or None (ignored) when `t` is before the window at `now`.
        """
        bucket = int(t // self.width_s)
        if now != self._now:  # the fold passes the same `now` for a whole batch
            self._oldest = self._oldest_bucket(now)
            self._now = now
        if bucket < self._oldest:
            return None
        per = self._buckets.get(channel)
        if per is None:
            per = self._buckets[channel] = {}
        totals = per.get(bucket)
        if totals is None:
            totals = per[bucket] = [0] * _N
        value = totals[field] + delta
        totals[field] = value if value > 0 else 0  # as max(0, value), without the call
        if field2 >= 0:
            value = totals[field2] + delta2
            totals[field2] = value if value > 0 else 0
        return bucket

    def retract(
        self, channel: str, bucket: int, now: float, field: int, delta: int = 1, field2: int = -1, delta2: int = 0
    ) -> None:
        """Undo an earlier `add` in `bucket`, if that bucket is still kept; never below zero."""
        totals = self._buckets.get(channel, {}).get(bucket)
        if totals is None or not self.in_window(bucket, now):
            return
        totals[field] = max(0, totals[field] - delta)
        if field2 >= 0:
            totals[field2] = max(0, totals[field2] - delta2)

    def prune(self, now: float) -> None:
        oldest = self._oldest_bucket(now)
        for channel in list(self._buckets):
            per = self._buckets[channel]
            for b in [b for b in per if b < oldest]:
                del per[b]
            if not per:
                del self._buckets[channel]

    def totals(self, now: float) -> dict[str, WindowTotals]:
        """Channel -> totals over the window at `now` (later buckets, from skewed clocks, included)."""
        oldest = self._oldest_bucket(now)
        out: dict[str, WindowTotals] = {}
        for channel, per in self._buckets.items():
            acc = [0] * _N
            for b, totals in per.items():
                if b >= oldest:
                    for i, v in enumerate(totals):
                        acc[i] += v
            if any(acc):
                out[channel] = WindowTotals.from_list(acc)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_s": self.window_s,
            "buckets": self.buckets,
            "data": {ch: [[b, list(t)] for b, t in per.items()] for ch, per in self._buckets.items()},
        }

    def load(self, doc: dict[str, Any]) -> None:
        """Restore buckets saved with the same geometry; a changed window starts empty."""
        if float(doc.get("window_s", -1)) != self.window_s or int(doc.get("buckets", -1)) != self.buckets:
            return
        self._buckets = {
            ch: {int(b): [int(x) for x in (list(v) + [0] * _N)[:_N]] for b, v in items}
            for ch, items in doc.get("data", {}).items()
        }
