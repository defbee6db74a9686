"""The HTTP face every service shares: its error answers and the OpenAPI document that describes them."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import Query
from pydantic import BaseModel

from omni_service.http import create_http_app
from omni_service.metrics import ServiceMetrics


class _Body(BaseModel):
    name: str


def _app() -> Any:
    app = create_http_app(service="edge-test", metrics=ServiceMetrics("edge-test"), ready_checks={})

    @app.post("/things", status_code=201)
    async def create(body: _Body, limit: int = Query(1, ge=1)) -> dict[str, str]:
        return {"name": body.name}

    return app


async def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://edge")


async def test_openapi_declares_the_400_answered_for_invalid_requests_not_fastapis_422() -> None:
    async with await _client(_app()) as client:
        document = (await client.get("/openapi.json")).json()
        invalid = await client.post("/things?limit=0", json={"name": 3})
    responses = document["paths"]["/things"]["post"]["responses"]
    assert "422" not in responses
    assert responses["400"]["content"]["application/json"]["schema"]["required"] == ["error"]
    assert "HTTPValidationError" not in document.get("components", {}).get("schemas", {})
    assert invalid.status_code == 400
    error = invalid.json()["error"]
    assert error["code"] == "invalid_request"
    assert {p["field"] for p in error["details"]["problems"]} == {"name", "query.limit"}


async def test_a_body_that_is_not_json_at_all_is_an_invalid_request() -> None:
    async with await _client(_app()) as client:
        for content in (b"{nope", b"\xff\xfe{", b"[" * 10_000):
            answer = await client.post("/things", content=content, headers={"content-type": "application/json"})
            assert answer.status_code == 400, content[:8]
            assert answer.json()["error"]["code"] == "invalid_request", answer.text
