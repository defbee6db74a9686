"""End-to-end benchmarks through real Kafka, PostgreSQL and Redis
(run: .venv/bin/python services/router/bench/bench_end_to_end.py; needs the local servers).

1. Assignments per second from `omni.message.received.v1` in to `omni.conversation.assigned.v1`
   out, against the rate of the bare atomic claim (the single-claim SQL transaction,
   `pg.try_claim`, called alone, one at a time). The router itself claims the decisions of a
   consumed batch together (`pg.claim_many`), so the ratio may exceed 1.
2. p99 time from publishing a message event to seeing its assigned event (free agents),
   against the p99 of a bare Kafka produce-to-consume round trip.

Everything runs on fresh topics, a fresh database and Redis database 15, removed afterwards.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlparse, urlunparse

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from omni_router.adapters import postgres as pg
from omni_router.app import create_app
from omni_router.settings import Settings
from omni_schemas import new_event, parse_event
from omni_service.bench import report
from omni_service.kafka import EventPublisher, delete_topics, ensure_topics
from omni_service.metrics import ServiceMetrics
from omni_service.testing import running_app, wait_ready

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
DATABASE = os.environ.get("DATABASE_URL", "postgresql://omni:omni@127.0.0.1:5432/omni")
REDIS = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
AUTH = {"Authorization": "Bearer bench-token"}


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def message(thread_key: str) -> object:
    return new_event(
        "omni.message.received.v1",
        {
            "message_id": str(uuid.uuid4()),
            "channel": "chat",
            "provider": "webchat",
            "provider_message_id": None,
            "thread_key": thread_key,
            "customer": {"address": f"visitor-{thread_key}"},
            "text": "hello, I have a question",
            "language": "en",
            "received_at": datetime.now(UTC).isoformat(),
        },
        source="/omni/bench",
    )


class Watcher:
    """Reads omni.conversations.v1 from the start; notes when each thread's conversation was assigned."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.thread_of: dict[str, str] = {}
        self.assigned_at: dict[str, float] = {}
        self._pending: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False, group_id=None)
        await self.consumer.start()
        parts = None
        for _ in range(50):
            parts = self.consumer.partitions_for_topic(self.topic)
            if parts:
                break
            await self.consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        tps = [TopicPartition(self.topic, p) for p in sorted(parts or [])]
        self.consumer.assign(tps)
        await self.consumer.seek_to_beginning(*tps)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=50)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    event = parse_event(record.value, key=record.key)
                    cid = str(event.data.conversation_id)
                    if event.type.endswith(".opened.v1"):
                        self.thread_of[cid] = event.data.thread_key
                        if cid in self._pending:
                            self.assigned_at[event.data.thread_key] = self._pending.pop(cid)
                    elif event.type.endswith(".assigned.v1"):
                        thread = self.thread_of.get(cid)
                        if thread is None:
                            self._pending[cid] = now
                        else:
                            self.assigned_at[thread] = now

    async def wait_for(self, threads: list[str], timeout_s: float = 60.0) -> None:
        deadline = time.perf_counter() + timeout_s
        while any(t not in self.assigned_at for t in threads):
            if time.perf_counter() > deadline:
                missing = sum(t not in self.assigned_at for t in threads)
                raise SystemExit(f"{missing} conversations were not assigned within {timeout_s} s")
            await asyncio.sleep(0.01)
            if os.environ.get("BENCH_DEBUG") and int(time.perf_counter() * 100) % 300 == 0:
                print("assigned so far", sum(t in self.assigned_at for t in threads), flush=True)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.consumer.stop()


async def kafka_round_trip(topic: str, samples: int) -> list[float]:
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", enable_idempotence=True, linger_ms=2)
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False, group_id=None)
    await producer.start()
    await consumer.start()
    try:
        parts = None
        for _ in range(50):
            parts = consumer.partitions_for_topic(topic)
            if parts:
                break
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        tps = [TopicPartition(topic, p) for p in sorted(parts or {0})]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        times = []
        for i in range(samples):
            started = time.perf_counter()
            await producer.send_and_wait(topic, f"ping-{i}".encode(), key=str(i).encode())
            got = False
            while not got:
                batch = await consumer.getmany(timeout_ms=50)
                got = any(r.value == f"ping-{i}".encode() for rs in batch.values() for r in rs)
            times.append(time.perf_counter() - started)
        return times
    finally:
        await producer.stop()
        await consumer.stop()


async def bare_claims(database_url: str, count: int) -> float:
    """Claims per second of the claim transaction alone, one at a time."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2, init=pg.init_connection)
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            await conn.execute(
                """insert into router_agents (agent_id, cap_chat, presence) values ('bare-agent', 1000000, 'available')
                   on conflict do nothing"""
            )
            ids = [uuid.uuid4() for _ in range(count)]
            await conn.executemany(
                """insert into router_conversations (conversation_id, thread_key, customer_id, channel, state, queue,
                                                     enqueued_at, opened_at)
                   values ($1, $2, 'bench', 'chat', 'waiting', 'general', now(), now())""",
                [(cid, f"bare-{cid}") for cid in ids],
            )
            started = time.perf_counter()
            for cid in ids:
                result = await pg.try_claim(
                    conn,
                    conversation_id=cid,
                    agent_id="bare-agent",
                    group="chat",
                    offered=False,
                    offer_expires_at=None,
                    reason={"summary": "bench", "strategy": "longest_idle"},
                    events_for=lambda row: [],
                )
                assert result.ok
            return count / (time.perf_counter() - started)
    finally:
        await pool.close()


async def main() -> None:
    suffix = f".bench{uuid.uuid4().hex[:8]}"
    await ensure_topics(BOOTSTRAP, suffix=suffix, max_partitions=3)
    name = f"omni_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(DATABASE)
    await admin.execute(f'create database "{name}"')
    await admin.close()
    database_url = urlunparse(urlparse(DATABASE)._replace(path=f"/{name}"))
    redis_url = urlunparse(urlparse(REDIS)._replace(path="/15"))
    settings = Settings(
        kafka_bootstrap_servers=BOOTSTRAP,
        database_url=database_url,
        redis_url=redis_url,
        omni_topic_suffix=suffix,
        omni_api_token="bench-token",
        log_level="WARNING",
        router_tick_s=0.1,
    )
    watcher = Watcher("omni.conversations.v1" + suffix)
    publisher = EventPublisher(
        bootstrap=BOOTSTRAP, service="bench", metrics=ServiceMetrics("bench"), topic_suffix=suffix, linger_ms=1
    )
    try:
        async with running_app(create_app(settings)) as client:
            await wait_ready(client, timeout_s=60)
            for i in range(20):
                body = {"skills": {}, "languages": ["en"], "capacity": {"chat": 1000}}
                await client.put(f"/v1/agents/bench-{i:02d}", json=body, headers=AUTH)
                await client.put(f"/v1/agents/bench-{i:02d}/presence", json={"status": "available"}, headers=AUTH)
            await publisher.start(wait=True)
            await watcher.start()

            # latency: one message at a time, free agents
            latencies = []
            for i in range(150):
                thread = f"lat-{i}"
                started = time.perf_counter()
                await publisher.publish(message(thread))  # type: ignore[arg-type]
                await watcher.wait_for([thread])
                latencies.append(watcher.assigned_at[thread] - started)

            # throughput: a burst of messages
            threads = [f"burst-{i}" for i in range(600)]
            started = time.perf_counter()
            for chunk in range(0, len(threads), 100):
                await publisher.publish_many([message(t) for t in threads[chunk : chunk + 100]])  # type: ignore[misc]
            await watcher.wait_for(threads, timeout_s=120)
            rate = len(threads) / (max(watcher.assigned_at[t] for t in threads) - started)
        rtt = await kafka_round_trip("omni.deadletter.v1" + suffix, 150)
        claim_rate = await bare_claims(database_url, 1000)
    finally:
        await watcher.stop() if watcher._task else None
        await publisher.stop()
        await delete_topics(BOOTSTRAP, suffix=suffix)
        admin = await asyncpg.connect(DATABASE)
        await admin.execute(f'drop database if exists "{name}" with (force)')
        await admin.close()
    report(
        "router_e2e_assignments_per_second",
        rate,
        "assignments/s",
        baseline=claim_rate,
        target=0.3,
        note="message event in -> assigned event out, one replica; baseline: the bare claim transaction, one at a time",
    )
    report(
        "router_e2e_p99_message_to_assigned",
        p99(latencies) * 1000,
        "ms",
        baseline=p99(rtt) * 1000,
        target=25,
        higher_is_better=False,
        note=f"median {statistics.median(latencies) * 1000:.1f} ms; baseline: p99 bare Kafka produce-to-consume",
    )


if __name__ == "__main__":
    asyncio.run(main())
