"""Debian's Prometheus scrapes a running analytics process: `promtool check metrics` passes on the
real /metrics, the rule file loads, and every PromQL expression of the dashboard and of the
recording rules returns data. A poison message on the way is dead-lettered, not folded."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaProducer

from omni_analytics import scenario
from omni_analytics.exposition import parse_samples, sample
from omni_analytics.promql_names import dashboard_exprs, exposed_names, metric_names, rule_exprs
from omni_schemas import to_record

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[4]
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def concrete(expr: str) -> str:
    """A dashboard expression with Grafana's variables filled in as 'All'."""
    for var in ("$channel", "$queue", "$service"):
        expr = expr.replace(var, ".*")
    return expr.replace("$__rate_interval", "1m")


async def until(predicate: object, *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


async def test_prometheus_scrapes_analytics_and_every_dashboard_and_recording_expression_has_data(
    kafka_bootstrap: str, topic_suffix: str, database_url: str, tmp_path: Path
) -> None:
    port, prom_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "OMNI_TOPIC_SUFFIX": topic_suffix,
        "HTTP_PORT": str(port),
        "HTTP_HOST": "127.0.0.1",
        "ANALYTICS_SERVICE_LEVEL_SECONDS": '{"billing": 3600}',
        "LOG_FORMAT": "console",
    }
    events = scenario.build(datetime.now(UTC) - timedelta(seconds=scenario.READ_AT)).events
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for event in events:
            record = to_record(event)
            await producer.send(record.topic + topic_suffix, record.value, key=record.key, headers=record.headers)
        await producer.send_and_wait("omni.conversations.v1" + topic_suffix, b"{not json", key=b"poison")
    finally:
        await producer.stop()

    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "analytics.log").open("wb")
    analytics = subprocess.Popen([sys.executable, "-m", "omni_analytics"], env=env, stdout=log, stderr=log)  # noqa: ASYNC220
    prometheus: subprocess.Popen[bytes] | None = None
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:

            async def folded() -> bool:
                try:
                    if (await client.get("/readyz")).status_code != 200:
                        return False
                    samples = parse_samples((await client.get("/metrics")).text)
                except httpx.TransportError:
                    return False
                return (
                    sample(samples, "omni_service_deadletters_total", service="analytics", reason="invalid") == 1
                    and sample(samples, "omni_queue_depth", queue="vip", channel="sms") == 1
                )

            await until(folded, timeout_s=60, what="analytics to fold the scenario")
            text = (await client.get("/metrics")).text

        check = await asyncio.to_thread(
            subprocess.run, [PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True, timeout=60
        )
        assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
        assert (
            sample(parse_samples(text), "omni_conversations_opened_total", channel="chat") == 4
        )  # the poison was not folded

        rules = yaml.safe_load((ROOT / "deploy/prometheus/rules.yaml").read_text())
        rule_expressions, recorded = rule_exprs(rules)
        dashboard = json.loads((ROOT / "deploy/grafana/omni-dashboard.json").read_text())
        exposed = exposed_names(text) | {"up"}
        used = metric_names(dashboard_exprs(dashboard) + rule_expressions)
        assert not sorted(n for n in used if n not in exposed and n not in recorded)

        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ROOT / "deploy/prometheus/rules.yaml")],
            "scrape_configs": [{"job_name": "omni-analytics", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        prom_log = (tmp_path / "prometheus.log").open("wb")
        prometheus = subprocess.Popen(  # noqa: ASYNC220
            [
                PROMETHEUS,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=prom_log,
            stderr=prom_log,
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{prom_port}", timeout=10) as prom:

            async def query(expr: str) -> list[object]:
                try:
                    response = await prom.get("/api/v1/query", params={"query": expr})
                except httpx.TransportError:
                    return []
                assert response.status_code == 200, (expr, response.status_code, response.text)
                body = response.json()
                assert body["status"] == "success", (expr, body)
                return body["data"]["result"]  # type: ignore[no-any-return]

            async def ready() -> bool:  # until its storage is open, Prometheus answers 503 in plain text
                try:
                    return (await prom.get("/-/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            async def enough_scrapes() -> bool:  # rate() over 1m needs two samples; take a few more
                return bool(await query('count_over_time(up{job="omni-analytics"}[1m]) >= 4'))

            await until(ready, timeout_s=60, what="Prometheus to be ready")

            await until(enough_scrapes, timeout_s=60, what="Prometheus to scrape analytics")
            groups = (await prom.get("/api/v1/rules")).json()["data"]["groups"]
            assert {g["name"] for g in groups} == {g["name"] for g in rules["groups"]}

            recording = [r["expr"] for g in rules["groups"] for r in g["rules"] if "record" in r]
            panels = [concrete(t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]

            async def has_data(expr: str) -> bool:
                if await query(expr):
                    return True
                # a ratio guarded by `> 0` has no sample while its counters stand still (an idle
                # channel shows no data, not NaN); unguarded, it must still find every series it reads
                unguarded = expr.replace(" > 0)", ")")
                return unguarded != expr and bool(await query(unguarded))

            empty = [e for e in panels + recording if not await has_data(e)]
            assert not empty, "expressions without data:\n" + "\n".join(empty)
            for variable in ("channel", "queue", "service"):
                values = (await prom.get(f"/api/v1/label/{variable}/values")).json()["data"]
                assert values, variable
    finally:
        for proc in (prometheus, analytics):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
