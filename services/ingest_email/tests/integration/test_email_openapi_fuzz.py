"""schemathesis over the served OpenAPI (real uvicorn, Kafka, Redis): generated posts never get a 5xx."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import email_samples as samples
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from omni_ingest_email.app import create_app
from omni_ingest_email.settings import EmailSettings
from omni_service.testing import module_resources, serve_in_thread

pytestmark = pytest.mark.integration

ALLOWED = {200, 400, 401, 413}
AUTH = "Basic " + base64.b64encode(b"parse:parse-secret").decode()


@pytest.fixture(scope="module")
def served(infra: dict[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    with module_resources(infra, redis_db=14) as (suffix, redis_url):
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
        with serve_in_thread(app) as base:
            yield base, httpx.get(base + "/openapi.json").json()


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
