"""Pipeline benchmark: web chat webhook -> omni.messages.v1 -> router -> `assigned` event.

Runs router and ingest_chat as real processes (`python -m ...`) on fresh topics, a fresh database
and a Redis database of their own. Reported:

* `pipeline_assigned_rate`: the highest sustained rate (msg/s) of new web chat conversations
  from webhook to `omni.conversation.assigned.v1`, stepping the offered rate up until a step is
  no longer carried (not every message assigned within a grace period after the step, the
  webhook could not take the offered rate, or under 90% of it came through). Baseline, in the
  same run on the same broker: a raw aiokafka consume-and-produce echo (one consumer, one
  idempotent acks=all producer, offsets committed after the batch's acks), fed as fast as
  possible. Target ratio >= 0.2.
* `pipeline_assigned_p50_ms` / `pipeline_assigned_p99_ms`: time from the webhook's 2xx to the
  `assigned` event seen on the topic, at half the sustained rate; baseline: the echo's
  produce -> echoed-record latency at the same rate.

The load side is kept light so that it is not what limits the rate (on 2 cores it shares the CPU
with both services, the broker and PostgreSQL): raw keep-alive HTTP/1.1 posts paced by the clock,
and a reader of the conversations topic that takes three fields out of the JSON. With an httpx
client and full event validation the load generator itself saturated near 120-160 msg/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from omni_service.bench import report
from omni_service.kafka import delete_topics, ensure_topics
from omni_sim.harness import Stack, present
from omni_sim.topics import end_positions

KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
DATABASE = os.environ.get("DATABASE_URL", "postgresql://omni:omni@127.0.0.1:5432/omni")
REDIS = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/12"
RATES = [
    int(r) for r in os.environ.get("OMNI_BENCH_RATES", "10,20,30,40,60,80,120,160,240,320,480,640,960,1280").split(",")
]
STEP_S = 5.0
GRACE_S = 3.0
ECHO_COUNT = 20000
AGENTS = 20
TEXT = "Where is my order? It has not arrived yet and I would like an update."


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- baseline: raw aiokafka echo ---------------------------------------------------------


async def _echo(src: str, dst: str, group: str, stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        src, bootstrap_servers=KAFKA, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True, linger_ms=2)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=2000)
            futures = [await producer.send(dst, r.value, key=r.key) for records in batch.values() for r in records]
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


async def _count_until(topic: str, n: int, *, timeout_s: float, stamps: list[float] | None = None) -> int:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=KAFKA, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    seen = 0
    try:
        deadline = time.monotonic() + timeout_s
        while seen < n and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=100)
            now = time.time()
            for records in batch.values():
                seen += len(records)
                if stamps is not None:
                    stamps.extend(now - orjson.loads(r.value)["t"] for r in records)
        return seen
    finally:
        await consumer.stop()


async def echo_baseline(suffix: str) -> tuple[float, dict[float, list[float]]]:
    """Echo throughput (msg/s) and, per rate asked later, the echo latencies (filled lazily)."""
    src, dst = f"omni.bench.echo.in{suffix}", f"omni.bench.echo.out{suffix}"
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    await admin.create_topics([NewTopic(src, 3, 1), NewTopic(dst, 3, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    body = orjson.dumps({"t": 0.0, "text": TEXT, "pad": "x" * 600})
    futures = [await producer.send(src, body, key=str(i % 500).encode()) for i in range(ECHO_COUNT)]
    await asyncio.gather(*futures)
    await producer.stop()
    stop = asyncio.Event()
    counter = asyncio.create_task(_count_until(dst, ECHO_COUNT, timeout_s=60))
    start = time.monotonic()
    echo = asyncio.create_task(_echo(src, dst, f"bench-echo{suffix}", stop))
    seen = await counter
    elapsed = time.monotonic() - start
    stop.set()
    await echo
    return seen / elapsed, {}


async def echo_latency(suffix: str, rate: float, seconds: float) -> list[float]:
    src, dst = f"omni.bench.echo.lat.in{suffix}", f"omni.bench.echo.lat.out{suffix}"
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    await admin.create_topics([NewTopic(src, 3, 1), NewTopic(dst, 3, 1)])
    await admin.close()
    stop = asyncio.Event()
    echo = asyncio.create_task(_echo(src, dst, f"bench-echo-lat{suffix}", stop))
    await asyncio.sleep(2.0)  # let the echo join its group
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True, linger_ms=2)
    await producer.start()
    n = int(rate * seconds)
    stamps: list[float] = []
    counter = asyncio.create_task(_count_until(dst, n, timeout_s=seconds + 20, stamps=stamps))
    start = time.monotonic()
    sends = []
    for i in range(n):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        sends.append(await producer.send(src, orjson.dumps({"t": time.time(), "pad": "x" * 600}), key=str(i).encode()))
    await asyncio.gather(*sends)
    await counter
    await producer.stop()
    stop.set()
    await echo
    return stamps


# --- the pipeline --------------------------------------------------------------------------


class _Connections:
    """Keep-alive HTTP/1.1 connections to one port; a request takes a free one (or opens one)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.free: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, request: bytes) -> int:
        while self.free:  # a kept-alive connection the server may have closed meanwhile (idle timeout)
            conn = self.free.pop()
            try:
                return await self._exchange(conn, request)
            except (OSError, asyncio.IncompleteReadError, IndexError):
                conn[1].close()
        return await self._exchange(await asyncio.open_connection("127.0.0.1", self.port), request)

    async def _exchange(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes) -> int:
        reader, writer = conn
        writer.write(request)
        await writer.drain()
        status_line = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        self.free.append(conn)
        return int(status_line.split()[1])

    def close(self) -> None:
        for _, writer in self.free:
            writer.close()


class Pipeline:
    """The load side, kept light so that it is not what limits the rate: raw keep-alive HTTP/1.1
    posts (no client library), and a topic reader that picks the three fields it needs out of the
    JSON (no model validation)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.endpoints = stack.endpoints()
        self.thread_of: dict[str, str] = {}
        self.assigned_at: dict[str, float] = {}
        self.accepted_at: dict[str, float] = {}
        self.rejected = 0
        self.client = httpx.AsyncClient(timeout=30)
        self.chat = _Connections(stack.services["ingest_chat"].port)
        self._reader: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def follow(self, topic: str) -> None:
        """Read `topic` from its current end in the background, noting when each thread was assigned."""
        ends = await end_positions(KAFKA, [topic])
        self._reader = AIOKafkaConsumer(bootstrap_servers=KAFKA, group_id=None, enable_auto_commit=False)
        await self._reader.start()
        self._reader.assign(list(ends))
        for tp, offset in ends.items():
            self._reader.seek(tp, offset)
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        assert self._reader is not None
        while True:
            batch = await self._reader.getmany(timeout_ms=100, max_records=5000)
            now = time.time()
            for records in batch.values():
                for record in records:
                    doc = orjson.loads(record.value)
                    kind, data = doc.get("type"), doc.get("data") or {}
                    if kind == "omni.conversation.opened.v1":
                        self.thread_of[data["conversation_id"]] = data["thread_key"]
                    elif kind == "omni.conversation.assigned.v1":
                        thread = self.thread_of.get(data["conversation_id"])
                        if thread is not None and thread not in self.assigned_at:
                            self.assigned_at[thread] = now

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._reader is not None:
            await self._reader.stop()
        self.chat.close()
        await self.client.aclose()

    async def setup_agents(self) -> None:
        headers = {"Authorization": f"Bearer {self.endpoints.api_token}"}
        router = self.endpoints.url("router")
        for i in range(AGENTS):
            body = {
                "display_name": f"bench {i}",
                "skills": {"billing": 5, "technical": 5, "social_media": 5},
                "languages": ["en", "ja"],
                "capacity": {"email": 100, "chat": 1000, "sms": 100, "social": 100},
            }
            r = await self.client.put(f"{router}/v1/agents/bench-{i:02d}", json=body, headers=headers)
            r.raise_for_status()
            r = await self.client.put(
                f"{router}/v1/agents/bench-{i:02d}/presence", json={"status": "available"}, headers=headers
            )
            r.raise_for_status()

    def _request(self, session: str) -> bytes:
        body = orjson.dumps(
            {"text": TEXT, "visitor": {"id": session, "name": None, "email": None}, "client_message_id": "m1"}
        )
        head = (
            f"POST /v1/chat/sessions/{session}/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def _post(self, session: str, request: bytes) -> None:
        try:
            status = await self.chat.post(request)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            self.rejected += 1
            return
        if 200 <= status < 300:
            self.accepted_at[f"chat:{session}"] = time.time()
        else:
            self.rejected += 1

    async def step(self, rate: float, seconds: float, tag: str) -> tuple[bool, float, list[float]]:
        """Offer `rate` msg/s for `seconds`; (sustained, carried msg/s, latencies)."""
        n = int(rate * seconds)
        sessions = [f"{tag}-{i}" for i in range(n)]
        requests = [self._request(s) for s in sessions]
        tasks = []
        start = time.monotonic()
        for i, session in enumerate(sessions):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self._post(session, requests[i])))
        offered_s = time.monotonic() - start
        await asyncio.gather(*tasks)
        keys = [f"chat:{s}" for s in sessions]
        deadline = time.monotonic() + GRACE_S
        while time.monotonic() < deadline and not all(k in self.assigned_at for k in keys):
            await asyncio.sleep(0.05)
        done = [k for k in keys if k in self.assigned_at and k in self.accepted_at]
        latencies = [self.assigned_at[k] - self.accepted_at[k] for k in done]
        first = min(self.accepted_at[k] for k in done) if done else 0.0
        last = max(self.assigned_at[k] for k in done) if done else 0.0
        carried = len(done) / max(last - first, seconds) if done else 0.0
        # carried: everything assigned within the grace period, at (nearly) the offered rate
        sustained = len(done) == n and offered_s <= seconds * 1.1 and carried >= 0.9 * rate
        if not sustained:
            print(
                f"  not carried: {len(done)}/{n} assigned within {GRACE_S:g} s, {self.rejected} refused so far, "
                f"offered over {offered_s:.1f} s",
                flush=True,
            )
        return sustained, carried, latencies


async def _fresh_database() -> str:
    name = f"omni_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(DATABASE)
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    return urlunparse(urlparse(DATABASE)._replace(path=f"/{name}"))


async def _drop_database(url: str) -> None:
    admin = await asyncpg.connect(DATABASE)
    try:
        await admin.execute(f'drop database if exists "{urlparse(url).path[1:]}" with (force)')
    finally:
        await admin.close()


async def main() -> int:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # "topic not found" while topics are created
    missing = [n for n in ("router", "ingest_chat") if not present(n)]
    if missing:
        print(f"bench pipeline: skipped, {', '.join(missing)} not built yet", flush=True)
        return 0
    suffix = f".bench{uuid.uuid4().hex[:8]}"
    await ensure_topics(KAFKA, suffix=suffix)
    database = await _fresh_database()
    r = aioredis.from_url(REDIS)
    await r.flushdb()
    await r.aclose()
    echo_rate, _ = await echo_baseline(suffix)
    print(f"echo baseline: {echo_rate:.0f} msg/s", flush=True)
    stack = Stack(
        names=("router", "ingest_chat"),
        kafka=KAFKA,
        database_url=database,
        redis_url=REDIS,
        topic_suffix=suffix,
        log_dir=Path(tempfile.mkdtemp(prefix="omni-bench-")),
    )
    try:
        await stack.start()
        pipe = Pipeline(stack)
        await pipe.follow(f"omni.conversations.v1{suffix}")
        await pipe.setup_agents()
        best_rate, best_carried = 0.0, 0.0
        for rate in RATES:
            sustained, carried, lat = await pipe.step(rate, STEP_S, f"r{rate}")
            p99 = _quantile(lat, 0.99) if lat else float("nan")
            print(
                f"  offered {rate} msg/s: carried {carried:.1f} msg/s, p99 {p99 * 1000:.0f} ms, sustained {sustained}",
                flush=True,
            )
            if not sustained:
                break
            best_rate, best_carried = float(rate), carried
        # let the backlog of the step that was not carried drain before measuring latency
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(k in pipe.assigned_at for k in pipe.accepted_at):
            await asyncio.sleep(0.2)
        half = max(best_rate / 2, 5.0)
        _, _, lat = await pipe.step(half, 8.0, "half")
        await pipe.close()
        echo_lat = await echo_latency(suffix, half, 5.0)
        report(
            "pipeline_assigned_rate",
            best_carried,
            "msg/s",
            baseline=echo_rate,
            target=0.2,
            note=f"highest sustained offered rate {best_rate:.0f} msg/s; baseline: raw aiokafka consume-produce echo",
        )
        if lat and echo_lat:
            for q, name, target in ((0.5, "p50", 250.0), (0.99, "p99", 1000.0)):
                report(
                    f"pipeline_assigned_{name}_ms",
                    _quantile(lat, q) * 1000,
                    "ms",
                    baseline=_quantile(echo_lat, q) * 1000,
                    target=target,
                    higher_is_better=False,
                    target_on="value",
                    note=f"webhook 2xx -> assigned at {half:.0f} msg/s; baseline: echo latency at that rate",
                )
        return 0
    finally:
        stack.stop()
        await delete_topics(KAFKA, suffix=suffix)
        admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
        await admin.start()
        try:
            await admin.delete_topics([f"omni.bench.echo.{p}{suffix}" for p in ("in", "out", "lat.in", "lat.out")])
        finally:
            await admin.close()
        await _drop_database(database)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
