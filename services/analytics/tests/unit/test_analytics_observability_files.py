"""The dashboard and the Prometheus rules: valid, tested by promtool, and reading only metrics that exist."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest

from omni_analytics import dashboard, scenario
from omni_analytics.adapters.prometheus import KpiCollector
from omni_analytics.domain import KpiState
from omni_analytics.promql_names import dashboard_exprs, exposed_names, metric_names, rule_exprs
from omni_service.metrics import ServiceMetrics

ROOT = Path(__file__).resolve().parents[4]
PROM = ROOT / "deploy/prometheus"
DASHBOARD = ROOT / "deploy/grafana/omni-dashboard.json"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
CONTRACT_METRICS = {
    "omni_queue_depth",
    "omni_queue_oldest_wait_seconds",
    "omni_agents",
    "omni_agent_occupancy_ratio",
    "omni_service_level_ratio",
    "omni_abandonment_ratio",
    "omni_first_contact_resolution_ratio",
    "omni_csat_average",
    "omni_conversations_opened_total",
    "omni_conversations_assigned_total",
    "omni_conversations_resolved_total",
    "omni_conversations_abandoned_total",
    "omni_sla_breaches_total",
    "omni_sla_met_total",
    "omni_time_to_assign_seconds_bucket",
    "omni_first_response_seconds_bucket",
    "omni_handle_seconds_bucket",
    "omni_resolution_seconds_bucket",
}


def promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([PROMTOOL, *args], input=stdin, capture_output=True, timeout=60, cwd=PROM, check=False)


def exposition() -> str:
    """What analytics exposes after the scripted scenario, with every service metric touched once."""
    start = datetime.now(UTC) - timedelta(seconds=scenario.READ_AT)
    state = KpiState(scenario.CONFIG)
    for event in scenario.build(start).events:
        state.apply(event, now=time.time())
    metrics = ServiceMetrics("analytics")
    metrics.registry.register(KpiCollector(lambda: state))
    return generate_latest(metrics.registry).decode()


def test_promtool_check_rules_passes() -> None:
    result = promtool("check", "rules", "rules.yaml")
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    result = promtool("test", "rules", "rules_test.yaml")
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_promtool_check_metrics_passes_on_the_analytics_exposition() -> None:
    result = promtool("check", "metrics", stdin=exposition().encode())
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_the_exposition_has_every_contract_metric() -> None:
    assert exposed_names(exposition()) >= CONTRACT_METRICS


def test_every_alert_has_a_runbook_and_a_severity() -> None:
    rules = yaml.safe_load((PROM / "rules.yaml").read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert {a["alert"] for a in alerts} >= {
        "OmniSlaBreachRateHigh",
        "OmniQueueOldestWaitHigh",
        "OmniNoAgentsAvailable",
        "OmniConsumerLagGrowing",
        "OmniDeadLettersGrowing",
        "OmniServiceDown",
    }
    for alert in alerts:
        assert alert["annotations"]["runbook"] and alert["annotations"]["runbook_url"], alert["alert"]
        assert alert["labels"]["severity"] in {"page", "warning"}, alert["alert"]
        anchor = alert["annotations"]["runbook_url"].split("#", 1)[1]
        assert anchor in _anchors(ROOT / "docs/kpis.md"), alert["alert"]


def _anchors(markdown: Path) -> set[str]:
    import re

    out = set()
    for line in markdown.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


def test_dashboard_file_is_the_generated_one() -> None:
    assert DASHBOARD.read_text(encoding="utf-8") == dashboard.render(), (
        "run: .venv/bin/python -m omni_analytics.dashboard"
    )


def test_dashboard_uses_the_datasource_variable_and_channel_queue_filters() -> None:
    model = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert {"channel", "queue"} <= set(variables)
    panels = [p for p in model["panels"] if p["type"] != "row"]
    assert all(p["datasource"]["uid"] == "${datasource}" for p in panels)
    exprs = dashboard_exprs(model)
    assert any("$queue" in e for e in exprs) and sum("$channel" in e for e in exprs) > 10
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids))
    used = metric_names(exprs)
    for name in CONTRACT_METRICS:  # a panel for every KPI
        assert name.removesuffix("_bucket") in {u.removesuffix("_bucket") for u in used}, name


@pytest.mark.parametrize("source", ["dashboard", "rules"])
def test_every_metric_read_by_the_dashboard_and_rules_is_exposed(source: str) -> None:
    exposed = exposed_names(exposition()) | {"up"}  # `up` comes from Prometheus itself
    rules = yaml.safe_load((PROM / "rules.yaml").read_text())
    rule_expressions, recorded = rule_exprs(rules)
    exprs = dashboard_exprs(json.loads(DASHBOARD.read_text())) if source == "dashboard" else rule_expressions
    used = metric_names(exprs)
    assert used, "no metric names found: the extractor is broken"
    missing = sorted(n for n in used if n not in exposed and n not in recorded)
    assert not missing, f"{source} reads metrics no service exposes: {missing}"
