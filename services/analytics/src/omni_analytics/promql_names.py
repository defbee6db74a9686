"""The metric names a dashboard or a rule file reads, and the names an exposition offers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

_METRIC = re.compile(r"(?<![\w:\"'])(omni_[a-z0-9_]+|omni:[a-z0-9_:]+|up)(?=\s*[{\[)\s]|$)")
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


def metric_names(exprs: Iterable[str]) -> set[str]:
    """Metric names (and recorded series names) used in PromQL expressions."""
    names: set[str] = set()
    for expr in exprs:
        names |= set(_METRIC.findall(expr))
    return names


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in dashboard["templating"]["list"] if isinstance(v.get("query"), dict)]
    return exprs


def rule_exprs(rules: dict[str, Any]) -> tuple[list[str], set[str]]:
    """(every expression, every recorded series name) of a Prometheus rule file."""
    exprs: list[str] = []
    recorded: set[str] = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            exprs.append(rule["expr"])
            if "record" in rule:
                recorded.add(rule["record"])
    return exprs, recorded


def exposed_names(text: str) -> set[str]:
    """Every series name an exposition offers, including HELP/TYPE-only families (label sets not seen yet)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names |= {family.name + s for s in _SUFFIXES.get(family.type, ())}
        names |= {s.name for s in family.samples}
    return names
