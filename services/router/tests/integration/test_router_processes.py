"""Two router processes on one consumer group, one killed with SIGKILL and Redis flushed mid-run:
every conversation is assigned exactly once and no agent ever holds more than its slots."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from test_router_flow import AUTH, CONV, message, publisher

from omni_service.testing import read_events

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
ROOT = Path(__file__).resolve().parents[4]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_router(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("OMNI_", "HTTP_"))}
    full.update(env)
    full.update({"HTTP_PORT": str(port), "HTTP_HOST": "127.0.0.1", "LOG_FORMAT": "console", "ROUTER_TICK_S": "0.1"})
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "omni_router"], env=full, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
        )


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(600):
            assert proc.poll() is None, tail(log)
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(tail(log))


async def test_kill_minus_nine_and_redis_flush_never_double_assign(
    kafka_bootstrap: str, topic_suffix: str, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "OMNI_TOPIC_SUFFIX": topic_suffix,
        "OMNI_API_TOKEN": "test-token",
        "OMNI_ROUTING_CONFIG": str(ROOT / "config/routing.yaml"),
    }
    ports = [free_port(), free_port()]
    logs = [tmp_path / "router-a.log", tmp_path / "router-b.log"]
    procs = [start_router(env, ports[i], logs[i]) for i in range(2)]
    pub = await publisher(kafka_bootstrap, topic_suffix)
    threads = 30
    try:
        for i in range(2):
            await wait_ready(ports[i], procs[i], logs[i])
        survivor = f"http://127.0.0.1:{ports[0]}"
        async with httpx.AsyncClient(base_url=survivor, headers=AUTH, timeout=10) as api:
            for i in range(4):
                body: dict[str, Any] = {"skills": {}, "languages": ["en"], "capacity": {"chat": 3}}
                assert (await api.put(f"/v1/agents/p-{i}", json=body)).status_code == 200
                assert (await api.put(f"/v1/agents/p-{i}/presence", json={"status": "available"})).status_code == 200
            for i in range(threads // 2):
                await pub.publish(message(f"proc-{i}", "hello", address=f"p{i}@example.com"))
            first = await read_events(
                kafka_bootstrap, CONV + topic_suffix, count=6, timeout_s=40, types={"omni.conversation.assigned.v1"}
            )
            assert len(first) >= 6
            procs[1].send_signal(signal.SIGKILL)
            procs[1].wait(timeout=10)
            flusher = aioredis.from_url(redis_url)
            await flusher.flushdb()
            await flusher.aclose()
            for i in range(threads // 2, threads):
                await pub.publish(message(f"proc-{i}", "hello", address=f"p{i}@example.com"))
            resolved: set[str] = set()
            for _ in range(60):
                events = await read_events(
                    kafka_bootstrap, CONV + topic_suffix, timeout_s=1.0, types={"omni.conversation.assigned.v1"}
                )
                for e in events:
                    cid = str(e.data.conversation_id)
                    if cid not in resolved:
                        r = await api.post(f"/v1/conversations/{cid}/resolve", json={"agent_id": e.data.agent_id})
                        assert r.status_code == 200, r.text
                        resolved.add(cid)
                if len(resolved) == threads:
                    break
            assert len(resolved) == threads, (len(resolved), tail(logs[0]))
            events = await read_events(kafka_bootstrap, CONV + topic_suffix, timeout_s=3)
            unique = list({e.id: e for e in events}.values())  # an outbox republish keeps the event id
            assigned = Counter(str(e.data.conversation_id) for e in unique if e.type.endswith(".assigned.v1"))
            assert len(assigned) == threads
            assert set(assigned.values()) == {1}
            opened = Counter(e.data.thread_key for e in unique if e.type.endswith(".opened.v1"))
            assert len(opened) == threads and set(opened.values()) == {1}
            for i in range(4):
                doc = (await api.get(f"/v1/agents/p-{i}")).json()
                assert doc["load"]["chat"] == 0
            # replay the durable history per agent (rows are written under the agent's row lock, so
            # their ids follow each agent's own order): never more than its 3 chat slots at once
            conn = await asyncpg.connect(database_url)
            try:
                history = await conn.fetch("select agent_id, kind from router_assignments order by id")
            finally:
                await conn.close()
            load: Counter[str] = Counter()
            for row in history:
                load[row["agent_id"]] += {"assigned": 1, "offered": 1, "resolved": -1}.get(row["kind"], 0)
                assert 0 <= load[row["agent_id"]] <= 3
            assert sum(1 for row in history if row["kind"] == "assigned") == threads
    finally:
        await pub.stop()
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
