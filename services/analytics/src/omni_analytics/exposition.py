"""Reading a Prometheus text exposition back into samples (for tests, the demo summary and tools)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_samples(text: str) -> Samples:
    """(sample name, sorted label pairs) -> value."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def family_names(text: str) -> set[str]:
    """Every sample name exposed (with `_total`, `_bucket`, `_sum`, `_count` suffixes)."""
    return {name for name, _ in parse_samples(text)}
