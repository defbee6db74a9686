"""Rolling-window totals in fixed-width time buckets: memory is O(buckets), never O(events).

The window at time `now` holds every bucket whose start is after `now - window`, so it covers
`[now - window - width, now]` at worst: the oldest edge is exact to one bucket width
(`window / 360`, 10 s for the default hour). Buckets may be added and retracted out of order;
totals never go negative.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

FIELDS = ("answered", "answered_in_sl", "abandoned", "resolved_first", "fcr", "csat_sum", "csat_count")


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

    def add(self, other: WindowTotals) -> None:
        for f in FIELDS:
            setattr(self, f, getattr(self, f) + getattr(other, f))

    def is_empty(self) -> bool:
        return not any(getattr(self, f) for f in FIELDS)

    def to_list(self) -> list[int]:
        return [getattr(self, f) for f in FIELDS]

    @classmethod
    def from_list(cls, values: list[int]) -> WindowTotals:
        return cls(*(int(v) for v in values[: len(FIELDS)]))


assert tuple(f.name for f in fields(WindowTotals)) == FIELDS


class RollingWindow:
    """Per-channel bucketed totals over the last `window_s` seconds of event time."""

    __slots__ = ("_buckets", "buckets", "width_s", "window_s")

    def __init__(self, window_s: float, *, buckets: int = 360) -> None:
        if window_s <= 0:
            raise ValueError("window must be positive")
        self.window_s = float(window_s)
        self.buckets = buckets
        self.width_s = self.window_s / buckets
        self._buckets: dict[str, dict[int, WindowTotals]] = {}

    def bucket_of(self, t: float) -> int:
        return int(t // self.width_s)

    def _oldest_bucket(self, now: float) -> int:
        return self.bucket_of(now) - self.buckets + 1

    def in_window(self, bucket: int, now: float) -> bool:
        return bucket >= self._oldest_bucket(now)

    def add(self, channel: str, t: float, now: float, **deltas: int) -> int | None:
        """Add `deltas` in the bucket of event time `t`; None (ignored) when `t` is before the window."""
        bucket = self.bucket_of(t)
        if not self.in_window(bucket, now):
            return None
        totals = self._buckets.setdefault(channel, {}).setdefault(bucket, WindowTotals())
        for name, delta in deltas.items():
            setattr(totals, name, max(0, getattr(totals, name) + delta))
        return bucket

    def retract(self, channel: str, bucket: int, now: float, **deltas: int) -> None:
        """Undo an earlier `add` in `bucket`, if that bucket is still kept; never below zero."""
        totals = self._buckets.get(channel, {}).get(bucket)
        if totals is None or not self.in_window(bucket, now):
            return
        for name, delta in deltas.items():
            setattr(totals, name, max(0, getattr(totals, name) - delta))

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
            acc = WindowTotals()
            for b, totals in per.items():
                if b >= oldest:
                    acc.add(totals)
            if not acc.is_empty():
                out[channel] = acc
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_s": self.window_s,
            "buckets": self.buckets,
            "data": {ch: [[b, t.to_list()] for b, t in per.items()] for ch, per in self._buckets.items()},
        }

    def load(self, doc: dict[str, Any]) -> None:
        """Restore buckets saved with the same geometry; a changed window starts empty."""
        if float(doc.get("window_s", -1)) != self.window_s or int(doc.get("buckets", -1)) != self.buckets:
            return
        self._buckets = {
            ch: {int(b): WindowTotals.from_list(v) for b, v in items} for ch, items in doc.get("data", {}).items()
        }
