"""schemathesis over the served OpenAPI (real uvicorn, Kafka, Redis): generated posts never get a 5xx."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import email_samples as samples
import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from omni_ingest_email.app import create_app
from omni_ingest_email.settings import EmailSettings
from omni_service.kafka import delete_topics, ensure_topics

pytestmark = pytest.mark.integration

ALLOWED = {200, 400, 401, 413}
AUTH = "Basic " + base64.b64encode(b"parse:parse-secret").decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(infra: dict[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    import redis

    suffix = f".t{uuid.uuid4().hex[:10]}"
    asyncio.run(ensure_topics(infra["kafka"], suffix=suffix, max_partitions=1))
    redis_url = infra["redis"].rsplit("/", 1)[0] + "/14"
    redis.Redis.from_url(redis_url).flushdb()
    app = create_app(
        EmailSettings(
            kafka_bootstrap_servers=infra["kafka"],
            redis_url=redis_url,
            omni_topic_suffix=suffix,
            smtp_enabled=False,
            log_format="console",
            log_level="WARNING",
            **samples.SECRETS,  # type: ignore[arg-type]
        )
    )
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(base + "/readyz").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "service did not become ready"
        time.sleep(0.1)
    try:
        yield base, httpx.get(base + "/openapi.json").json()
    finally:
        server.should_exit = True
        thread.join(20)
        redis.Redis.from_url(redis_url).flushdb()
        try:
            asyncio.run(delete_topics(infra["kafka"], suffix=suffix))
        except Exception:
            pass


def _fields(body: Any) -> dict[str, str]:
    if isinstance(body, dict):
        return {str(k): v if isinstance(v, str) else json.dumps(v, default=str) for k, v in body.items()}
    return {"body": json.dumps(body, default=str)}


@pytest.mark.parametrize("path", ["/webhooks/email/sendgrid", "/webhooks/email/mailgun"])
def test_generated_posts_never_get_a_server_error(served: tuple[str, dict[str, Any]], path: str) -> None:
    base, document = served
    operation = schemathesis.openapi.from_dict(document)[path]["POST"]
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=cases, authentic=st.booleans(), multipart=st.booleans(), raw=st.booleans())
    def check(case: schemathesis.Case, authentic: bool, multipart: bool, raw: bool) -> None:
        fields = _fields(case.body)
        if raw:  # a provider's raw-MIME field with generated text appended
            key = "email" if path.endswith("sendgrid") else "body-mime"
            fields[key] = samples.ENGLISH_REPLY.decode() + fields.get(key, "")
        else:  # mostly a sender, so generated bodies also get past validation into the accept path
            fields.setdefault("from", "Fuzz <fuzz@example.org>")
        headers: dict[str, str] = {}
        if authentic and path.endswith("mailgun"):
            fields = samples.mailgun_signed(fields, timestamp=int(time.time()), token=uuid.uuid4().hex * 2)
        elif authentic:
            headers["authorization"] = AUTH
        if multipart:
            ctype, content = samples.multipart(dict(fields))
        else:
            ctype, content = "application/x-www-form-urlencoded", httpx.QueryParams(fields).__str__().encode()
        headers["content-type"] = ctype
        response = httpx.post(base + path, content=content, headers=headers, timeout=30)
        assert response.status_code in ALLOWED, (response.status_code, response.text)
        assert isinstance(response.json(), dict)

    check()
