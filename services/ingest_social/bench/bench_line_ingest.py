"""Accepted LINE webhooks per second, end to end to the Kafka ack, against raw aiokafka produce.

The service runs as in production (`python -m omni_ingest_social`, uvicorn with uvloop) in its
own process; a light keep-alive HTTP client posts signed LINE webhooks (one message each, a mix
of Japanese and English) from CONCURRENCY connections and counts the 200s. The baseline, in the
same run, sends the very same CloudEvents with a bare idempotent `AIOKafkaProducer` (acks=all),
CONCURRENCY senders each waiting for its ack, like the webhooks do.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
from datetime import UTC, datetime

from omni_ingest_social.domain import detect_language, parse_line
from omni_schemas import new_event, to_record
from omni_service.bench import post_all, raw_produce, report, run_service, start_raw_producer

KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
REDIS = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/14"
SECRET = "bench-line-secret"
CONCURRENCY = int(os.environ.get("OMNI_BENCH_CONCURRENCY", "32"))
REQUESTS = int(os.environ.get("OMNI_BENCH_REQUESTS", "3000"))
ROUNDS = 2
BATCH = 10
TEXTS = [
    "請求書の金額が間違っているようです。確認していただけますか？",
    "Where is my order? It has not arrived yet.",
    "注文した商品がまだ届いていません。",
    "Can I change the delivery address?",
]


def _bodies(count: int, tag: str, *, per_body: int = 1) -> list[bytes]:
    """`count` signed-to-be LINE webhook bodies, each with `per_body` text message events."""
    bodies = []
    for i in range(count):
        events = []
        for k in range(per_body):
            n = i * per_body + k
            events.append(
                {
                    "replyToken": f"r{n}",
                    "type": "message",
                    "mode": "active",
                    "timestamp": 1_700_000_000_000 + n,
                    "source": {"type": "user", "userId": f"U{tag}{n % 500:05d}"},
                    "webhookEventId": f"{tag}-{n}",
                    "deliveryContext": {"isRedelivery": False},
                    "message": {"id": f"{n}", "type": "text", "text": TEXTS[n % len(TEXTS)], "quoteToken": "q"},
                }
            )
        doc = {"destination": "Ubench", "events": events}
        bodies.append(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode())
    return bodies


def _request(port: int, body: bytes) -> bytes:
    signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    head = (
        f"POST /webhooks/line HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"X-Line-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _records(bodies: list[bytes], suffix: str) -> list[tuple[str, bytes | None, bytes, list]]:
    now = datetime.now(UTC)
    records = []
    for body in bodies:
        for routed in parse_line(body, received_at=now, detect=detect_language).routed:
            record = to_record(new_event("omni.message.received.v1", routed.message, source="/omni/ingest_social"))
            records.append((record.topic + suffix, record.key, record.value, record.headers))
    return records


async def main() -> None:
    env = {"LINE_CHANNEL_SECRET": SECRET}
    async with run_service("omni_ingest_social", kafka=KAFKA, redis_url=REDIS, env=env) as service:
        port, suffix = service.port, service.suffix
        producer = await start_raw_producer(KAFKA)
        try:
            await post_all(port, [_request(port, b) for b in _bodies(300, f"warm{suffix}")], concurrency=CONCURRENCY)
            await raw_produce(producer, _records(_bodies(300, f"warmraw{suffix}"), suffix), concurrency=CONCURRENCY)
            service_rates, raw_rates, batched_rates, batched_raw = [], [], [], []
            for n in range(ROUNDS):
                bodies = _bodies(REQUESTS, f"r{n}{suffix}")
                raw_rates.append(await raw_produce(producer, _records(bodies, suffix), concurrency=CONCURRENCY))
                service_rates.append(await post_all(port, [_request(port, b) for b in bodies], concurrency=CONCURRENCY))
                batched = _bodies(REQUESTS // BATCH, f"b{n}{suffix}", per_body=BATCH)
                batched_raw.append(await raw_produce(producer, _records(batched, suffix), concurrency=CONCURRENCY))
                batched_rates.append(
                    BATCH * await post_all(port, [_request(port, b) for b in batched], concurrency=CONCURRENCY)
                )
        finally:
            await producer.stop()
    report(
        "ingest_social_line_webhooks_per_second",
        max(service_rates),
        "webhooks/s",
        baseline=max(raw_rates),
        target=0.5,
        note=f"{REQUESTS} signed LINE webhooks of one message x {ROUNDS} rounds, {CONCURRENCY} connections; "
        "baseline: the same events by a bare idempotent aiokafka producer, same concurrency",
    )
    report(
        "ingest_social_line_batched_messages_per_second",
        max(batched_rates),
        "messages/s",
        baseline=max(batched_raw),
        target=0.5,
        note=f"signed LINE webhooks of {BATCH} message events each; baseline as above",
    )


if __name__ == "__main__":
    asyncio.run(main())
