"""schemathesis over the served OpenAPI (Twilio bodies mostly signed, so parsing is reached): never a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import schemathesis
from chat_samples import AUTH_TOKEN
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from omni_ingest_chat.app import create_app
from omni_ingest_chat.domain.twilio_signature import compute_signature
from omni_ingest_chat.domain.twilio_sms import parse_form
from omni_ingest_chat.settings import Settings
from omni_service.testing import module_resources, serve_in_thread

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(infra: dict[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The real service under uvicorn on a free port, on fresh topics and a flushed Redis database."""
    with module_resources(infra, redis_db=13) as (suffix, redis_url):
        settings_ = Settings(
            kafka_bootstrap_servers=infra["kafka"],
            redis_url=redis_url,
            omni_topic_suffix=suffix,
            log_format="console",
            twilio_auth_token=AUTH_TOKEN,  # type: ignore[arg-type]
            router_url="http://127.0.0.1:1",
        )
        with serve_in_thread(create_app(settings_)) as base:
            yield base, httpx.get(base + "/openapi.json").json()


OPERATIONS = {
    ("POST", "/webhooks/sms/twilio"): {200, 400, 401, 413, 415},
    ("POST", "/v1/chat/sessions"): {201, 400, 415},
    ("POST", "/v1/chat/sessions/{session_id}/messages"): {202, 400, 404, 413, 415},
    ("POST", "/v1/chat/sessions/{session_id}/close"): {400, 404, 415, 503},  # no router runs here
}
# the media type of a web chat body: the operation's own (None) or one a browser or client may send
CHAT_MEDIA_TYPES = st.sampled_from(
    [None, None, "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "application/xml", ""]
)


def _form(body: Any) -> bytes:
    if isinstance(body, dict):
        return urlencode([(str(k), str(v)) for k, v in body.items()]).encode()
    return body if isinstance(body, bytes) else str(body).encode()


@pytest.mark.parametrize(("method", "path"), list(OPERATIONS))
def test_generated_requests_never_get_a_server_error(
    served: tuple[str, dict[str, Any]], method: str, path: str
) -> None:
    base, document = served
    allowed = OPERATIONS[(method, path)]
    operation = schemathesis.openapi.from_dict(document)[path][method]
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=cases, sign=st.integers(0, 4).map(lambda i: i != 4), media=CHAT_MEDIA_TYPES)
    def check(case: schemathesis.Case, sign: bool, media: str | None) -> None:
        headers = {k.lower(): str(v) for k, v in (case.headers or {}).items() if str(v).isascii() and k.isascii()}
        url = base + case.formatted_path
        if path == "/webhooks/sms/twilio":
            raw = _form(case.body)
            headers["content-type"] = "application/x-www-form-urlencoded"
            if sign:
                try:
                    headers["x-twilio-signature"] = compute_signature(AUTH_TOKEN, url, parse_form(raw))
                except ValueError:
                    pass
        else:
            text = case.body if isinstance(case.body, str) and (case.media_type or "").startswith("text/") else None
            if text is None:
                text = "" if case.body is None else json.dumps(case.body, default=str)
            raw = text.encode("utf-8", "surrogatepass")  # a lone surrogate: invalid UTF-8, as a hostile client sends
            media = media if media is not None else case.media_type or "application/json"
            if media:
                headers["content-type"] = media
        response = httpx.post(url, content=raw, headers=headers, params=case.query or None, timeout=30)
        assert response.status_code in allowed, (response.status_code, response.text)
        assert isinstance(response.json() if response.status_code != 200 else {}, dict)

    check()
