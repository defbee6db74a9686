"""Reading analytics' `/metrics` (contract section 6) into plain numbers."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

COUNTERS = {
    "opened": "omni_conversations_opened_total",
    "assigned": "omni_conversations_assigned_total",
    "resolved": "omni_conversations_resolved_total",
    "abandoned": "omni_conversations_abandoned_total",
}


@dataclass(slots=True)
class Snapshot:
    samples: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=lambda: defaultdict(list))

    def total(self, name: str) -> float:
        return sum(v for _, v in self.samples.get(name, []) if not math.isnan(v))

    def by_label(self, name: str, label: str) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for labels, value in self.samples.get(name, []):
            out[labels.get(label, "")] += value
        return dict(out)

    def has(self, name: str) -> bool:
        return name in self.samples

    def counters(self) -> dict[str, float]:
        return {key: self.total(name) for key, name in COUNTERS.items()}

    def histogram_quantile(self, name: str, q: float) -> float | None:
        """The q-quantile of a histogram summed over its labels (linear within a bucket)."""
        buckets: dict[float, float] = defaultdict(float)
        for labels, value in self.samples.get(name + "_bucket", []):
            buckets[float(labels["le"])] += value
        if not buckets:
            return None
        edges = sorted(buckets)
        total = buckets[edges[-1]]
        if total <= 0:
            return None
        rank = q * total
        prev_edge, prev_count = 0.0, 0.0
        for edge in edges:
            count = buckets[edge]
            if count >= rank:
                if math.isinf(edge):
                    return prev_edge
                span = count - prev_count
                return prev_edge + (edge - prev_edge) * ((rank - prev_count) / span if span else 0.0)
            prev_edge, prev_count = edge, count
        return prev_edge


def parse(text: str) -> Snapshot:
    snap = Snapshot()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            snap.samples[sample.name].append((dict(sample.labels), float(sample.value)))
    return snap


async def scrape(client: httpx.AsyncClient, url: str) -> Snapshot:
    response = await client.get(url)
    response.raise_for_status()
    return parse(response.text)


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
