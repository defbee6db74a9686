"""Accepted web chat messages per second, end to end to the Kafka ack, against raw aiokafka produce.

The service runs as in production (`python -m omni_ingest_chat`: uvicorn, uvloop, httptools) in its
own process; a light keep-alive HTTP/1.1 client posts web chat messages (a mix of Japanese and
English, each with a client message id, so the dedupe path runs) from CONCURRENCY connections and
counts the 202s. The baseline, in the same run, sends the very same CloudEvents with a bare
idempotent `AIOKafkaProducer` (acks=all), CONCURRENCY senders each waiting for its ack, as the
HTTP requests do. A second figure does the same for signed Twilio SMS webhooks.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

from omni_ingest_chat.domain.twilio_signature import compute_signature, group_params
from omni_ingest_chat.domain.twilio_sms import parse_inbound_message
from omni_ingest_chat.domain.webchat import ChatMessageIn, normalize_chat_message
from omni_schemas import new_event, to_record
from omni_service.bench import post_all, raw_produce, report, run_service, start_raw_producer
from omni_service.ingest import stable_id

KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
REDIS = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/13"
TWILIO_TOKEN = "bench-twilio-token"
CONCURRENCY = 32
REQUESTS = int(os.environ.get("OMNI_BENCH_REQUESTS", "3000"))
ROUNDS = 2
TEXTS = [
    "注文した商品がまだ届きません。確認していただけますか？",
    "Where is my order? It has not arrived yet.",
    "パスワードを再設定できません。",
    "Can I change the delivery address?",
]

Record = tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]


def _chat_bodies(count: int, tag: str) -> list[tuple[str, bytes]]:
    """(session id, JSON body) of `count` chat messages spread over 500 sessions."""
    out = []
    for i in range(count):
        doc = {
            "text": TEXTS[i % len(TEXTS)],
            "visitor": {"id": f"v{i % 500}", "name": "山田 花子", "email": None},
            "client_message_id": f"{tag}-{i}",
        }
        out.append((f"{tag}-s{i % 500}", json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()))
    return out


def _sms_forms(count: int, tag: str) -> list[list[tuple[str, str]]]:
    forms = []
    for i in range(count):
        sid = "SM" + uuid.uuid5(uuid.NAMESPACE_URL, f"{tag}-{i}").hex
        forms.append(
            [
                ("ToCountry", "US"),
                ("SmsMessageSid", sid),
                ("NumMedia", "0"),
                ("SmsSid", sid),
                ("SmsStatus", "received"),
                ("Body", TEXTS[i % len(TEXTS)]),
                ("FromCountry", "JP"),
                ("To", "+15005550006"),
                ("NumSegments", "1"),
                ("MessageSid", sid),
                ("AccountSid", "AC" + "0" * 32),
                ("From", f"+8190{10000000 + i % 500}"),
                ("ApiVersion", "2010-04-01"),
            ]
        )
    return forms


def _chat_request(port: int, session: str, body: bytes) -> bytes:
    head = (
        f"POST /v1/chat/sessions/{session}/messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _sms_request(port: int, form: list[tuple[str, str]]) -> bytes:
    body = urlencode(form).encode()
    signature = compute_signature(TWILIO_TOKEN, f"http://127.0.0.1:{port}/webhooks/sms/twilio", group_params(form))
    head = (
        f"POST /webhooks/sms/twilio HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: {signature}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _record(message: object, suffix: str) -> Record:
    record = to_record(new_event("omni.message.received.v1", message, source="/omni/ingest_chat"))
    return (record.topic + suffix, record.key, record.value, list(record.headers))


def _chat_records(bodies: list[tuple[str, bytes]], suffix: str) -> list[Record]:
    now = datetime.now(UTC)
    records = []
    for session, body in bodies:
        parsed = ChatMessageIn.model_validate_json(body)
        normalized = normalize_chat_message(session, parsed, message_id=uuid.uuid4(), received_at=now)
        records.append(_record(normalized.message, suffix))
    return records


def _sms_records(forms: list[list[tuple[str, str]]], suffix: str) -> list[Record]:
    now = datetime.now(UTC)
    return [
        _record(
            parse_inbound_message(group_params(f), message_id=stable_id("twilio", f[1][1]), received_at=now).message,
            suffix,
        )
        for f in forms
    ]


async def _measure() -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {"chat": [], "chat_raw": [], "sms": [], "sms_raw": []}
    env = {"TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "OMNI_PUBLIC_BASE_URL": ""}
    async with run_service("omni_ingest_chat", kafka=KAFKA, redis_url=REDIS, env=env) as service:
        port, suffix = service.port, service.suffix
        producer = await start_raw_producer(KAFKA)
        try:
            warm = _chat_bodies(300, f"warm{suffix[1:]}")
            await post_all(port, [_chat_request(port, s, b) for s, b in warm], concurrency=CONCURRENCY, expect=b"202")
            await raw_produce(producer, _chat_records(warm, suffix), concurrency=CONCURRENCY)
            for n in range(ROUNDS):
                bodies = _chat_bodies(REQUESTS, f"r{n}{suffix[1:]}")
                rates["chat_raw"].append(
                    await raw_produce(producer, _chat_records(bodies, suffix), concurrency=CONCURRENCY)
                )
                rates["chat"].append(
                    await post_all(
                        port, [_chat_request(port, s, b) for s, b in bodies], concurrency=CONCURRENCY, expect=b"202"
                    )
                )
            forms = _sms_forms(REQUESTS, f"sms{suffix}")
            rates["sms_raw"].append(await raw_produce(producer, _sms_records(forms, suffix), concurrency=CONCURRENCY))
            rates["sms"].append(
                await post_all(port, [_sms_request(port, f) for f in forms], concurrency=CONCURRENCY, expect=b"200")
            )
        finally:
            await producer.stop()
    return rates


def main() -> None:
    rates = asyncio.run(_measure())
    note = (
        f"{REQUESTS} messages x {ROUNDS} rounds, {CONCURRENCY} keep-alive connections; baseline: the same "
        "events by a bare idempotent aiokafka producer (acks=all), same concurrency, same run"
    )
    report(
        "ingest_chat_webchat_messages_per_second",
        max(rates["chat"]),
        "messages/s",
        baseline=max(rates["chat_raw"]),
        target=0.5,
        note=note,
    )
    report(
        "ingest_chat_twilio_sms_webhooks_per_second",
        max(rates["sms"]),
        "webhooks/s",
        baseline=max(rates["sms_raw"]),
        target=0.5,
        note=f"{REQUESTS} signed Twilio SMS webhooks, {CONCURRENCY} connections; baseline as above",
    )


if __name__ == "__main__":
    main()
