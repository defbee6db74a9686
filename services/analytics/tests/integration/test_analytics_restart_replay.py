"""The scripted scenario through the real Kafka into `python -m omni_analytics`: every KPI on
/metrics equals the hand-computed value; again after kill -9 and restart; again after the same
events are published a second time (no double count)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from omni_analytics import scenario
from omni_analytics.domain import HistogramCounts
from omni_analytics.exposition import Samples, parse_samples, sample
from omni_schemas import CloudEvent
from omni_service.kafka import EventPublisher
from omni_service.metrics import ServiceMetrics

pytestmark = pytest.mark.integration

HISTOGRAM_METRICS = {
    "time_to_assign": "omni_time_to_assign_seconds",
    "first_response": "omni_first_response_seconds",
    "handle": "omni_handle_seconds",
    "resolution": "omni_resolution_seconds",
}
COUNTER_METRICS = {
    "opened": "omni_conversations_opened_total",
    "assigned": "omni_conversations_assigned_total",
    "resolved": "omni_conversations_resolved_total",
    "abandoned": "omni_conversations_abandoned_total",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def analytics_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "omni_analytics"], env=env, stdout=out, stderr=out)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


async def scrape_when(base: str, done: object, *, timeout_s: float = 60.0) -> tuple[Samples, float, float]:
    """Scrape /metrics until `done(samples)`; returns the samples and the wall clock around the scrape."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        last = ""
        while time.monotonic() < deadline:
            try:
                ready = await client.get("/readyz")
                before = time.time()
                response = await client.get("/metrics")
                after = time.time()
            except httpx.TransportError:
                await asyncio.sleep(0.2)
                continue
            last = response.text
            if ready.status_code == 200 and response.status_code == 200:
                samples = parse_samples(response.text)
                if done(samples):  # type: ignore[operator]
                    return samples, before, after
            await asyncio.sleep(0.2)
    raise AssertionError(f"analytics did not reach the expected state in {timeout_s}s; last scrape:\n{last[:3000]}")


async def wait_ready(base: str, *, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("analytics never became ready")


def events_in(samples: Samples) -> float:
    return sum(v for (name, _), v in samples.items() if name == "omni_service_events_in_total")


def all_counted(samples: Samples) -> bool:
    return (
        sample(samples, "omni_conversations_opened_total", channel="chat") == 4
        and sample(samples, "omni_sla_breaches_total", metric="resolution", channel="unknown") == 1
        and sample(samples, "omni_queue_depth", queue="vip", channel="sms") == 1
    )


def assert_every_kpi(samples: Samples, *, start: datetime, scraped: tuple[float, float]) -> None:
    for attr, name in COUNTER_METRICS.items():
        expected = scenario.EXPECTED_COUNTERS[attr]
        for channel in ("email", "chat", "sms", "line"):
            assert sample(samples, name, channel=channel) == expected.get(channel, 0), (name, channel)
    for (metric, channel), n in scenario.EXPECTED_SLA_BREACHES.items():
        assert sample(samples, "omni_sla_breaches_total", metric=metric, channel=channel) == n
    for (metric, channel), n in scenario.EXPECTED_SLA_MET.items():
        assert sample(samples, "omni_sla_met_total", metric=metric, channel=channel) == n
    assert sample(samples, "omni_sla_met_total", metric="resolution", channel="chat") == 0
    for (queue, channel), n in scenario.EXPECTED_DEPTH.items():
        assert sample(samples, "omni_queue_depth", queue=queue, channel=channel) == n, (queue, channel)
    base = start.timestamp()
    for (queue, channel), waited_at_read in scenario.EXPECTED_OLDEST.items():
        since = base + scenario.READ_AT - waited_at_read  # when the oldest wait began
        got = sample(samples, "omni_queue_oldest_wait_seconds", queue=queue, channel=channel)
        assert got is not None and scraped[0] - since - 0.01 <= got <= scraped[1] - since + 0.01, (queue, got)
    assert sample(samples, "omni_queue_oldest_wait_seconds", queue="billing", channel="email") == 0
    for status, n in scenario.EXPECTED_AGENTS.items():
        assert sample(samples, "omni_agents", status=status) == n, status
    assert sample(samples, "omni_agent_occupancy_ratio") == pytest.approx(scenario.EXPECTED_OCCUPANCY)
    for name, expected_map in (
        ("omni_service_level_ratio", scenario.EXPECTED_SERVICE_LEVEL),
        ("omni_abandonment_ratio", scenario.EXPECTED_ABANDONMENT),
        ("omni_first_contact_resolution_ratio", scenario.EXPECTED_FCR),
        ("omni_csat_average", scenario.EXPECTED_CSAT),
    ):
        exported = {dict(labels)["channel"]: v for (n, labels), v in samples.items() if n == name}
        assert exported == pytest.approx(expected_map), name
    breach_ratio = {
        (dict(labels)["metric"], dict(labels)["channel"]): v
        for (n, labels), v in samples.items()
        if n == "omni_sla_breach_ratio"
    }
    assert breach_ratio == pytest.approx(scenario.EXPECTED_SLA_BREACH_RATIO)
    for key, name in HISTOGRAM_METRICS.items():
        for channel in ("email", "chat", "sms"):
            values = scenario.EXPECTED_HISTOGRAMS[key].get(channel, [])
            expected = HistogramCounts()
            for v in values:
                expected.observe(v)
            assert sample(samples, f"{name}_count", channel=channel) == len(values), (name, channel)
            assert sample(samples, f"{name}_sum", channel=channel) == pytest.approx(sum(values)), (name, channel)
            for bound, cumulative in expected.cumulative():
                le = "+Inf" if bound == float("inf") else repr(float(bound))
                assert sample(samples, f"{name}_bucket", channel=channel, le=le) == cumulative, (name, channel, le)


async def publish(bootstrap: str, suffix: str, events: list[CloudEvent]) -> None:
    publisher = EventPublisher(
        bootstrap=bootstrap, service="analytics-test", metrics=ServiceMetrics("analytics-test"), topic_suffix=suffix
    )
    await publisher.start(wait=True)
    try:
        await publisher.publish_many(events)
    finally:
        await publisher.stop()


async def test_scenario_kpis_survive_kill_9_and_replay_without_double_counting(
    kafka_bootstrap: str, topic_suffix: str, database_url: str, tmp_path: Path
) -> None:
    start = datetime.now(UTC) - timedelta(seconds=scenario.READ_AT)
    events = scenario.build(start).events
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "OMNI_TOPIC_SUFFIX": topic_suffix,
        "HTTP_PORT": str(port),
        "HTTP_HOST": "127.0.0.1",
        "ANALYTICS_SERVICE_LEVEL_SECONDS": '{"billing": 3600}',
        "ANALYTICS_SERVICE_LEVEL_DEFAULT_SECONDS": "60",
        "ANALYTICS_CHECKPOINT_SECONDS": "1",
        "LOG_FORMAT": "console",
    }
    log = tmp_path / "analytics.log"
    half = len(events) // 2

    async def checkpointed_events() -> int | None:
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetchval("select events from analytics_checkpoint where name = 'kpis'")  # type: ignore[no-any-return]
        finally:
            await conn.close()

    # 1. the first half, then a graceful stop: state and offsets checkpointed together
    with analytics_process(env, log) as first:
        await wait_ready(base)
        await publish(kafka_bootstrap, topic_suffix, events[:half])
        await scrape_when(base, lambda s: events_in(s) >= half)
        first.send_signal(signal.SIGTERM)
        first.wait(20)
    assert await checkpointed_events() == half

    # 2. the second half folded by a process that never checkpoints, then kill -9
    with analytics_process({**env, "ANALYTICS_CHECKPOINT_SECONDS": "3600"}, log) as second:
        await wait_ready(base)
        await publish(kafka_bootstrap, topic_suffix, events[half:])
        samples, *window = await scrape_when(base, all_counted)
        assert_every_kpi(samples, start=start, scraped=(window[0], window[1]))
        second.send_signal(signal.SIGKILL)
        second.wait(10)
    assert await checkpointed_events() == half  # the second half must be folded again from the saved offsets

    # 3. restart: the same KPIs; then the same events published again: nothing doubles
    with analytics_process(env, log) as third:
        samples, *window = await scrape_when(base, all_counted)
        assert_every_kpi(samples, start=start, scraped=(window[0], window[1]))
        assert sample(samples, "omni_analytics_duplicate_events_total") == 0

        await publish(kafka_bootstrap, topic_suffix, events)  # the same events (same ids) once more
        samples, *window = await scrape_when(
            base, lambda s: sample(s, "omni_analytics_duplicate_events_total") == len(events)
        )
        assert_every_kpi(samples, start=start, scraped=(window[0], window[1]))
        third.send_signal(signal.SIGTERM)
        third.wait(20)
    assert await checkpointed_events() == len(events)
