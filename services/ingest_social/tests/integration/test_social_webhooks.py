"""Each provider's real format, signed by its documented recipe, read back from the real Kafka."""

from __future__ import annotations

import base64
import json
import socket
import threading
from typing import Any

import pytest
import redis.asyncio as aioredis
from social_samples import (
    JA_BILLING,
    LINE_TEXT,
    SECRETS,
    TELEGRAM_START,
    WHATSAPP_TEXT,
    X_DM,
    dumps,
    line_event,
    line_follow,
    line_sig,
    messenger_batch,
    meta_sig,
    whatsapp_batch,
    x_sig,
)

from omni_ingest_social.app import create_app
from omni_ingest_social.handlers import PARSE_IN_THREAD_BYTES
from omni_ingest_social.settings import Settings
from omni_schemas import CloudEvent
from omni_service.testing import read_events, running_app, wait_ready

pytestmark = pytest.mark.integration

MESSAGES = "omni.messages.v1"
LINE_SECRET = SECRETS["line_channel_secret"]
META_SECRET = SECRETS["meta_app_secret"]


def _line_headers(body: bytes) -> dict[str, str]:
    return {"content-type": "application/json", "x-line-signature": line_sig(LINE_SECRET, body)}


def _meta_headers(body: bytes) -> dict[str, str]:
    return {"content-type": "application/json", "x-hub-signature-256": meta_sig(META_SECRET, body)}


async def _events(settings: Settings, count: int, *, settle_s: float = 1.0) -> list[CloudEvent]:
    return await read_events(
        settings.kafka_bootstrap_servers, settings.topic(MESSAGES), count=count, settle_s=settle_s, timeout_s=15
    )


def _metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_line_post_with_several_events_publishes_only_the_messages(social_settings: Settings) -> None:
    body = dumps(
        {
            "destination": "U123",
            "events": [
                line_event(JA_BILLING, event_id="01HLINE0001", message_id="9001"),
                line_follow("01HLINE0002"),
                line_event(
                    "Can I change my delivery address?", event_id="01HLINE0003", message_id="9002", user="U1111"
                ),
            ],
        }
    )
    async with running_app(create_app(social_settings)) as client:
        await wait_ready(client)
        response = await client.post("/webhooks/line", content=body, headers=_line_headers(body))
        assert response.status_code == 200, response.text
        assert response.json() == {"accepted": 2, "duplicates": 0, "ignored": 1, "rejected": 0}
        verify = b'{"destination":"U123","events":[]}'
        assert (await client.post("/webhooks/line", content=verify, headers=_line_headers(verify))).status_code == 200
        metrics = (await client.get("/metrics")).text
    events = await _events(social_settings, 2)
    assert [e.type for e in events] == ["omni.message.received.v1"] * 2
    by_id = {e.data.provider_message_id: e for e in events}  # type: ignore[attr-defined]
    ja, en = by_id["9001"], by_id["9002"]
    assert ja.subject == ja.data.thread_key == "line:U206d25c2ea6bd87c17655609a1c37cb8"  # type: ignore[attr-defined]
    assert ja.data.text == JA_BILLING  # type: ignore[attr-defined]
    assert ja.data.language == "ja"  # type: ignore[attr-defined]
    assert en.data.language == "en"  # type: ignore[attr-defined]
    assert en.data.customer.address == "U1111"  # type: ignore[attr-defined]
    assert _metric(metrics, "omni_ingest_ignored_total", provider="line", reason="follow") == 1
    assert _metric(metrics, "omni_ingest_accepted_total", provider="line", channel="line") == 2


async def test_meta_batches_publish_every_message_of_every_entry(social_settings: Settings) -> None:
    bodies = [messenger_batch(), whatsapp_batch(), WHATSAPP_TEXT]
    async with running_app(create_app(social_settings)) as client:
        await wait_ready(client)
        answers = [await client.post("/webhooks/meta", content=b, headers=_meta_headers(b)) for b in bodies]
        verify = await client.get(
            "/webhooks/meta",
            params={"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "meatyhamhock"},
        )
        refused = await client.get(
            "/webhooks/meta", params={"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "nope"}
        )
    assert [a.json()["accepted"] for a in answers] == [2, 2, 1], [a.text for a in answers]
    assert (verify.status_code, verify.text) == (200, "1158201444")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    events = await _events(social_settings, 5)
    got = sorted((e.data.channel.value, e.data.provider_message_id, e.data.thread_key) for e in events)  # type: ignore[attr-defined]
    assert got == sorted(
        [
            ("messenger", "m_1", "messenger:1234567890:PSID-1"),
            ("messenger", "m_2", "messenger:1234567890:PSID-2"),
            ("whatsapp", "wamid.A", "whatsapp:106540352242922:819012345678"),
            ("whatsapp", "wamid.B", "whatsapp:106540352242922:819012345678"),
            (
                "whatsapp",
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                "whatsapp:106540352242922:16505551234",
            ),
        ]
    )
    assert all(e.subject == e.data.thread_key for e in events)  # type: ignore[attr-defined]


async def test_telegram_and_x_deliveries_and_x_crc(social_settings: Settings) -> None:
    own = X_DM.replace(b'"sender_id":"3001969357"', b'"sender_id":"4337869213"').replace(
        b"954491830116155396", b"954491830116155397"
    )
    async with running_app(create_app(social_settings)) as client:
        await wait_ready(client)
        tg = await client.post(
            "/webhooks/telegram",
            content=TELEGRAM_START,
            headers={"x-telegram-bot-api-secret-token": SECRETS["telegram_secret_token"]},
        )
        x = await client.post(
            "/webhooks/x",
            content=X_DM,
            headers={"x-twitter-webhooks-signature": x_sig(SECRETS["x_consumer_secret"], X_DM)},
        )
        mine = await client.post(
            "/webhooks/x",
            content=own,
            headers={"x-twitter-webhooks-signature": x_sig(SECRETS["x_consumer_secret"], own)},
        )
        crc = await client.get("/webhooks/x", params={"crc_token": "challenge-abc"})
    assert (tg.status_code, x.status_code) == (200, 200), (tg.text, x.text)
    assert mine.json() == {"accepted": 0, "duplicates": 0, "ignored": 1, "rejected": 0}
    assert crc.json()["response_token"] == x_sig(SECRETS["x_consumer_secret"], b"challenge-abc")
    events = await _events(social_settings, 2)
    assert sorted(e.data.thread_key for e in events) == ["telegram:1111111", "x:4337869213:3001969357"]  # type: ignore[attr-defined]


async def test_bad_signature_and_malformed_bodies_publish_nothing(social_settings: Settings) -> None:
    good = dumps({"events": [line_event("ok", event_id="01HGOOD")]})
    async with running_app(create_app(social_settings)) as client:
        await wait_ready(client)
        forged = await client.post(
            "/webhooks/line", content=LINE_TEXT, headers={"x-line-signature": line_sig("wrong-secret", LINE_TEXT)}
        )
        unsigned = await client.post("/webhooks/meta", content=WHATSAPP_TEXT)
        wrong_token = await client.post(
            "/webhooks/telegram", content=TELEGRAM_START, headers={"x-telegram-bot-api-secret-token": "guess"}
        )
        broken = b'{"events":[{"type":"message","source":{"type":"user"}}]}'
        malformed = await client.post("/webhooks/line", content=broken, headers=_line_headers(broken))
        not_json = await client.post("/webhooks/meta", content=b"{oops", headers=_meta_headers(b"{oops"))
        big = b'{"events":[],"pad":"' + b"x" * (social_settings.max_body_bytes + 10) + b'"}'
        oversize = await client.post("/webhooks/line", content=big, headers=_line_headers(big))
        meta_batch = b'{"object":"page","entry":[],"pad":"' + b"x" * (social_settings.max_body_bytes + 10) + b'"}'
        large_meta = await client.post("/webhooks/meta", content=meta_batch, headers=_meta_headers(meta_batch))
        ok = await client.post("/webhooks/line", content=good, headers=_line_headers(good))
        metrics = (await client.get("/metrics")).text
    assert [r.status_code for r in (forged, unsigned, wrong_token)] == [401, 401, 401]
    assert forged.json()["error"]["code"] == "unauthorized"
    assert malformed.status_code == 400
    assert malformed.json()["error"]["details"]["field"] == "events[0].source.userId"
    assert not_json.status_code == 400
    assert oversize.status_code == 413
    assert large_meta.status_code == 200  # Meta batches may reach a few MiB
    assert ok.status_code == 200
    events = await _events(social_settings, 1, settle_s=1.5)
    assert [e.data.provider_message_id for e in events] == ["325708"]  # type: ignore[attr-defined]
    assert _metric(metrics, "omni_ingest_rejected_total", provider="line", reason="bad_signature") == 1
    assert _metric(metrics, "omni_ingest_rejected_total", provider="meta", reason="missing_signature") == 1
    assert _metric(metrics, "omni_ingest_rejected_total", provider="line", reason="malformed") == 1


async def test_redelivery_yields_one_event_even_across_a_restart(social_settings: Settings) -> None:
    redelivered = LINE_TEXT.replace(b'"isRedelivery":false', b'"isRedelivery":true')
    async with running_app(create_app(social_settings)) as client:
        await wait_ready(client)
        first = await client.post("/webhooks/line", content=LINE_TEXT, headers=_line_headers(LINE_TEXT))
        again = await client.post("/webhooks/line", content=redelivered, headers=_line_headers(redelivered))
        tg = [
            await client.post(
                "/webhooks/telegram",
                content=TELEGRAM_START,
                headers={"x-telegram-bot-api-secret-token": SECRETS["telegram_secret_token"]},
            )
            for _ in range(2)
        ]
    async with running_app(create_app(social_settings)) as client:  # a restarted adapter remembers
        await wait_ready(client)
        after_restart = await client.post("/webhooks/line", content=LINE_TEXT, headers=_line_headers(LINE_TEXT))
        metrics = (await client.get("/metrics")).text
    assert first.json()["accepted"] == 1
    assert again.json() == {"accepted": 0, "duplicates": 1, "ignored": 0, "rejected": 0}
    assert [r.json()["duplicates"] for r in tg] == [0, 1]
    assert after_restart.json()["duplicates"] == 1
    assert _metric(metrics, "omni_ingest_deduplicated_total", provider="line") == 1
    events = await _events(social_settings, 2, settle_s=1.5)
    assert sorted(e.data.provider_message_id for e in events) == ["1111111:1365", "325708"]  # type: ignore[attr-defined]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_kafka_unavailable_answers_503_and_the_retry_is_accepted(social_settings: Settings) -> None:
    body = messenger_batch()
    down = social_settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{_closed_port()}"})
    async with running_app(create_app(down)) as client:
        refused = await client.post("/webhooks/meta", content=body, headers=_meta_headers(body))
        ready = await client.get("/readyz")
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "kafka_unavailable"
    assert ready.status_code == 503
    async with running_app(create_app(social_settings)) as client:  # Kafka back: Meta's retry
        await wait_ready(client)
        retried = await client.post("/webhooks/meta", content=body, headers=_meta_headers(body))
    assert retried.json()["accepted"] == 2
    events = await _events(social_settings, 2, settle_s=1.0)
    assert sorted(e.data.provider_message_id for e in events) == ["m_1", "m_2"]  # type: ignore[attr-defined]


async def test_unconfigured_channel_answers_503(social_settings: Settings) -> None:
    off = social_settings.model_copy(update={"line_channel_secret": None})
    async with running_app(create_app(off)) as client:
        response = await client.post("/webhooks/line", content=LINE_TEXT, headers=_line_headers(LINE_TEXT))
    assert response.status_code == 503
    assert json.loads(response.text)["error"]["code"] == "channel_not_configured"


async def test_concurrent_deliveries_are_each_answered_after_their_own_ack(social_settings: Settings) -> None:
    import asyncio

    bodies = [
        dumps(
            {
                "events": [
                    line_event(f"問い合わせ {i}", event_id=f"01HCONC{i:03d}", message_id=str(i)),
                    line_event(f"question {i}", event_id=f"01HCONC{i + 100:03d}", message_id=str(i + 100)),
                ]
            }
        )
        for i in range(20)
    ]
    bodies += bodies[:5]  # redeliveries racing their first delivery
    async with running_app(create_app(social_settings)) as client:
        await wait_ready(client)
        answers = await asyncio.gather(
            *(client.post("/webhooks/line", content=b, headers=_line_headers(b)) for b in bodies)
        )
        metrics = (await client.get("/metrics")).text
    assert {a.status_code for a in answers} == {200}
    assert sum(a.json()["accepted"] for a in answers) == 40
    assert sum(a.json()["duplicates"] for a in answers) == 10
    assert _metric(metrics, "omni_ingest_ack_seconds_count", provider="line") == 25
    events = await _events(social_settings, 40, settle_s=1.0)
    assert len(events) == 40
    assert len({e.id for e in events}) == 40


async def test_documented_non_message_payloads_answer_200_and_a_username_whatsapp_user_is_published(
    social_settings: Settings,
) -> None:
    revoke = (
        b'{"user_event":{"revoke":{"date_time":"2018-05-24T09:48:12+00:00",'
        b'"target":{"app_id":"13090192"},"source":{"user_id":"63046977"}}}}'
    )
    joined = dumps(
        {
            "update_id": 20001,
            "message": {
                "message_id": 3,
                "from": {"id": 2222222, "is_bot": False, "first_name": "花子"},
                "chat": {"id": -1001234567890, "title": "Support", "type": "supergroup"},
                "date": 1700000000,
                "new_chat_members": [{"id": 2222222, "is_bot": False, "first_name": "花子"}],
            },
        }
    )
    bsuid = "US.13491208655302741918"
    username_user = WHATSAPP_TEXT.replace(b'"wa_id":"16505551234"', f'"user_id":"{bsuid}"'.encode()).replace(
        b'"from":"16505551234"', f'"from_user_id":"{bsuid}"'.encode()
    )
    async with running_app(create_app(social_settings)) as client:
        await wait_ready(client)
        x = await client.post(
            "/webhooks/x",
            content=revoke,
            headers={"x-twitter-webhooks-signature": x_sig(SECRETS["x_consumer_secret"], revoke)},
        )
        tg = await client.post(
            "/webhooks/telegram",
            content=joined,
            headers={"x-telegram-bot-api-secret-token": SECRETS["telegram_secret_token"]},
        )
        wa = await client.post("/webhooks/meta", content=username_user, headers=_meta_headers(username_user))
    assert (x.status_code, x.json()) == (200, {"accepted": 0, "duplicates": 0, "ignored": 1, "rejected": 0})
    assert (tg.status_code, tg.json()) == (200, {"accepted": 0, "duplicates": 0, "ignored": 1, "rejected": 0})
    assert (wa.status_code, wa.json()) == (200, {"accepted": 1, "duplicates": 0, "ignored": 0, "rejected": 0}), wa.text
    [event] = await _events(social_settings, 1, settle_s=1.0)
    assert event.subject == f"whatsapp:106540352242922:{bsuid}"
    assert event.data.customer.address == bsuid  # type: ignore[attr-defined]
    assert event.data.customer.display_name == "Sheena Nelson"  # type: ignore[attr-defined]


async def test_a_malformed_item_is_dead_lettered_and_the_rest_of_the_batch_goes_in(social_settings: Settings) -> None:
    broken = {"type": "message", "webhookEventId": "01HBROKEN", "source": {"type": "user"}, "message": {"id": "7"}}
    body = dumps(
        {
            "destination": "U123",
            "events": [
                line_event(JA_BILLING, event_id="01HMIX0001", message_id="8001"),
                broken,
                line_event("And a second question", event_id="01HMIX0002", message_id="8002"),
            ],
        }
    )
    async with running_app(create_app(social_settings)) as client:
        await wait_ready(client)
        response = await client.post("/webhooks/line", content=body, headers=_line_headers(body))
        again = await client.post("/webhooks/line", content=body, headers=_line_headers(body))  # LINE's retry
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 2, "duplicates": 0, "ignored": 0, "rejected": 1}
    assert again.json() == {"accepted": 0, "duplicates": 2, "ignored": 0, "rejected": 1}
    events = await _events(social_settings, 2)
    assert sorted(e.data.provider_message_id for e in events) == ["8001", "8002"]  # type: ignore[attr-defined]
    letters = await read_events(
        social_settings.kafka_bootstrap_servers, social_settings.topic("omni.deadletter.v1"), count=2, timeout_s=15
    )
    assert len(letters) == 2  # one per delivery that carried it
    letter: Any = letters[0].data
    assert "events[1].source.userId" in letter.reason
    assert letter.endpoint == "ingest_social:line"
    assert json.loads(base64.b64decode(letter.payload_base64)) == broken
    assert _metric(metrics, "omni_ingest_rejected_total", provider="line", reason="malformed_item") == 2


async def test_a_big_batch_is_parsed_off_the_event_loop_and_a_small_one_on_it(social_settings: Settings) -> None:
    # a batch of thousands of messages takes seconds to parse (language detection per message): on the
    # loop, every other delivery would wait for it
    threads: list[str] = []

    def detect(text: str) -> str | None:
        threads.append(threading.current_thread().name)
        return "ja"

    text = "注文の件でご相談があります。" * 20
    big = dumps(
        {
            "destination": "U123",
            "events": [line_event(text, event_id=f"01HBIG{i:05d}", message_id=f"b{i}") for i in range(600)],
        }
    )
    small = dumps({"destination": "U123", "events": [line_event(text, event_id="01HSMALL", message_id="s1")]})
    assert len(big) > PARSE_IN_THREAD_BYTES >= len(small)
    async with running_app(create_app(social_settings, detect=detect)) as client:
        await wait_ready(client)
        for body, accepted in ((small, 1), (big, 600)):
            response = await client.post("/webhooks/line", content=body, headers=_line_headers(body))
            assert (response.status_code, response.json()["accepted"]) == (200, accepted), response.text
    main = threading.main_thread().name
    assert threads[0] == main
    assert len(threads) == 601 and not set(threads[1:]) & {main}
    assert len(await _events(social_settings, 601)) == 601


async def test_a_provider_id_of_any_length_dedupes_under_a_bounded_redis_key(social_settings: Settings) -> None:
    event_id = "01H" + "X" * 200_000  # LINE's webhookEventId is the dedupe key; nothing bounds its length
    body = dumps({"destination": "U123", "events": [line_event("再送テスト", event_id=event_id, message_id="L1")]})
    async with running_app(create_app(social_settings)) as client:
        await wait_ready(client)
        answers = [
            (await client.post("/webhooks/line", content=body, headers=_line_headers(body))).json() for _ in "ab"
        ]
    assert [(a["accepted"], a["duplicates"]) for a in answers] == [(1, 0), (0, 1)]
    assert len(await _events(social_settings, 1)) == 1
    redis = aioredis.from_url(social_settings.redis_url)
    try:
        keys = [k async for k in redis.scan_iter(match="omni:ingest:seen:line:*")]
    finally:
        await redis.aclose()
    assert len(keys) == 1 and len(keys[0]) < 600
