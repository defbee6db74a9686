"""The Grafana dashboard as code: `python -m omni_analytics.dashboard` writes deploy/grafana/omni-dashboard.json.

The data source is a template variable (`$datasource`), and `$channel`, `$queue` and `$service`
filter the panels; every KPI of docs/kpis.md has a panel, beside SLA, agents and service health.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DS = {"type": "prometheus", "uid": "${datasource}"}
CH = 'channel=~"$channel"'
CHQ = 'channel=~"$channel",queue=~"$queue"'
SV = 'service=~"$service"'
RI = "$__rate_interval"


def _target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref, "range": True}


class _Layout:
    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.next_id = 1

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append(
            {
                "type": "row",
                "title": title,
                "id": self.next_id,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                "panels": [],
            }
        )
        self.next_id += 1
        self.y += 1

    def _newline(self) -> None:
        if self.x:
            self.y += self.row_h
            self.x = 0
            self.row_h = 0

    def panel(
        self,
        kind: str,
        title: str,
        targets: list[tuple[str, str]],
        *,
        unit: str = "short",
        w: int = 8,
        h: int = 8,
        description: str = "",
        max_value: float | None = None,
    ) -> None:
        if self.x + w > 24:
            self._newline()
        defaults: dict[str, Any] = {"unit": unit}
        if max_value is not None:
            defaults["min"] = 0
            defaults["max"] = max_value
        panel: dict[str, Any] = {
            "type": kind,
            "title": title,
            "description": description,
            "id": self.next_id,
            "datasource": DS,
            "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y},
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}}
            if kind == "timeseries"
            else {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
            "targets": [_target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(targets)],
        }
        self.panels.append(panel)
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)


def _variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": f"{name}-var"},
        "definition": query,
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
        "hide": 0,
        "options": [],
    }


def build() -> dict[str, Any]:
    """The dashboard JSON model (Grafana 10+, importable as is)."""
    lay = _Layout()
    lay.row("Now: queues and agents")
    lay.panel("stat", "Waiting now", [(f"sum(omni_queue_depth{{{CHQ}}})", "waiting")], w=6, h=4)
    lay.panel("stat", "Oldest wait", [(f"max(omni_queue_oldest_wait_seconds{{{CHQ}}})", "oldest")], unit="s", w=6, h=4)
    lay.panel("stat", "Agents available", [('sum(omni_agents{status="available"})', "available")], w=6, h=4)
    lay.panel("stat", "Agent occupancy", [("omni_agent_occupancy_ratio", "occupancy")], unit="percentunit", w=6, h=4)
    lay.panel(
        "timeseries",
        "Queue depth",
        [(f"sum by (queue, channel) (omni_queue_depth{{{CHQ}}})", "{{queue}} / {{channel}}")],
        description="Conversations waiting for an agent, per queue and channel.",
    )
    lay.panel(
        "timeseries",
        "Oldest wait",
        [(f"max by (queue, channel) (omni_queue_oldest_wait_seconds{{{CHQ}}})", "{{queue}} / {{channel}}")],
        unit="s",
        description="How long the longest-waiting conversation has waited.",
    )
    lay.panel(
        "timeseries",
        "Agents by status",
        [("sum by (status) (omni_agents)", "{{status}}"), ("omni_agent_occupancy_ratio * 100", "occupancy %")],
    )

    lay.row("Rolling-window KPIs (window: ANALYTICS_WINDOW_SECONDS, default 1 h)")
    lay.panel(
        "timeseries",
        "Service level",
        [(f"omni_service_level_ratio{{{CH}}}", "{{channel}}")],
        unit="percentunit",
        w=6,
        max_value=1,
        description="Waits answered within the queue's threshold / waits answered or abandoned.",
    )
    lay.panel(
        "timeseries",
        "Abandonment",
        [(f"omni_abandonment_ratio{{{CH}}}", "{{channel}}")],
        unit="percentunit",
        w=6,
        max_value=1,
    )
    lay.panel(
        "timeseries",
        "First contact resolution",
        [(f"omni_first_contact_resolution_ratio{{{CH}}}", "{{channel}}")],
        unit="percentunit",
        w=6,
        max_value=1,
    )
    lay.panel("timeseries", "CSAT average (1-5)", [(f"omni_csat_average{{{CH}}}", "{{channel}}")], w=6, max_value=5)

    lay.row("Volumes")
    lay.panel(
        "timeseries",
        "Conversations per minute",
        [
            (f"sum(rate(omni_conversations_opened_total{{{CH}}}[{RI}])) * 60", "opened"),
            (f"sum(rate(omni_conversations_assigned_total{{{CH}}}[{RI}])) * 60", "assigned"),
            (f"sum(rate(omni_conversations_resolved_total{{{CH}}}[{RI}])) * 60", "resolved"),
            (f"sum(rate(omni_conversations_abandoned_total{{{CH}}}[{RI}])) * 60", "abandoned"),
        ],
    )
    lay.panel(
        "timeseries",
        "Opened per minute by channel",
        [(f"sum by (channel) (rate(omni_conversations_opened_total{{{CH}}}[{RI}])) * 60", "{{channel}}")],
    )
    lay.panel(
        "timeseries",
        "Messages received per minute by channel",
        [(f"sum by (channel) (rate(omni_messages_received_total{{{CH}}}[{RI}])) * 60", "{{channel}}")],
    )

    lay.row("Durations")
    for metric, title in (
        ("omni_time_to_assign_seconds", "Time to assign (ASA)"),
        ("omni_first_response_seconds", "First response time"),
        ("omni_handle_seconds", "Handle time (AHT)"),
        ("omni_resolution_seconds", "Resolution time"),
    ):
        lay.panel(
            "timeseries",
            title,
            [
                (
                    f"histogram_quantile(0.5, sum by (le) (rate({metric}_bucket{{{CH}}}[{RI}])))",
                    "p50",
                ),
                (
                    f"histogram_quantile(0.9, sum by (le) (rate({metric}_bucket{{{CH}}}[{RI}])))",
                    "p90",
                ),
                (
                    f"sum(rate({metric}_sum{{{CH}}}[{RI}])) / sum(rate({metric}_count{{{CH}}}[{RI}]))",
                    "average",
                ),
            ],
            unit="s",
            w=6,
        )

    lay.row("SLA")
    lay.panel(
        "timeseries",
        "SLA breaches per hour",
        [
            (
                f"sum by (metric, channel) (rate(omni_sla_breaches_total{{{CH}}}[{RI}])) * 3600",
                "{{metric}} / {{channel}}",
            )
        ],
    )
    lay.panel(
        "timeseries",
        "SLA met per hour",
        [(f"sum by (metric, channel) (rate(omni_sla_met_total{{{CH}}}[{RI}])) * 3600", "{{metric}} / {{channel}}")],
    )
    lay.panel(
        "timeseries",
        "SLA breach ratio (rolling window)",
        [(f"omni_sla_breach_ratio{{{CH}}}", "{{metric}} / {{channel}}")],
        unit="percentunit",
        max_value=1,
        description="Breached / (breached + met) of the SLA clocks stopped in the analytics window.",
    )
    lay.panel(
        "timeseries",
        "SLA breach ratio (1 h, from counters)",
        [
            (
                f"sum by (metric) (increase(omni_sla_breaches_total{{{CH}}}[1h])) / "
                f"(sum by (metric) (increase(omni_sla_breaches_total{{{CH}}}[1h])) + "
                f"sum by (metric) (increase(omni_sla_met_total{{{CH}}}[1h])))",
                "{{metric}}",
            )
        ],
        unit="percentunit",
        max_value=1,
    )

    lay.row("Service health")
    lay.panel(
        "timeseries",
        "Events in per second",
        [(f"sum by (service, topic) (rate(omni_service_events_in_total{{{SV}}}[{RI}]))", "{{service}} ← {{topic}}")],
    )
    lay.panel(
        "timeseries",
        "Events out per second",
        [(f"sum by (service, topic) (rate(omni_service_events_out_total{{{SV}}}[{RI}]))", "{{service}} → {{topic}}")],
    )
    lay.panel(
        "timeseries",
        "Errors per second",
        [(f"sum by (service, stage) (rate(omni_service_errors_total{{{SV}}}[{RI}]))", "{{service}} {{stage}}")],
    )
    lay.panel(
        "timeseries",
        "Dead letters (15 min)",
        [
            (
                f"sum by (service, reason) (increase(omni_service_deadletters_total{{{SV}}}[15m]))",
                "{{service}} {{reason}}",
            )
        ],
    )
    lay.panel(
        "timeseries",
        "Consumer lag (messages)",
        [(f"sum by (service, topic) (omni_service_consumer_lag_messages{{{SV}}})", "{{service}} {{topic}}")],
    )
    lay.panel(
        "timeseries",
        "Handler latency p99 (per batch)",
        [
            (
                f"histogram_quantile(0.99, sum by (le, service) (rate(omni_service_handler_seconds_bucket{{{SV}}}[{RI}])))",
                "{{service}}",
            )
        ],
        unit="s",
    )
    lay.panel(
        "timeseries",
        "HTTP requests per second by status",
        [(f"sum by (service, status) (rate(omni_http_requests_total{{{SV}}}[{RI}]))", "{{service}} {{status}}")],
    )
    lay.panel(
        "timeseries",
        "HTTP latency p99",
        [
            (
                f"histogram_quantile(0.99, sum by (le, service) (rate(omni_http_request_seconds_bucket{{{SV}}}[{RI}])))",
                "{{service}}",
            )
        ],
        unit="s",
    )
    lay.panel("timeseries", "Ready", [(f"omni_service_ready{{{SV}}}", "{{service}}")], max_value=1)

    datasource_var = {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "options": [],
        "regex": "",
    }
    return {
        "__inputs": [],
        "title": "omni: contact centre KPIs and service health",
        "uid": "omni-overview",
        "description": "Every KPI is defined in docs/kpis.md; metrics from the analytics service and every omni service.",
        "tags": ["omni"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "links": [],
        "templating": {
            "list": [
                datasource_var,
                _variable("channel", "Channel", "label_values(omni_conversations_opened_total, channel)"),
                _variable("queue", "Queue", "label_values(omni_queue_depth, queue)"),
                _variable("service", "Service", "label_values(omni_service_ready, service)"),
            ]
        },
        "panels": lay.panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    target = (
        Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[4] / "deploy/grafana/omni-dashboard.json"
    )
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
