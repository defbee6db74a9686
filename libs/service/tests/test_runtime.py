"""A service assembled with ServiceRuntime on the real servers: ready, consuming, publishing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from omni_service.kafka import Incoming
from omni_service.runtime import ServiceRuntime
from omni_service.settings import ServiceSettings
from omni_service.testing import read_events, running_app, wait_ready

pytestmark = pytest.mark.integration


async def test_runtime_starts_stores_consumes_and_answers_ready(service_env: dict[str, Any], tmp_path: Any) -> None:
    (tmp_path / "001_seen.sql").write_text("create table seen (agent_id text primary key);")
    settings = ServiceSettings(**service_env)
    runtime = ServiceRuntime(settings, service="echo", postgres=True, redis=True, migrations=tmp_path)

    async def handler(msg: Incoming) -> None:
        assert runtime.pool is not None
        if msg.event.type != "omni.agent.presence_changed.v1":
            return
        agent = msg.event.data.agent_id  # type: ignore[attr-defined]
        await runtime.pool.execute("insert into seen values ($1) on conflict do nothing", agent)
        await runtime.publisher.publish(
            runtime.publisher.new_event("omni.agent.updated.v1", {"agent_id": agent, "skills": {"echo": 1}})
        )

    runtime.add_consumer(topics=["omni.agents.v1"], group="echo", handler=handler)
    app = runtime.http_app()
    async with running_app(app) as client:
        await wait_ready(client)
        checks = (await client.get("/readyz")).json()["checks"]
        assert set(checks) == {"kafka", "postgres", "redis", "consumer:echo"}
        await runtime.publisher.publish(
            runtime.publisher.new_event("omni.agent.presence_changed.v1", {"agent_id": "a1", "status": "available"})
        )
        events = await read_events(
            settings.kafka_bootstrap_servers,
            settings.topic("omni.agents.v1"),
            count=2,
            types={"omni.agent.updated.v1", "omni.agent.presence_changed.v1"},
        )
        assert [e.type for e in events] == ["omni.agent.presence_changed.v1", "omni.agent.updated.v1"]
        for _ in range(50):
            if runtime.pool and await runtime.pool.fetchval("select count(*) from seen") == 1:
                break
            await asyncio.sleep(0.1)
        assert runtime.pool is not None
        assert await runtime.pool.fetchval("select agent_id from seen") == "a1"
        metrics = (await client.get("/metrics")).text
        assert 'omni_service_events_out_total{service="echo",topic="omni.agents.v1"}' in metrics
    assert runtime.pool is None  # closed on shutdown
