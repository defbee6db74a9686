"""Hostile values in each provider's shape, signed by each provider's recipe, posted to the running
service: never a 5xx, and every event it published reads back valid and storable from the real Kafka."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import Counter

import httpx
import pytest
from hostile_payloads import PATHS, Delivery, assert_storable, deliveries, signed_headers
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from social_samples import MESSENGER_TEXT, dumps, line_event

from omni_ingest_social.app import create_app
from omni_ingest_social.settings import Settings
from omni_service.testing import read_events, running_app, wait_ready

pytestmark = pytest.mark.integration

ANSWERS = {200, 400, 401, 413, 503}


async def test_signed_hostile_bodies_never_get_a_server_error_and_publish_only_consumable_events(
    social_settings: Settings,
) -> None:
    totals: Counter[str] = Counter()
    async with running_app(create_app(social_settings)) as client:
        await wait_ready(client)
        loop = asyncio.get_running_loop()

        def post(delivery: Delivery, *, tampered: bool) -> httpx.Response:
            headers = signed_headers(delivery.provider, delivery.body)
            body = delivery.body + b" " if tampered else delivery.body  # signed, then changed in transit
            request = client.post(PATHS[delivery.provider], content=body, headers=headers)
            return asyncio.run_coroutine_threadsafe(request, loop).result(timeout=60)

        @settings(max_examples=1000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(delivery=deliveries(), tampered=st.integers(0, 19).map(lambda n: n == 0))
        def check(delivery: Delivery, tampered: bool) -> None:
            note(f"{delivery!r}, tampered={tampered}")
            response = post(delivery, tampered=tampered)
            assert response.status_code in ANSWERS, (response.status_code, response.text)
            answer = response.json()
            if tampered and delivery.provider != "telegram":  # Telegram sends a token, not a signature of the body
                assert response.status_code in (401, 413), answer
            if response.status_code == 200:
                totals["accepted"] += answer["accepted"]
                totals["rejected"] += answer["rejected"]
            else:
                assert answer["error"]["code"], answer

        await asyncio.to_thread(check)  # hypothesis drives the client from a thread; the app runs on this loop

    bootstrap = social_settings.kafka_bootstrap_servers
    messages = await read_events(
        bootstrap, social_settings.topic("omni.messages.v1"), count=totals["accepted"], settle_s=0.5, timeout_s=15
    )  # read_events validates every event against the schema as it reads it
    assert len(messages) == totals["accepted"]
    for event in messages:
        assert_storable(event.data)
    dead = await read_events(
        bootstrap, social_settings.topic("omni.deadletter.v1"), count=totals["rejected"], settle_s=0.5, timeout_s=15
    )
    assert len(dead) == totals["rejected"]


async def test_a_message_too_large_for_one_event_is_accepted_with_its_full_text_cut(social_settings: Settings) -> None:
    """Was a 503 on every delivery (Kafka refuses a 1.2 MB record): the provider would retry forever."""
    text = "😀" * 240_000
    body = dumps({"events": [line_event(text, event_id="01HBIG")]})
    async with running_app(create_app(social_settings)) as client:
        await wait_ready(client)
        response = await client.post("/webhooks/line", content=body, headers=signed_headers("line", body))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    [event] = await read_events(
        social_settings.kafka_bootstrap_servers, social_settings.topic("omni.messages.v1"), count=1
    )
    assert event.data.text == text[: len(event.data.text)]
    assert text.startswith(event.data.full_text)


async def test_a_huge_malformed_item_is_dead_lettered_at_once_not_a_503_after_ten_seconds(
    social_settings: Settings,
) -> None:
    """Was a dead letter Kafka refused as too large, retried until the ack timeout, then 503, forever."""
    doc = json.loads(MESSENGER_TEXT)
    doc["entry"][0]["messaging"].append({"sender": {"id": "S"}, "message": {"mid": None, "text": "x" * 2_000_000}})
    body = dumps(doc)
    async with running_app(create_app(social_settings)) as client:
        await wait_ready(client)
        started = time.perf_counter()
        response = await client.post("/webhooks/meta", content=body, headers=signed_headers("meta", body))
        took = time.perf_counter() - started
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 1, "duplicates": 0, "ignored": 0, "rejected": 1}
    assert took < 5
    bootstrap = social_settings.kafka_bootstrap_servers
    [dead] = await read_events(bootstrap, social_settings.topic("omni.deadletter.v1"), count=1)
    assert "entry[0].messaging[1].message.mid" in dead.data.reason
    assert base64.b64decode(dead.data.payload_base64) == body[body.index(b'{"sender":{"id":"S"}') :][: 512 * 1024]
