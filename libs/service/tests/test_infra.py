"""Migrations on the real PostgreSQL, Redis, and the shared HTTP surface."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
import redis.exceptions as redis_errors
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from redis.asyncio.client import Pipeline

from omni_service.db import create_pool, migrate, migrations_of
from omni_service.http import ApiError, BodyLimits, create_http_app, fast_route
from omni_service.ingest import stable_id
from omni_service.kafka import KafkaUnavailable
from omni_service.metrics import ServiceMetrics
from omni_service.redis_client import SharedPipeline


@pytest.mark.integration
async def test_migrations_apply_once_in_order_even_when_raced(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "001_create.sql").write_text("create table widget (id int primary key, name text not null);")
    (tmp_path / "002_seed.sql").write_text("insert into widget values (1, 'ウィジェット');")
    (tmp_path / "README.txt").write_text("not a migration")
    assert [name for _, name, _ in migrations_of(tmp_path)] == ["001_create.sql", "002_seed.sql"]
    assert migrations_of("omni_no_such_package") == []
    pool = await create_pool(database_url, max_size=4)
    try:
        results = await asyncio.gather(*(migrate(pool, service="svc", package=tmp_path) for _ in range(3)))
        assert sorted(map(len, results)) == [0, 0, 2]
        assert await pool.fetchval("select name from widget where id = 1") == "ウィジェット"
        (tmp_path / "003_more.sql").write_text("alter table widget add column size int;")
        assert await migrate(pool, service="svc", package=tmp_path) == ["003_more.sql"]
        (tmp_path / "004_broken.sql").write_text("alter table no_such_table add column x int;")
        with pytest.raises(asyncpg.UndefinedTableError):
            await migrate(pool, service="svc", package=tmp_path)
        versions = [
            r["version"]
            for r in await pool.fetch(
                "select version from omni_schema_migrations where service = 'svc' order by version"
            )
        ]
        assert versions == [1, 2, 3]  # the failed migration left no trace
    finally:
        await pool.close()


@pytest.mark.integration
async def test_redis_roundtrip_with_ttl(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        assert await client.dbsize() == 0
        await client.set("omni:k", "v", ex=60)
        assert await client.get("omni:k") == b"v"
        assert 0 < await client.ttl("omni:k") <= 60
    finally:
        await client.aclose()


class Body(BaseModel):
    text: str


def _app() -> tuple[httpx.AsyncClient, ServiceMetrics]:
    metrics = ServiceMetrics("demo")
    state = {"up": False}
    app = create_http_app(
        service="demo", metrics=metrics, ready_checks={"kafka": lambda: state["up"]}, max_body_bytes=64
    )

    @app.post("/echo")
    async def echo(body: Body) -> dict[str, str]:
        return {"text": body.text}

    @app.get("/boom")
    async def boom(request: Request) -> None:
        raise ApiError(409, "capacity_exceeded", "agent a1 has no free chat slot", agent_id="a1")

    app.state.flag = state
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t"), metrics


async def test_health_ready_metrics_and_json_errors() -> None:
    client, _ = _app()
    async with client:
        assert (await client.get("/healthz")).json()["status"] == "ok"
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"] == {"kafka": False}
        bad = await client.post("/echo", json={"txt": 1})
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "invalid_request" and "text" in bad.json()["error"]["message"]
        big = await client.post("/echo", json={"text": "x" * 100})
        assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"
        boom = await client.get("/boom")
        assert boom.status_code == 409 and boom.json()["error"]["details"] == {"agent_id": "a1"}
        text = (await client.get("/metrics")).text
        assert 'omni_http_requests_total{method="POST",route="/echo",service="demo",status="400"} 1.0' in text
        assert 'omni_service_ready{service="demo"} 0.0' in text


async def test_fast_routes_keep_limits_metrics_and_the_apps_error_answers() -> None:
    metrics = ServiceMetrics("demo")
    app = create_http_app(service="demo", metrics=metrics, ready_checks={}, max_body_bytes=64)
    oversize: list[str] = []
    limits: BodyLimits = app.state.body_limits
    limits.paths["/hook"] = 16
    limits.on_oversize = oversize.append

    async def hook(request: Request) -> Response:
        body = await request.body()
        if body == b"down":
            raise KafkaUnavailable("no ack")
        if body == b"bad":
            raise ApiError(401, "unauthorized", "bad signature")
        return JSONResponse({"got": body.decode()})

    @app.post("/hook")
    async def documented(request: Request) -> Response:  # what OpenAPI shows; the edge serves `hook`
        raise AssertionError("the fast route answers first")

    fast_route(app, "POST", "/hook", hook)

    @app.post("/items/{item}/notes")
    async def notes(item: int, body: Body) -> dict[str, str]:
        return {"by": "fastapi", "item": str(item), "text": body.text}

    async def fast_notes(request: Request) -> Response | None:
        item = request.scope["path"].split("/")[2]
        if not item.isdigit():
            return None  # declined: FastAPI's route answers (here with its 400)
        return JSONResponse({"by": "fast", "item": item, "text": (await request.json())["text"]})

    fast_route(app, "POST", "/items/{item}/notes", fast_notes)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.post("/hook", content=b"hi")).json() == {"got": "hi"}
        down = await client.post("/hook", content=b"down")
        assert down.status_code == 503 and down.headers["retry-after"] == "5"
        assert down.json()["error"]["code"] == "kafka_unavailable"
        assert (await client.post("/hook", content=b"bad")).status_code == 401
        big = await client.post("/hook", content=b"x" * 17)
        assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"
        assert oversize == ["/hook"]
        assert "/hook" in (await client.get("/openapi.json")).json()["paths"]
        assert (await client.post("/items/7/notes", json={"text": "a"})).json() == {
            "by": "fast",
            "item": "7",
            "text": "a",
        }
        declined = await client.post("/items/x/notes", json={"text": "a"})
        assert declined.status_code == 400 and declined.json()["error"]["code"] == "invalid_request"
        assert (await client.post("/items/7/close", json={})).status_code == 404
        text = (await client.get("/metrics")).text
    assert 'omni_http_requests_total{method="POST",route="/hook",service="demo",status="200"} 1.0' in text
    assert 'omni_http_requests_total{method="POST",route="/hook",service="demo",status="503"} 1.0' in text
    assert 'route="/items/{item}/notes",service="demo",status="200"} 1.0' in text
    assert 'route="/items/{item}/notes",service="demo",status="400"} 1.0' in text


@pytest.mark.integration
async def test_shared_pipeline_answers_each_caller_with_its_own_results(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    shared = SharedPipeline(client)
    try:

        async def claim(n: int) -> list[object]:
            def build(pipe: Pipeline) -> None:
                pipe.set("omni:t", n, nx=True)
                pipe.get("omni:t")

            return await shared.execute(build)

        results = await asyncio.gather(*(claim(n) for n in range(5)))
        winners = [r for r in results if r[0]]
        assert len(winners) == 1  # one claim, in order, as separate round trips would give
        assert all(r[1] == winners[0][1] for r in results)
        assert await shared.execute(lambda _pipe: None) == []
    finally:
        await client.aclose()

    down = SharedPipeline(aioredis.from_url("redis://127.0.0.1:1/0"))
    with pytest.raises((OSError, redis_errors.ConnectionError)):
        await down.execute(lambda pipe: pipe.delete("x") and None)
    await down.redis.aclose()


def test_stable_ids_are_per_provider_and_message() -> None:
    assert stable_id("line", "e1") == stable_id("line", "e1")
    assert stable_id("line", "e1") != stable_id("telegram", "e1")
    assert stable_id("line", "e1") != stable_id("line", "e1", kind="event")
