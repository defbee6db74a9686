"""Kill -9 the SLA service with timers pending; after restart every breach comes exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml

from omni_schemas.topics import SLA
from omni_service.kafka import EventPublisher
from omni_service.metrics import ServiceMetrics
from omni_service.testing import read_events

pytestmark = pytest.mark.integration

N = 40
POLICIES = {
    "policies": [
        {"name": "restart", "calendar": None, "targets": {"first_response": "6s", "resolution": "7s"}, "warn_at": 0.5}
    ]
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "omni_sla"], env=env, stdout=out, stderr=subprocess.STDOUT)


async def wait_http_ready(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 40) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(int(timeout_s * 5)):
            assert proc.poll() is None, "the SLA service exited"
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("SLA service not ready")


def _service(service_env: dict[str, Any], tmp_path: Path) -> tuple[dict[str, str], int, Path]:
    """The SLA service's environment on this test's resources and policies: env, HTTP port, log file."""
    config = tmp_path / "sla.yaml"
    config.write_text(yaml.safe_dump(POLICIES))
    port = free_port()
    env = os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": service_env["kafka_bootstrap_servers"],
        "DATABASE_URL": service_env["database_url"],
        "OMNI_TOPIC_SUFFIX": service_env["omni_topic_suffix"],
        "OMNI_SLA_CONFIG": str(config),
        "HTTP_PORT": str(port),
        "HTTP_HOST": "127.0.0.1",
        "LOG_FORMAT": "console",
    }
    return env, port, tmp_path / "sla.log"


async def _router(env: dict[str, str]) -> EventPublisher:
    """Publishes conversation events as the router does."""
    publisher = EventPublisher(
        bootstrap=env["KAFKA_BOOTSTRAP_SERVERS"],
        service="router-test",
        metrics=ServiceMetrics("router-test"),
        topic_suffix=env["OMNI_TOPIC_SUFFIX"],
    )
    await publisher.start(wait=True)
    return publisher


async def _open_all(publisher: EventPublisher, env: dict[str, str], conversations: list[uuid.UUID]) -> datetime:
    """Open the conversations a second from now; returns once the service holds their 4 timers each."""
    opened_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    await publisher.publish_many(
        [
            publisher.new_event(
                "omni.conversation.opened.v1",
                {
                    "conversation_id": c,
                    "channel": "chat",
                    "thread_key": f"t{i}",
                    "customer_id": f"c{i}",
                    "first_message_id": uuid.uuid4(),
                    "occurred_at": opened_at,
                },
                time=opened_at,
            )
            for i, c in enumerate(conversations)
        ]
    )
    conn = await asyncpg.connect(env["DATABASE_URL"])
    try:
        for _ in range(200):
            with_timers = await conn.fetchval("select count(*) from sla_timers")
            if with_timers == 4 * len(conversations):
                break
            await asyncio.sleep(0.05)
        assert with_timers == 4 * len(conversations)
    finally:
        await conn.close()
    return opened_at


async def test_breaches_due_while_killed_are_emitted_once_after_restart(
    service_env: dict[str, Any], tmp_path: Path
) -> None:
    env, port, log = _service(service_env, tmp_path)
    suffix = env["OMNI_TOPIC_SUFFIX"]
    publisher = await _router(env)
    first = start_service(env, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        await wait_http_ready(port, first)
        opened_at = await _open_all(publisher, env, [uuid.uuid4() for _ in range(N)])
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = datetime.now(UTC)
        assert killed_at < opened_at + timedelta(seconds=3), "too slow to kill before the first warning"
        await asyncio.sleep(max(0.0, (opened_at + timedelta(seconds=7.5) - datetime.now(UTC)).total_seconds()))
        restarted_at = datetime.now(UTC)
        second = start_service(env, log)
        await wait_http_ready(port, second)
        events = await read_events(
            env["KAFKA_BOOTSTRAP_SERVERS"], SLA + suffix, count=4 * N, timeout_s=60, settle_s=2.0
        )
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(20)
        await publisher.stop()

    kinds = Counter((e.data.conversation_id, e.type, e.data.metric.value) for e in events)  # type: ignore[attr-defined]
    assert len(events) == 4 * N, log.read_text()[-3000:]
    assert set(kinds.values()) == {1}
    for event in events:
        data: Any = event.data
        target = {"first_response": 6, "resolution": 7}[data.metric.value]
        assert data.due_at == opened_at + timedelta(seconds=target)
        assert event.time >= restarted_at  # emitted late, after the restart, with the true due instant
        if event.type == "omni.sla.breached.v1":
            assert data.breached_at == data.due_at
        else:
            assert event.type == "omni.sla.warning.v1"
            assert data.remaining_seconds == target / 2


async def test_after_a_restart_no_timer_fires_before_the_events_that_stopped_its_clock_are_read(
    service_env: dict[str, Any], tmp_path: Path
) -> None:
    """Agents replied while the service was down, before the deadline: once it is back, past the
    deadline, those first responses are met, not breached: a timer of a partition that is still
    being caught up on fires only once the events up to its due instant have been applied."""
    env, port, log = _service(service_env, tmp_path)
    suffix = env["OMNI_TOPIC_SUFFIX"]
    publisher = await _router(env)
    first = start_service(env, log)
    second: subprocess.Popen[bytes] | None = None
    conversations = [uuid.uuid4() for _ in range(N)]
    answered = set(conversations[::2])
    try:
        await wait_http_ready(port, first)
        opened_at = await _open_all(publisher, env, conversations)
        first.send_signal(signal.SIGKILL)
        first.wait()
        replied_at = opened_at + timedelta(seconds=2)  # before the warning (3 s) and the deadline (6 s)
        await asyncio.sleep(max(0.0, (replied_at - datetime.now(UTC)).total_seconds()))
        await publisher.publish_many(
            [
                publisher.new_event(
                    "omni.conversation.agent_replied.v1",
                    {"conversation_id": c, "channel": "chat", "agent_id": "a1", "occurred_at": replied_at},
                    time=replied_at,
                )
                for c in conversations
                if c in answered
            ]
        )
        await asyncio.sleep(max(0.0, (opened_at + timedelta(seconds=7.5) - datetime.now(UTC)).total_seconds()))
        second = start_service(env, log)
        await wait_http_ready(port, second)
        # answered: first response met, resolution warned and breached; the others: all four
        expected = len(answered) * 3 + (N - len(answered)) * 4
        events = await read_events(
            env["KAFKA_BOOTSTRAP_SERVERS"], SLA + suffix, count=expected, timeout_s=60, settle_s=2.0
        )
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(20)
        await publisher.stop()

    got = Counter((e.data.conversation_id in answered, e.type, e.data.metric.value) for e in events)  # type: ignore[attr-defined]
    half = N // 2
    assert got == {
        (True, "omni.sla.met.v1", "first_response"): half,
        (True, "omni.sla.warning.v1", "resolution"): half,
        (True, "omni.sla.breached.v1", "resolution"): half,
        (False, "omni.sla.warning.v1", "first_response"): half,
        (False, "omni.sla.breached.v1", "first_response"): half,
        (False, "omni.sla.warning.v1", "resolution"): half,
        (False, "omni.sla.breached.v1", "resolution"): half,
    }, log.read_text()[-3000:]
