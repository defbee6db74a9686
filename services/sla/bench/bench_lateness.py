"""Breach lateness under a steady 1,000 due timers per second.

Lateness of a breach = when Kafka acknowledged the omni.sla.breached.v1 event minus its due
instant. The SLA engine runs for real: timers durable in PostgreSQL, loaded into its wheel,
gated as in the service (a timer fires once its partition's events are known handled up to its
due instant plus the settle window; here the partitions report "caught up" every 100 ms, as an
idle consumer's fetches do), fired in transactions that record the outbox, published with
acks=all. The baseline is a bare asyncio scheduler that sleeps until each due instant and does
nothing else, in the same run. Target: p99 under the settle window (200 ms) plus 200 ms.

Run: .venv/bin/python services/sla/bench/bench_lateness.py  (needs the local Kafka and PostgreSQL)
"""

from __future__ import annotations

import asyncio
import heapq
import os
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse, urlunparse

import asyncpg

from omni_schemas import CloudEvent
from omni_schemas.topics import CONVERSATIONS, SLA
from omni_service.bench import report
from omni_service.db import migrate
from omni_service.kafka import EventPublisher, delete_topics, ensure_topics
from omni_service.metrics import ServiceMetrics
from omni_sla.domain.policies import load_config
from omni_sla.handlers import SlaEngine, SlaMetrics

RATE = 1000
SETTLE_MS = 200  # the service's default SLA_SETTLE_MS
SECONDS = int(os.environ.get("SLA_BENCH_SECONDS", "8"))
N = RATE * SECONDS
BASE_URL = os.environ.get("DATABASE_URL", "postgresql://omni:omni@127.0.0.1:5432/omni")
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bare_scheduler(start: float) -> list[float]:
    """The floor: one task sleeping until each due instant, recording how late it woke."""
    due = [start + i / RATE for i in range(N)]
    heapq.heapify(due)
    late: list[float] = []
    while due:
        now = time.time()
        if due[0] > now:
            await asyncio.sleep(due[0] - now)
            continue
        while due and due[0] <= now:
            late.append(now - heapq.heappop(due))
    return late


async def main() -> None:
    late_bare = await bare_scheduler(time.time() + 0.5)

    name = f"omni_bench_sla_{uuid.uuid4().hex[:8]}"
    suffix = f".bench{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(BASE_URL)
    await admin.execute(f'create database "{name}"')
    await admin.close()
    url = urlunparse(urlparse(BASE_URL)._replace(path=f"/{name}"))
    await ensure_topics(BOOTSTRAP, suffix=suffix, max_partitions=3)
    pool = await asyncpg.create_pool(url, min_size=2, max_size=6)
    assert pool is not None
    publisher = EventPublisher(bootstrap=BOOTSTRAP, service="sla", metrics=ServiceMetrics("sla"), topic_suffix=suffix)
    await publisher.start(wait=True)
    late_sla: list[float] = []
    seen: set[uuid.UUID] = set()
    done = asyncio.Event()

    def on_published(events: Sequence[CloudEvent], acked: datetime) -> None:
        for event in events:
            data: Any = event.data
            late_sla.append((acked - data.due_at).total_seconds())
            seen.add(event.id)
        if len(seen) >= N:
            done.set()

    engine = SlaEngine(
        config=load_config({"policies": [{"name": "bench", "targets": {"first_response": "1m"}}]}),
        pool=lambda: pool,
        publisher=publisher,
        metrics=SlaMetrics(ServiceMetrics("sla").registry),
        bootstrap=BOOTSTRAP,
        sla_topic=SLA + suffix,
        on_published=on_published,
        settle=timedelta(milliseconds=SETTLE_MS),
    )

    async def caught_up() -> None:
        """What the consumer reports for idle partitions: handled up to its last fetch."""
        while True:
            engine.on_progress({(CONVERSATIONS, p): time.time() for p in range(3)})
            await asyncio.sleep(0.1)

    reporter: asyncio.Task[None] | None = None
    try:
        await migrate(pool, service="sla", package="omni_sla")
        start = datetime.now(UTC) + timedelta(seconds=2)
        await pool.execute(
            """insert into sla_timers (conversation_id, metric, cycle, kind, partition, due_at, clock_due_at,
                                       remaining_us, policy, channel, queue)
               select gen_random_uuid(), 0, 1, 1, i % 3, $1::timestamptz + i * interval '1 millisecond',
                      $1::timestamptz + i * interval '1 millisecond', 0, 'bench', 'chat', 'general'
               from generate_series(0, $2::int - 1) as i""",
            start,
            N,
        )
        engine.owned.update({0, 1, 2})
        engine.gates.update({0: 0, 1: 0, 2: 0})
        assert await engine.reload([0, 1, 2]) == N
        reporter = asyncio.create_task(caught_up())
        await engine.start()
        await asyncio.wait_for(done.wait(), SECONDS + 60)
        await engine.stop()  # lets the last acknowledged batch be marked published
        emitted = await pool.fetchval("select count(*) from sla_emitted where published_at is not null")
    finally:
        if reporter is not None:
            reporter.cancel()
        await engine.stop()
        await publisher.stop()
        await pool.close()
        admin = await asyncpg.connect(BASE_URL)
        await admin.execute(f'drop database if exists "{name}" with (force)')
        await admin.close()
        await delete_topics(BOOTSTRAP, suffix=suffix)

    assert len(seen) == N == emitted, (len(seen), emitted)
    ms = 1000.0
    note = (
        f"{N} breaches due at {RATE}/s; lateness = Kafka ack minus due instant, including the {SETTLE_MS} ms "
        "settle window a breach waits for replies on their way to the broker"
    )
    report(
        "sla_breach_lateness_p50_ms",
        quantile(late_sla, 0.5) * ms,
        "ms",
        baseline=max(quantile(late_bare, 0.5) * ms, 0.001),
        target=SETTLE_MS + 200,
        higher_is_better=False,
        target_on="value",
        note=note + "; baseline: bare asyncio sleep-until scheduler",
    )
    report(
        "sla_breach_lateness_p99_ms",
        quantile(late_sla, 0.99) * ms,
        "ms",
        baseline=max(quantile(late_bare, 0.99) * ms, 0.001),
        target=SETTLE_MS + 200,
        higher_is_better=False,
        target_on="value",
        note=note + "; baseline: bare asyncio sleep-until scheduler",
    )


if __name__ == "__main__":
    asyncio.run(main())
