"""schemathesis over the router's served OpenAPI (real uvicorn, Kafka, PostgreSQL, Redis): never a 5xx."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse, urlunparse

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from omni_router.app import create_app
from omni_router.settings import Settings
from omni_service.testing import module_resources, serve_in_thread

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TOKEN = "fuzz-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}


async def _database(base: str, name: str, *, drop: bool) -> None:
    admin = await asyncpg.connect(base)
    try:
        await admin.execute(f'drop database if exists "{name}" with (force)' if drop else f'create database "{name}"')
    finally:
        await admin.close()


@pytest.fixture(scope="module")
def served(infra: dict[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The real router under uvicorn on a free port, on fresh topics, a fresh database and a flushed Redis."""
    name = f"omni_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_database(infra["database"], name, drop=False))
    try:
        with module_resources(infra, redis_db=11) as (suffix, redis_url):
            settings_ = Settings(
                kafka_bootstrap_servers=infra["kafka"],
                database_url=urlunparse(urlparse(infra["database"])._replace(path=f"/{name}")),
                redis_url=redis_url,
                omni_topic_suffix=suffix,
                omni_api_token=TOKEN,  # type: ignore[arg-type]
                log_format="console",
                log_level="WARNING",
            )
            with serve_in_thread(create_app(settings_)) as base:
                for agent in ("a1", "a2"):
                    body = {"skills": {"billing": 5}, "languages": ["en"], "capacity": {"chat": 2}}
                    assert httpx.put(f"{base}/v1/agents/{agent}", json=body, headers=AUTH).status_code == 200
                yield base, httpx.get(base + "/openapi.json").json()
    finally:
        asyncio.run(_database(infra["database"], name, drop=True))


ALLOWED = {200, 400, 404, 409}
OPERATIONS = [
    ("PUT", "/v1/agents/{agent_id}"),
    ("GET", "/v1/agents/{agent_id}"),
    ("PUT", "/v1/agents/{agent_id}/presence"),
    ("GET", "/v1/conversations/{conversation_id}"),
    *(("POST", f"/v1/conversations/{{conversation_id}}/{action}") for action in ("accept", "decline", "reply")),
    *(("POST", f"/v1/conversations/{{conversation_id}}/{action}") for action in ("resolve", "transfer", "csat")),
    ("POST", "/v1/conversations/by-thread/{thread_key}/abandon"),
    ("GET", "/v1/queues"),
    ("GET", "/v1/customers/by-identity/{identity}"),
    ("GET", "/v1/customers/{customer_id}"),
    ("POST", "/v1/customers/{customer_id}/identities"),
]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_generated_requests_never_get_a_server_error(
    served: tuple[str, dict[str, Any]], method: str, path: str
) -> None:
    base, document = served
    operation = schemathesis.openapi.from_dict(document)[path][method]
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=cases, known=st.booleans())
    def check(case: schemathesis.Case, known: bool) -> None:
        url = base + case.formatted_path
        if known and "{agent_id}" in path:
            url = base + path.replace("{agent_id}", "a1")
        raw = None if case.body is None else json.dumps(case.body, default=str).encode()
        response = httpx.request(
            method,
            url,
            content=raw,
            headers={**AUTH, "content-type": "application/json"},
            params=case.query or None,
            timeout=30,
        )
        assert response.status_code in ALLOWED, (method, url, raw, response.status_code, response.text)
        assert isinstance(response.json(), dict)

    check()
