"""Accepted e-mail webhooks per second, end to end to the Kafka ack, against raw aiokafka produce.

The service runs as in production (`python -m omni_ingest_email`, uvicorn with uvloop) in its own
process; a light keep-alive HTTP client posts signed Mailgun route forwards (urlencoded, one mail
each, Japanese and English, replies with quoted history) from CONCURRENCY connections and counts
the 200s. Each accepted post costs the full path: form parse, signature, MIME facts, reply
stripping, language, thread lookup, token ledger, dedupe, publish and ack. The baseline, in the
same run, sends the very same CloudEvents with a bare idempotent `AIOKafkaProducer` (acks=all),
CONCURRENCY senders each waiting for its ack, as a webhook must. For scale, the note records how
fast the same server answers a bare GET /healthz in the same run: the HTTP stack's own ceiling.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
import urllib.parse
import uuid
from datetime import UTC, datetime

from omni_ingest_email.domain import choose_thread_key, to_message
from omni_ingest_email.domain.forms import parse_form
from omni_ingest_email.domain.mailgun import parse_mailgun
from omni_schemas import Provider, new_event, to_record
from omni_service.bench import free_port, post_all, raw_produce, report, run_service, start_raw_producer

KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
REDIS = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/13"
KEY = "bench-mailgun-key"
CONCURRENCY = int(os.environ.get("OMNI_BENCH_CONCURRENCY", "32"))
REQUESTS = int(os.environ.get("OMNI_BENCH_REQUESTS", "2000"))
ROUNDS = 2
TEXTS = [
    ("請求書について", "請求書の金額が間違っているようです。確認していただけますか？"),
    ("Re: Order 42", "Where is my order? It has not arrived yet."),
    ("配送の件", "注文した商品がまだ届いていません。"),
    ("Address change", "Can I change the delivery address?"),
]


def _bodies(count: int, tag: str) -> list[bytes]:
    now = int(time.time())
    bodies = []
    for i in range(count):
        subject, text = TEXTS[i % len(TEXTS)]
        token = hashlib.sha256(f"{tag}-{i}".encode()).hexdigest()[:50]
        signature = hmac.new(KEY.encode(), f"{now}{token}".encode(), hashlib.sha256).hexdigest()
        message_id = f"<{tag}-{i}@customer.example>"
        fields = {
            "recipient": "support@mg.example.com",
            "sender": f"customer{i % 500}@example.org",
            "from": f"Customer {i % 500} <customer{i % 500}@example.org>",
            "subject": subject,
            "body-plain": f"{text}\r\n\r\nOn Mon, May 13, 2024 at 9:00 AM Support <support@mg.example.com> wrote:\r\n"
            "> Thank you for contacting us.\r\n",
            "message-headers": (
                f'[["Message-Id", "{message_id}"], ["In-Reply-To", "<ticket-{i % 50}@mg.example.com>"], '
                f'["References", "<ticket-{i % 50}@mg.example.com>"], ["Date", "Tue, 14 May 2024 10:00:00 +0000"]]'
            ),
            "Message-Id": message_id,
            "timestamp": str(now),
            "token": token,
            "signature": signature,
        }
        bodies.append(urllib.parse.urlencode(fields).encode())
    return bodies


def _request(port: int, body: bytes) -> bytes:
    head = (
        f"POST /webhooks/email/mailgun HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _records(bodies: list[bytes], suffix: str) -> list[tuple[str, bytes | None, bytes, list]]:
    now = datetime.now(UTC)
    records = []
    for body in bodies:
        mail = parse_mailgun(parse_form("application/x-www-form-urlencoded", body))
        message = to_message(
            mail,
            provider=Provider.MAILGUN,
            thread_key=choose_thread_key(mail).thread_key,
            message_id=uuid.uuid4(),
            received_at=now,
        )
        record = to_record(new_event("omni.message.received.v1", message, source="/omni/ingest_email"))
        records.append((record.topic + suffix, record.key, record.value, record.headers))
    return records


async def main() -> None:
    env = {"MAILGUN_SIGNING_KEY": KEY, "SMTP_PORT": str(free_port()), "SMTP_HOST": "127.0.0.1"}
    async with run_service("omni_ingest_email", kafka=KAFKA, redis_url=REDIS, env=env) as service:
        port, suffix = service.port, service.suffix
        producer = await start_raw_producer(KAFKA)
        try:
            await post_all(port, [_request(port, b) for b in _bodies(300, f"warm{suffix}")], concurrency=CONCURRENCY)
            await raw_produce(producer, _records(_bodies(300, f"warmraw{suffix}"), suffix), concurrency=CONCURRENCY)
            service_rates, raw_rates, floor_rates = [], [], []
            health = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
            for n in range(ROUNDS):
                floor_rates.append(await post_all(port, [health] * REQUESTS, concurrency=CONCURRENCY))
                bodies = _bodies(REQUESTS, f"r{n}{suffix}")
                raw_rates.append(await raw_produce(producer, _records(bodies, suffix), concurrency=CONCURRENCY))
                service_rates.append(await post_all(port, [_request(port, b) for b in bodies], concurrency=CONCURRENCY))
        finally:
            await producer.stop()
    report(
        "ingest_email_mailgun_webhooks_per_second",
        max(service_rates),
        "webhooks/s",
        baseline=max(raw_rates),
        target=0.5,
        note=f"{REQUESTS} signed Mailgun route forwards x {ROUNDS} rounds, {CONCURRENCY} connections; "
        "baseline: the same events by a bare idempotent aiokafka producer, same concurrency; "
        f"the same server answers GET /healthz at {max(floor_rates):.0f}/s in this run (the HTTP stack's ceiling)",
    )


if __name__ == "__main__":
    asyncio.run(main())
