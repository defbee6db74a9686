"""Processing metrics every service exports, on an app-owned registry.

Names (all labelled by `service`): `omni_service_events_in_total{topic}`,
`omni_service_events_out_total{topic}`, `omni_service_errors_total{stage}`,
`omni_service_deadletters_total{reason}`, `omni_service_consumer_lag_messages{topic,partition}`,
`omni_service_handler_seconds{topic}`, `omni_http_requests_total{method,route,status}`,
`omni_http_request_seconds{method,route}`, `omni_service_ready`.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    """The runtime's own metrics; services add theirs on the same `registry`."""

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events_in = Counter("omni_service_events_in", "Events consumed.", ["service", "topic"], registry=r)
        self.events_out = Counter(
            "omni_service_events_out", "Events published and acknowledged.", ["service", "topic"], registry=r
        )
        self.errors = Counter("omni_service_errors", "Processing errors by stage.", ["service", "stage"], registry=r)
        self.deadletters = Counter(
            "omni_service_deadletters", "Messages sent to the dead-letter topic.", ["service", "reason"], registry=r
        )
        self.consumer_lag = Gauge(
            "omni_service_consumer_lag_messages",
            "Messages behind the partition end.",
            ["service", "topic", "partition"],
            registry=r,
        )
        self.handler_seconds = Histogram(
            "omni_service_handler_seconds",
            "Time to handle one consumed batch.",
            ["service", "topic"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.http_requests = Counter(
            "omni_http_requests", "HTTP requests served.", ["service", "method", "route", "status"], registry=r
        )
        self.http_seconds = Histogram(
            "omni_http_request_seconds",
            "HTTP request latency.",
            ["service", "method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ready = Gauge(
            "omni_service_ready", "1 when every dependency of the service is reachable.", ["service"], registry=r
        )
        for stage in ("decode", "handler", "publish"):
            self.errors.labels(service, stage)
        for reason in ("invalid", "handler"):
            self.deadletters.labels(service, reason)
        self.ready.labels(service).set(0)
        self._children: dict[tuple[MetricWrapperBase, tuple[str, ...]], Any] = {}

    def child(self, metric: MetricWrapperBase, *labels: str) -> Any:
        """`metric.labels(*labels)`, cached: the hot path skips the lookup and lock of `labels()`."""
        key = (metric, labels)
        found = self._children.get(key)
        if found is None:
            found = metric.labels(*labels)
            if len(self._children) < 10_000:  # the usual label sets, not every odd value a client sends
                self._children[key] = found
        return found
