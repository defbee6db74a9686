"""ingest_chat end to end on the real Kafka and Redis: provider formats in, events read back from Kafka."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from chat_samples import AUTH_TOKEN, SMS_BODY, chat_body, signed, sms_params
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from omni_ingest_chat.adapters.router_client import RouterClient
from omni_ingest_chat.app import create_app
from omni_ingest_chat.domain.twilio_signature import compute_signature
from omni_ingest_chat.domain.twilio_sms import parse_form
from omni_ingest_chat.settings import Settings
from omni_schemas import CloudEvent
from omni_service.testing import read_events, running_app, wait_ready

pytestmark = pytest.mark.integration

BASE = "http://testserver"
SMS_URL = BASE + "/webhooks/sms/twilio"


def _settings(service_env: dict[str, Any], **overrides: Any) -> Settings:
    return Settings(**{**service_env, "twilio_auth_token": AUTH_TOKEN, **overrides})


@asynccontextmanager
async def _client(settings: Settings, *, router: RouterClient | None = None) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(settings, router=router), base_url=BASE) as client:
        await wait_ready(client)
        yield client


async def _messages(
    service_env: dict[str, Any], count: int, *, settle_s: float = 1.0, timeout_s: float = 15.0
) -> list[CloudEvent]:
    return await read_events(
        service_env["kafka_bootstrap_servers"],
        "omni.messages.v1" + service_env["omni_topic_suffix"],
        count=count,
        settle_s=settle_s,
        timeout_s=timeout_s,
    )


async def _post_sms(client: httpx.AsyncClient, pairs: list[tuple[str, str]], **headers: str) -> httpx.Response:
    body, signature = signed(SMS_URL, pairs)
    return await client.post(
        "/webhooks/sms/twilio",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature, **headers},
    )


async def test_signed_japanese_sms_mms_and_whatsapp_are_on_kafka(service_env: dict[str, Any]) -> None:
    media = [("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "image/jpeg")]
    async with _client(_settings(service_env)) as client:
        sms = await _post_sms(client, sms_params(sid="SM" + "1" * 32, body="荷物がまだ届いていません。"))
        assert sms.status_code == 200
        assert sms.headers["content-type"].startswith("text/xml")
        assert sms.text.endswith("<Response/>")
        mms = await _post_sms(client, sms_params(sid="MM" + "2" * 32, body="写真です", media=media))
        assert mms.status_code == 200
        wa = await _post_sms(
            client,
            sms_params(
                sid="SM" + "3" * 32,
                from_="whatsapp:+819012345678",
                to="whatsapp:+14155238886",
                body="Hello, is anyone there?",
                extra={"ProfileName": "Hanako"},
            ),
        )
        assert wa.status_code == 200
    events = {e.data.provider_message_id: e for e in await _messages(service_env, 3)}
    assert len(events) == 3
    sms_event = events["SM" + "1" * 32]
    assert sms_event.type == "omni.message.received.v1"
    assert sms_event.subject == sms_event.data.thread_key == "sms:+819012345678:+15005550006"
    assert sms_event.data.text == "荷物がまだ届いていません。"
    assert sms_event.data.language == "ja"
    assert sms_event.data.channel.value == "sms" and sms_event.data.provider.value == "twilio"
    mms_event = events["MM" + "2" * 32]
    assert [(a.url, a.content_type) for a in mms_event.data.attachments] == media
    wa_event = events["SM" + "3" * 32]
    assert wa_event.data.channel.value == "whatsapp"
    assert wa_event.data.customer.address == "+819012345678"
    assert wa_event.data.customer.display_name == "Hanako"
    assert wa_event.data.language == "en"


async def test_real_twilio_capture_with_its_signature_is_accepted(service_env: dict[str, Any]) -> None:
    signature = compute_signature(AUTH_TOKEN, SMS_URL, parse_form(SMS_BODY))
    async with _client(_settings(service_env)) as client:
        response = await client.post(
            "/webhooks/sms/twilio",
            content=SMS_BODY,
            headers={"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature},
        )
        assert response.status_code == 200
    [event] = await _messages(service_env, 1)
    assert event.data.customer.address == "+14133881111"
    assert event.data.thread_key == "sms:+14133881111:+12028831111"


async def test_bad_missing_signature_and_malformed_form_produce_no_event(service_env: dict[str, Any]) -> None:
    async with _client(_settings(service_env)) as client:
        good = sms_params(sid="SM" + "a" * 32)
        body, signature = signed(SMS_URL, good)
        form = {"content-type": "application/x-www-form-urlencoded"}
        bad = await client.post(
            "/webhooks/sms/twilio", content=body, headers={**form, "x-twilio-signature": signature[:-2] + "A="}
        )
        assert bad.status_code == 401
        assert bad.json()["error"]["code"] == "unauthorized"
        tampered = await client.post(
            "/webhooks/sms/twilio",
            content=body.replace(b"SmsStatus=received", b"SmsStatus=receivex"),
            headers={**form, "x-twilio-signature": signature},
        )
        assert tampered.status_code == 401
        missing = await client.post("/webhooks/sms/twilio", content=body, headers=form)
        assert missing.status_code == 401
        no_from = [(k, v) for k, v in sms_params(sid="SM" + "b" * 32) if k != "From"]
        malformed = await _post_sms(client, no_from)
        assert malformed.status_code == 400
        assert malformed.json()["error"]["details"]["field"] == "From"
        wrong_type = await client.post(
            "/webhooks/sms/twilio", content=b"{}", headers={"content-type": "application/json"}
        )
        assert wrong_type.status_code == 415
        too_big = await _post_sms(client, sms_params(sid="SM" + "c" * 32, body="x" * (70 * 1024)))
        assert too_big.status_code == 413
        # the one valid delivery, last: nothing else may be on the topic
        assert (await _post_sms(client, sms_params(sid="SM" + "d" * 32))).status_code == 200
        metrics = (await client.get("/metrics")).text
    events = await _messages(service_env, 1, settle_s=1.5)
    assert [e.data.provider_message_id for e in events] == ["SM" + "d" * 32]
    assert all(f'reason="{r}"' in metrics for r in ("bad_signature", "missing_signature", "malformed", "too_large"))


async def test_twilio_redelivery_yields_one_event(service_env: dict[str, Any]) -> None:
    pairs = sms_params(sid="SM" + "e" * 32)
    async with _client(_settings(service_env)) as client:
        responses = [await _post_sms(client, pairs) for _ in range(3)]
        responses += await asyncio.gather(*(_post_sms(client, pairs) for _ in range(3)))
        assert [r.status_code for r in responses] == [200] * 6
        metrics = (await client.get("/metrics")).text
    events = await _messages(service_env, 1, settle_s=1.5)
    # concurrent redeliveries may race the dedupe store, but they carry the same CloudEvents id
    assert {e.id for e in events} == {events[0].id}
    assert "omni_ingest_deduplicated_total" in metrics


async def test_signature_over_public_base_url_behind_a_proxy(service_env: dict[str, Any]) -> None:
    public = "https://support.example.jp"
    settings = _settings(service_env, omni_public_base_url=public + "/")
    pairs = sms_params(sid="SM" + "f" * 32)
    async with _client(settings) as client:
        body, local_signature = signed(SMS_URL + "?tenant=jp", pairs)
        rejected = await client.post(
            "/webhooks/sms/twilio?tenant=jp",
            content=body,
            headers={"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": local_signature},
        )
        assert rejected.status_code == 401
        _, public_signature = signed(public + "/webhooks/sms/twilio?tenant=jp", pairs)
        accepted = await client.post(
            "/webhooks/sms/twilio?tenant=jp",
            content=body,
            headers={"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": public_signature},
        )
        assert accepted.status_code == 200
    assert len(await _messages(service_env, 1)) == 1


async def test_chat_messages_are_on_kafka_and_client_retries_deduplicated(service_env: dict[str, Any]) -> None:
    async with _client(_settings(service_env)) as client:
        started = await client.post("/v1/chat/sessions")
        assert started.status_code == 201
        session = started.json()["session_id"]
        first = await client.post(f"/v1/chat/sessions/{session}/messages", json=chat_body(client_message_id="c-1"))
        assert first.status_code == 202
        again = await client.post(f"/v1/chat/sessions/{session}/messages", json=chat_body(client_message_id="c-1"))
        assert again.status_code == 202
        assert again.json() == {**first.json(), "duplicate": True}
        english = await client.post(
            f"/v1/chat/sessions/{session}/messages", json=chat_body("Where is my order #1234?", client_message_id="c-2")
        )
        assert english.status_code == 202
    events = await _messages(service_env, 2, settle_s=1.5)
    assert len(events) == 2
    by_id = {str(e.data.message_id): e for e in events}
    ja = by_id[first.json()["message_id"]].data
    assert (ja.channel.value, ja.provider.value, ja.thread_key) == ("chat", "webchat", f"chat:{session}")
    assert ja.customer.address == "v-123" and ja.customer.display_name == "山田 花子"
    assert (ja.language, ja.provider_message_id) == ("ja", "c-1")
    assert by_id[english.json()["message_id"]].data.language == "en"


async def test_chat_malformed_and_oversize_answered_without_event(service_env: dict[str, Any]) -> None:
    async with _client(_settings(service_env, chat_max_body_bytes=4096)) as client:
        no_visitor = await client.post("/v1/chat/sessions/s-1/messages", json={"text": "hi"})
        assert no_visitor.status_code == 400
        assert no_visitor.json()["error"]["details"]["problems"][0]["field"] == "visitor"
        not_json = await client.post(
            "/v1/chat/sessions/s-1/messages", content=b"{nope", headers={"content-type": "application/json"}
        )
        assert not_json.status_code == 400
        bad_session = await client.post("/v1/chat/sessions/a%2Fb/messages", json=chat_body())
        assert bad_session.status_code in (400, 404)
        oversize = await client.post("/v1/chat/sessions/s-1/messages", json=chat_body("あ" * 5000))
        assert oversize.status_code == 413
        assert (await client.post("/v1/chat/sessions/s-1/messages", json=chat_body("OK"))).status_code == 202
    events = await _messages(service_env, 1, settle_s=1.5)
    assert [e.data.text for e in events] == ["OK"]


async def test_kafka_down_gives_503_and_the_retry_is_accepted_once_back(service_env: dict[str, Any]) -> None:
    pairs = sms_params(sid="SM" + "9" * 32)
    down = _settings(service_env, kafka_bootstrap_servers="127.0.0.1:1")
    async with running_app(create_app(down), base_url=BASE) as client:
        assert (await client.get("/readyz")).status_code == 503
        refused = await _post_sms(client, pairs)
        assert refused.status_code == 503
        assert refused.headers["retry-after"]
        chat = await client.post("/v1/chat/sessions/s-2/messages", json=chat_body(client_message_id="k-1"))
        assert chat.status_code == 503
    async with _client(_settings(service_env)) as client:
        assert (await _post_sms(client, pairs)).status_code == 200
        assert (
            await client.post("/v1/chat/sessions/s-2/messages", json=chat_body(client_message_id="k-1"))
        ).status_code == 202
    events = await _messages(service_env, 2, settle_s=1.0)
    assert sorted(e.data.provider for e in events) == ["twilio", "webchat"]


def _stub_router(status_by_thread: dict[str, int], calls: list[tuple[str, str | None]]) -> RouterClient:
    """A stand-in for the router's HTTP API (another service), answering per thread key."""
    stub = FastAPI()

    @stub.post("/v1/conversations/by-thread/{thread_key}/abandon")
    async def abandon(thread_key: str, request: Request) -> JSONResponse:
        calls.append((thread_key, request.headers.get("authorization")))
        status = status_by_thread.get(thread_key, 404)
        return JSONResponse({"thread_key": thread_key}, status_code=status)

    return RouterClient(base_url="http://router", token="test-token", transport=httpx.ASGITransport(app=stub))


async def test_close_abandons_through_the_router(service_env: dict[str, Any]) -> None:
    calls: list[tuple[str, str | None]] = []
    router = _stub_router({"chat:s-open": 202, "chat:s-busy": 409}, calls)
    async with _client(_settings(service_env), router=router) as client:
        opened = await client.post("/v1/chat/sessions/s-open/close")
        assert opened.status_code == 200 and opened.json()["abandoned"] is True
        busy = await client.post("/v1/chat/sessions/s-busy/close")
        assert busy.status_code == 200 and busy.json()["abandoned"] is False
        never_wrote = await client.post("/v1/chat/sessions/s-silent/close")
        assert never_wrote.status_code == 200 and never_wrote.json()["reason"] == "no_conversation"
        assert (await client.post("/v1/chat/sessions/s-wrote/messages", json=chat_body())).status_code == 202
        behind = await client.post("/v1/chat/sessions/s-wrote/close")
        assert behind.status_code == 503
    assert calls[0] == ("chat:s-open", "Bearer test-token")


async def test_close_with_router_unreachable_is_503(service_env: dict[str, Any]) -> None:
    async with _client(_settings(service_env, router_url="http://127.0.0.1:1")) as client:
        response = await client.post("/v1/chat/sessions/s-1/close")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "router_unavailable"


async def test_get_configured_webhook_and_status_callbacks(service_env: dict[str, Any]) -> None:
    from urllib.parse import urlencode

    pairs = sms_params(sid="SM" + "7" * 32, body="GETでも届きますか")
    query = urlencode(pairs)
    signature = compute_signature(AUTH_TOKEN, f"{SMS_URL}?{query}", {})
    status_pairs = [("MessageSid", "SM" + "8" * 32), ("MessageStatus", "delivered"), ("From", "+1"), ("To", "+2")]
    async with _client(_settings(service_env)) as client:
        unsigned = await client.get(f"/webhooks/sms/twilio?{query}")
        assert unsigned.status_code == 401
        got = await client.get(f"/webhooks/sms/twilio?{query}", headers={"x-twilio-signature": signature})
        assert got.status_code == 200
        status = await _post_sms(client, status_pairs)
        assert status.status_code == 200
        metrics = (await client.get("/metrics")).text
    events = await _messages(service_env, 1, settle_s=1.5)
    assert [e.data.text for e in events] == ["GETでも届きますか"]
    assert 'reason="status_callback"' in metrics


async def test_redis_down_still_accepts_and_a_redelivery_keeps_its_event_id(service_env: dict[str, Any]) -> None:
    pairs = sms_params(sid="SM" + "5" * 32)
    settings = _settings(service_env, redis_url="redis://127.0.0.1:1/0")

    async def wait_for_kafka(client: httpx.AsyncClient) -> None:
        for _ in range(100):  # Kafka connects in the background; Redis never will
            if (await client.get("/readyz")).json()["checks"]["kafka"]:
                return
            await asyncio.sleep(0.1)

    async with running_app(create_app(settings), base_url=BASE) as client:
        await wait_for_kafka(client)
        assert (await client.get("/readyz")).status_code == 503
        # the process holds the ids Redis could not take: its own redelivery is a duplicate
        assert [(await _post_sms(client, pairs)).status_code for _ in range(2)] == [200, 200]
    async with running_app(create_app(settings), base_url=BASE) as client:  # restarted, Redis still away
        await wait_for_kafka(client)
        assert (await _post_sms(client, pairs)).status_code == 200
    events = await _messages(service_env, 3, settle_s=0.5)
    assert len(events) == 2
    assert events[0].id == events[1].id  # consumers drop the second as a redelivery
    assert events[0].data.message_id == events[1].data.message_id


async def test_status_callback_carrying_the_outbound_body_is_no_customer_message(service_env: dict[str, Any]) -> None:
    # Twilio posts a Messaging Service's status callbacks with the outbound Body: our own reply
    # must not come back as a message from "the customer" (our number).
    callback = [
        ("ApiVersion", "2010-04-01"),
        ("MessagingServiceSid", "MG" + "0" * 32),
        ("MessageStatus", "delivered"),
        ("SmsSid", "SM" + "6" * 32),
        ("SmsStatus", "delivered"),
        ("From", "+15005550006"),
        ("To", "+819012345678"),
        ("MessageSid", "SM" + "6" * 32),
        ("Body", "ご連絡ありがとうございます。担当者が確認します。"),
        ("AccountSid", "AC" + "0" * 32),
    ]
    async with _client(_settings(service_env)) as client:
        status = await _post_sms(client, callback)
        assert status.status_code == 200
        assert status.text.endswith("<Response/>")
        # the one customer message, last: nothing else may be on the topic
        assert (await _post_sms(client, sms_params(sid="SM" + "4" * 32, body="ありがとう"))).status_code == 200
        metrics = (await client.get("/metrics")).text
    events = await _messages(service_env, 1, settle_s=1.5)
    assert [e.data.provider_message_id for e in events] == ["SM" + "4" * 32]
    assert 'reason="status_callback"' in metrics


async def test_whatsapp_location_pin_reaches_kafka_as_text(service_env: dict[str, Any]) -> None:
    pairs = [
        ("To", "whatsapp:+14155238886"),
        ("Body", ""),
        ("From", "whatsapp:+819012345678"),
        ("WaId", "819012345678"),
        ("Latitude", "35.681236"),
        ("Longitude", "139.767125"),
        ("Label", "東京駅"),
        ("NumMedia", "0"),
        ("MessageSid", "SM" + "3" * 32),
        ("MessageType", "location"),
        ("ProfileName", "Hanako"),
        ("SmsStatus", "received"),
    ]
    async with _client(_settings(service_env)) as client:
        assert (await _post_sms(client, pairs)).status_code == 200
    [event] = await _messages(service_env, 1)
    assert event.data.channel.value == "whatsapp"
    assert event.data.text == "Location: 35.681236, 139.767125 (東京駅)"


async def test_widget_with_nanoid_ids_and_an_empty_email_field_is_accepted(service_env: dict[str, Any]) -> None:
    session = "_V1StGXR8Z5jdHi6B-my"  # nanoid: may start with "_" or "-"
    body = {
        "text": "こんにちは",
        "visitor": {"id": "v-9", "name": "", "email": ""},  # a pre-chat form left empty
        "client_message_id": "-x7Qm2_kLp",
    }
    async with _client(_settings(service_env)) as client:
        first = await client.post(f"/v1/chat/sessions/{session}/messages", json=body)
        assert first.status_code == 202, first.text
        again = await client.post(f"/v1/chat/sessions/{session}/messages", json=body)
        assert again.json() == {**first.json(), "duplicate": True}
    [event] = await _messages(service_env, 1, settle_s=1.0)
    assert event.data.thread_key == f"chat:{session}"
    assert event.data.provider_message_id == "-x7Qm2_kLp"


async def test_a_duplicate_post_still_marks_the_session_as_written(service_env: dict[str, Any]) -> None:
    # The first delivery's answer may have been a 503 (Kafka slow) and its record acknowledged
    # later: the widget's retry is then a duplicate, and close must still know the session wrote.
    calls: list[tuple[str, str | None]] = []
    router = _stub_router({}, calls)  # the router has not consumed anything yet: 404
    app = create_app(_settings(service_env), router=router)
    async with running_app(app, base_url=BASE) as client:
        await wait_ready(client)
        body = chat_body(client_message_id="c-1")
        assert (await client.post("/v1/chat/sessions/s-late/messages", json=body)).status_code == 202
        ingest = app.state.ingest
        await ingest.redis.delete(ingest._session_key("s-late"))  # as if the first answer was a 503
        ingest._marked.clear()
        retry = await client.post("/v1/chat/sessions/s-late/messages", json=body)
        assert retry.status_code == 202 and retry.json()["duplicate"] is True
        closed = await client.post("/v1/chat/sessions/s-late/close")
    assert closed.status_code == 503
    assert closed.json()["error"]["code"] == "router_behind"


async def test_a_widget_on_an_allowed_origin_may_call_the_chat_api_from_a_browser(service_env: dict[str, Any]) -> None:
    shop, other = "https://shop.example.jp", "https://evil.example.com"
    settings = _settings(service_env, chat_allowed_origins=f"{shop}/, https://www.example.jp")
    async with _client(settings) as client:
        preflight = await client.options(
            "/v1/chat/sessions/s-cors/messages",
            headers={
                "origin": shop,
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type",
            },
        )
        posted = await client.post(
            "/v1/chat/sessions/s-cors/messages", json=chat_body(client_message_id="cors-1"), headers={"origin": shop}
        )
        refused = await client.options(
            "/v1/chat/sessions/s-cors/messages", headers={"origin": other, "access-control-request-method": "POST"}
        )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == shop
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert posted.status_code == 202
    assert posted.headers["access-control-allow-origin"] == shop
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    async with _client(_settings(service_env)) as client:  # not configured: no CORS at all
        plain = await client.post(
            "/v1/chat/sessions/s-cors/messages", json=chat_body(client_message_id="cors-2"), headers={"origin": shop}
        )
    assert plain.status_code == 202
    assert "access-control-allow-origin" not in plain.headers


def _without_fast_path(app: FastAPI) -> FastAPI:
    """The same app with the edge fast path off, so every request is answered by its FastAPI route."""
    app.state.fast_routes.exact.clear()
    app.state.fast_routes.templated.clear()
    return app


def _rejected(metrics: str, reason: str) -> float:
    """`omni_ingest_rejected_total` for web chat and `reason`, from a /metrics page."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("omni_ingest_rejected_total{")
        and 'provider="webchat"' in line
        and f'reason="{reason}"' in line
    )


NOT_JSON = {
    "sendBeacon string": {"content-type": "text/plain;charset=UTF-8"},
    "form": {"content-type": "application/x-www-form-urlencoded"},
    "multipart": {"content-type": "multipart/form-data; boundary=x"},
    "no Content-Type": {},  # not read as JSON: a browser sends it cross-site without a CORS preflight
}


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "fastapi-route"])
async def test_a_message_not_sent_as_json_is_415_naming_json_and_yields_no_event(
    service_env: dict[str, Any], fast_path: bool
) -> None:
    app = create_app(_settings(service_env))
    if not fast_path:
        _without_fast_path(app)
    body = json.dumps(chat_body()).encode()
    async with running_app(app, base_url=BASE) as client:
        await wait_ready(client)
        for name, headers in NOT_JSON.items():
            response = await client.post("/v1/chat/sessions/s-media/messages", content=body, headers=headers)
            assert response.status_code == 415, (name, response.text)
            error = response.json()["error"]
            assert error["code"] == "unsupported_media_type"
            assert "application/json" in error["message"]
            assert error["details"]["accepted"] == ["application/json"]
        empty = await client.post("/v1/chat/sessions/s-media/messages", headers={"content-type": "text/plain"})
        assert empty.status_code == 415
        nothing = await client.post("/v1/chat/sessions/s-media/messages")  # no type, no body: the body is missing
        assert nothing.status_code == 400, nothing.text
        for content_type in ("application/json; charset=UTF-8", "application/vnd.example+json"):
            accepted = await client.post(
                "/v1/chat/sessions/s-media/messages", content=body, headers={"content-type": content_type}
            )
            assert accepted.status_code == 202, (content_type, accepted.text)
        metrics = (await client.get("/metrics")).text
    assert len(await _messages(service_env, 2, settle_s=1.0)) == 2
    assert _rejected(metrics, "unsupported_media_type") == len(NOT_JSON) + 1


async def test_close_by_sendbeacon_accepts_text_plain_json_and_refuses_other_media_types(
    service_env: dict[str, Any],
) -> None:
    calls: list[tuple[str, str | None]] = []
    router = _stub_router({"chat:s-left": 202}, calls)
    url = "/v1/chat/sessions/s-left/close"
    async with _client(_settings(service_env), router=router) as client:
        # navigator.sendBeacon(url, JSON.stringify(...)) posts text/plain;charset=UTF-8
        beacon = await client.post(
            url, content=b'{"visitor_id": "v-1"}', headers={"content-type": "text/plain;charset=UTF-8"}
        )
        assert beacon.status_code == 200, beacon.text
        assert beacon.json()["abandoned"] is True
        assert (await client.post(url)).status_code == 200  # sendBeacon(url): no body at all
        assert (await client.post(url, json={})).status_code == 200
        assert (await client.post(url, content=b"{}")).status_code == 200  # a Blob without a type
        assert (
            await client.post(url, headers={"content-type": "application/x-www-form-urlencoded"})
        ).status_code == 200
        for name, content, headers in [
            ("form", b"visitor_id=v-1", {"content-type": "application/x-www-form-urlencoded"}),
            ("multipart", b"--x--\r\n", {"content-type": "multipart/form-data; boundary=x"}),
            ("xml", b"<left/>", {"content-type": "application/xml"}),
        ]:
            refused = await client.post(url, content=content, headers=headers)
            assert refused.status_code == 415, (name, refused.text)
            error = refused.json()["error"]
            assert error["code"] == "unsupported_media_type"
            assert error["details"]["accepted"] == ["application/json", "text/plain"]
        for content, content_type in [
            (b"bye", "text/plain"),
            (b"[]", "application/json"),
            (b"{nope", "application/json"),
        ]:
            malformed = await client.post(url, content=content, headers={"content-type": content_type})
            assert malformed.status_code == 400, (content, malformed.text)
            assert malformed.json()["error"]["code"] == "invalid_request"
    assert len(calls) == 5  # refused and malformed closes never reach the router


async def test_start_session_takes_no_body_or_a_json_object(service_env: dict[str, Any]) -> None:
    url = "/v1/chat/sessions"
    async with _client(_settings(service_env)) as client:
        assert (await client.post(url)).status_code == 201
        assert (await client.post(url, json={})).status_code == 201
        assert (await client.post(url, headers={"content-type": "text/plain"})).status_code == 201  # no body
        # `fetch(url, {method: "POST", body: "{}"})` sends text/plain, as sendBeacon does
        for headers in ({"content-type": "text/plain;charset=UTF-8"}, {}):
            assert (await client.post(url, content=b"{}", headers=headers)).status_code == 201, headers
        refused = await client.post(url, content=b"a=b", headers={"content-type": "application/x-www-form-urlencoded"})
        assert refused.status_code == 415, refused.text
        assert refused.json()["error"]["details"]["accepted"] == ["application/json", "text/plain"]
        malformed = await client.post(url, content=b"{nope", headers={"content-type": "application/json"})
        assert malformed.status_code == 400
        not_an_object = await client.post(url, content=b"[1]", headers={"content-type": "text/plain"})
        assert not_an_object.status_code == 400


async def test_openapi_declares_the_accepted_media_types_and_415(service_env: dict[str, Any]) -> None:
    async with _client(_settings(service_env)) as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
    messages = paths["/v1/chat/sessions/{session_id}/messages"]["post"]
    close = paths["/v1/chat/sessions/{session_id}/close"]["post"]
    start = paths["/v1/chat/sessions"]["post"]
    for operation in (messages, close, start):
        assert "415" in operation["responses"]
    assert set(messages["requestBody"]["content"]) == {"application/json"}
    assert set(close["requestBody"]["content"]) == {"application/json", "text/plain"}
    assert set(start["requestBody"]["content"]) == {"application/json", "text/plain"}
    assert not close["requestBody"].get("required") and not start["requestBody"].get("required")
    assert "400" in start["responses"]


async def test_a_malformed_traceparent_is_ignored_and_a_valid_one_carried(service_env: dict[str, Any]) -> None:
    valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    async with _client(_settings(service_env)) as client:
        for n, traceparent in enumerate(["garbage", valid.upper(), valid]):
            response = await client.post(
                "/v1/chat/sessions/s-trace/messages",
                json=chat_body(f"trace {n}"),
                headers={"traceparent": traceparent},
            )
            assert response.status_code == 202, (traceparent, response.text)
        sms = await _post_sms(client, sms_params(sid="SM" + "7" * 31 + "1", body="trace sms"), traceparent="x")
        assert sms.status_code == 200, sms.text
    events = {e.data.text: e for e in await _messages(service_env, 4)}
    assert {text: e.traceparent for text, e in events.items()} == {
        "trace 0": None,
        "trace 1": None,
        "trace 2": valid,
        "trace sms": None,
    }
