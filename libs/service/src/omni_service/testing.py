"""pytest plugin for every omni test (loaded by `-p omni_service.testing`).

Real servers only: the ones named by KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL and REDIS_URL when
set; otherwise containers, where a Docker engine answers and testcontainers is installed (unless
OMNI_TESTCONTAINERS=0); otherwise the local servers, started once per session by
`deploy/local/infra.sh up`.
Each test gets fresh topics (a unique suffix), a fresh database and a flushed Redis database.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI

from omni_schemas import CloudEvent, parse_event
from omni_service.kafka import delete_topics, ensure_topics

ROOT = Path(__file__).resolve().parents[4]


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def infra() -> dict[str, str]:
    """Connection strings of real Kafka, PostgreSQL and Redis (started here when absent)."""
    env = {
        "kafka": os.environ.get("KAFKA_BOOTSTRAP_SERVERS", ""),
        "database": os.environ.get("DATABASE_URL", ""),
        "redis": os.environ.get("REDIS_URL", ""),
    }
    if all(env.values()):
        return env
    if os.environ.get("OMNI_TESTCONTAINERS", "auto") != "0" and _docker_engine():  # pragma: no cover
        return _testcontainers(env)
    local = {
        "kafka": "127.0.0.1:9092",
        "database": "postgresql://omni:omni@127.0.0.1:5432/omni",
        "redis": "redis://127.0.0.1:6379/0",
    }
    if not (_port_open("127.0.0.1", 9092) and _port_open("127.0.0.1", 5432) and _port_open("127.0.0.1", 6379)):
        subprocess.run([str(ROOT / "deploy/local/infra.sh"), "up"], check=True)
    return {k: env[k] or local[k] for k in env}


def _docker_engine() -> bool:
    """True when a Docker engine answers and testcontainers is installed (never on the dev machines)."""
    try:
        import docker
        import testcontainers  # noqa: F401

        return bool(docker.from_env(timeout=2).ping())
    except Exception:
        return False


def _testcontainers(env: dict[str, str]) -> dict[str, str]:  # pragma: no cover - needs a Docker engine
    import docker
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer
    from testcontainers.redis import RedisContainer

    docker.from_env().ping()
    kafka = KafkaContainer("apache/kafka:4.1.1").with_kraft().start()
    pg = PostgresContainer("postgres:15").start()
    rd = RedisContainer("redis:7").start()
    return {
        "kafka": env["kafka"] or kafka.get_bootstrap_server(),
        "database": env["database"] or pg.get_connection_url().replace("+psycopg2", ""),
        "redis": env["redis"] or f"redis://{rd.get_container_host_ip()}:{rd.get_exposed_port(6379)}/0",
    }


@pytest.fixture(scope="session")
def kafka_bootstrap(infra: dict[str, str]) -> str:
    return infra["kafka"]


@pytest.fixture
async def topic_suffix(kafka_bootstrap: str) -> AsyncIterator[str]:
    """A unique suffix with the contract's topics created for it (a few partitions each)."""
    suffix = f".t{uuid.uuid4().hex[:10]}"
    await ensure_topics(kafka_bootstrap, suffix=suffix, max_partitions=3)
    yield suffix
    try:
        await delete_topics(kafka_bootstrap, suffix=suffix)
    except Exception:  # best effort: a test that left the broker down must not fail here
        pass


@pytest.fixture
async def database_url(infra: dict[str, str]) -> AsyncIterator[str]:
    """A fresh, empty database for this test, dropped afterwards."""
    import asyncpg

    base = infra["database"]
    name = f"omni_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(base)
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    parsed = urlparse(base)
    yield urlunparse(parsed._replace(path=f"/{name}"))
    admin = await asyncpg.connect(base)
    try:
        await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


@pytest.fixture
async def redis_url(infra: dict[str, str]) -> AsyncIterator[str]:
    """A Redis database of its own for this test worker, flushed before the test."""
    import redis.asyncio as aioredis

    parsed = urlparse(infra["redis"])
    url = urlunparse(parsed._replace(path=f"/{1 + _worker_index() % 15}"))
    client = aioredis.from_url(url)
    await client.flushdb()
    await client.aclose()
    yield url


@pytest.fixture
def service_env(infra: dict[str, str], topic_suffix: str, database_url: str, redis_url: str) -> dict[str, Any]:
    """Keyword arguments for any ServiceSettings subclass, pointing at this test's fresh resources."""
    return {
        "kafka_bootstrap_servers": infra["kafka"],
        "database_url": database_url,
        "redis_url": redis_url,
        "omni_topic_suffix": topic_suffix,
        "omni_api_token": "test-token",
        "log_format": "console",
    }


@asynccontextmanager
async def running_app(app: FastAPI, *, base_url: str = "http://testserver") -> AsyncIterator[httpx.AsyncClient]:
    """Run an app's lifespan (so its consumers and producers start) and give an HTTP client to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url, timeout=30) as client:
            yield client


async def wait_ready(client: httpx.AsyncClient, *, timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        response = await client.get("/readyz")
        if response.status_code == 200:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"service not ready after {timeout_s}s: {response.text}")
        await asyncio.sleep(0.1)


async def read_events(
    bootstrap: str,
    topic: str,
    *,
    count: int | None = None,
    timeout_s: float = 15.0,
    types: set[str] | None = None,
    settle_s: float = 0.0,
) -> list[CloudEvent]:
    """Read a topic from the beginning until `count` events (of `types`) arrived or time ran out.

    With `settle_s`, keep reading that long after reaching `count` (to prove nothing more comes).
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        for _ in range(50):
            if partitions:
                break
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
            partitions = consumer.partitions_for_topic(topic)
        tps = [TopicPartition(topic, p) for p in sorted(partitions or [])]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        events: list[CloudEvent] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        settle_until: float | None = None
        while loop.time() < deadline:
            if count is not None and len(events) >= count:
                if settle_until is None:
                    settle_until = loop.time() + settle_s
                if loop.time() >= settle_until:
                    break
            batch = await consumer.getmany(timeout_ms=100)
            for records in batch.values():
                for record in records:
                    event = parse_event(record.value, key=record.key)
                    if types is None or event.type in types:
                        events.append(event)
        return events
    finally:
        await consumer.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def repo_root() -> Iterator[Path]:
    yield ROOT


@contextmanager
def module_resources(infra: dict[str, str], *, redis_db: int) -> Iterator[tuple[str, str]]:
    """Fresh topics (a unique suffix) and a flushed Redis database for a module-scoped fixture.

    For tests that serve an app from a thread (schemathesis), outside any one test's event loop.
    """
    import redis

    suffix = f".t{uuid.uuid4().hex[:10]}"
    asyncio.run(ensure_topics(infra["kafka"], suffix=suffix, max_partitions=1))
    redis_url = urlunparse(urlparse(infra["redis"])._replace(path=f"/{redis_db}"))
    redis.Redis.from_url(redis_url).flushdb()
    try:
        yield suffix, redis_url
    finally:
        redis.Redis.from_url(redis_url).flushdb()
        try:
            asyncio.run(delete_topics(infra["kafka"], suffix=suffix))
        except Exception:  # best effort
            pass


@contextmanager
def serve_in_thread(app: FastAPI, *, timeout_s: float = 30.0) -> Iterator[str]:
    """Serve an app with real uvicorn on a free port in a thread; yields its base URL once /readyz is 200."""
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                if httpx.get(base + "/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or not thread.is_alive():
                raise AssertionError(f"service at {base} did not become ready within {timeout_s}s")
            time.sleep(0.1)
        yield base
    finally:
        server.should_exit = True
        thread.join(20)
