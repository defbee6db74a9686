"""schemathesis over the served OpenAPI, bodies signed with the configured secrets: never a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from social_samples import SECRETS, line_sig, meta_sig, x_sig

from omni_ingest_social.app import create_app
from omni_ingest_social.settings import Settings
from omni_service.testing import module_resources, serve_in_thread

pytestmark = pytest.mark.integration

ALLOWED = {200, 400, 401, 403, 413}


@pytest.fixture(scope="module")
def served(infra: dict[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The real service under uvicorn on a free port, on fresh topics and a flushed Redis database."""
    with module_resources(infra, redis_db=15) as (suffix, redis_url):
        app = create_app(
            Settings(
                kafka_bootstrap_servers=infra["kafka"],
                redis_url=redis_url,
                omni_topic_suffix=suffix,
                log_format="console",
                **SECRETS,
            )
        )  # type: ignore[arg-type]
        with serve_in_thread(app) as base:
            app.state.webhooks.pipeline.dedupe_ttl_s = 300
            yield base, httpx.get(base + "/openapi.json").json()


def _signed(path: str, body: bytes) -> dict[str, str]:
    if path.endswith("/meta"):
        return {"X-Hub-Signature-256": meta_sig(SECRETS["meta_app_secret"], body)}
    if path.endswith("/line"):
        return {"X-Line-Signature": line_sig(SECRETS["line_channel_secret"], body)}
    if path.endswith("/telegram"):
        return {"X-Telegram-Bot-Api-Secret-Token": SECRETS["telegram_secret_token"]}
    return {"x-twitter-webhooks-signature": x_sig(SECRETS["x_consumer_secret"], body)}


OPERATIONS = [
    ("GET", "/webhooks/meta"),
    ("POST", "/webhooks/meta"),
    ("POST", "/webhooks/line"),
    ("POST", "/webhooks/telegram"),
    ("GET", "/webhooks/x"),
    ("POST", "/webhooks/x"),
]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_generated_requests_never_get_a_server_error(
    served: tuple[str, dict[str, Any]], method: str, path: str
) -> None:
    base, document = served
    operation = schemathesis.openapi.from_dict(document)[path][method]
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=cases, sign=st.integers(0, 4).map(lambda i: i != 4))
    def check(case: schemathesis.Case, sign: bool) -> None:
        headers = {k.lower(): str(v) for k, v in (case.headers or {}).items() if str(v).isascii() and k.isascii()}
        query = case.query or None
        if method == "GET":
            response = httpx.get(base + path, params=query, headers=headers, timeout=30)
        else:
            raw = case.body if isinstance(case.body, bytes) else json.dumps(case.body, default=str).encode()
            if sign:
                headers.update({k.lower(): v for k, v in _signed(path, raw).items()})
            headers["content-type"] = "application/json"
            response = httpx.post(base + path, content=raw, headers=headers, timeout=30)
        assert response.status_code in ALLOWED, (response.status_code, response.text)
        if response.status_code != 200 or method == "POST":
            assert isinstance(response.json(), dict)

    check()
