"""Reload after restart: 1,000,000 pending timers from PostgreSQL into memory.

Reports the time to reload them (baseline: a bare COPY of the same rows out of PostgreSQL,
the I/O floor) and the service memory per pending timer (baseline: a naive schedule of
(datetime, TimerKey) tuples in a heap, measured the same way on the same process).
Targets: reload within 30 s; at most 1 KB per timer.

Run: .venv/bin/python services/sla/bench/bench_reload.py  (needs the local PostgreSQL)
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import io
import os
import time
import uuid
from urllib.parse import urlparse, urlunparse

import asyncpg
import psutil

from omni_service.bench import report
from omni_service.db import migrate
from omni_service.kafka import EventPublisher
from omni_service.metrics import ServiceMetrics
from omni_sla.domain.clocks import Kind, TimerKey
from omni_sla.domain.policies import Metric, load_config
from omni_sla.handlers import SlaEngine, SlaMetrics

N = int(os.environ.get("SLA_BENCH_TIMERS", "1000000"))
PARTITIONS = 12
BASE_URL = os.environ.get("DATABASE_URL", "postgresql://omni:omni@127.0.0.1:5432/omni")


def rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


async def main() -> None:
    name = f"omni_bench_sla_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(BASE_URL)
    await admin.execute(f'create database "{name}"')
    await admin.close()
    url = urlunparse(urlparse(BASE_URL)._replace(path=f"/{name}"))
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    assert pool is not None
    try:
        await migrate(pool, service="sla", package="omni_sla")
        started = time.perf_counter()
        async with pool.acquire() as conn:
            # generated inside PostgreSQL: far quicker than building a million rows in Python
            await conn.execute(
                f"""insert into sla_timers (conversation_id, metric, cycle, kind, partition, due_at, clock_due_at,
                                            remaining_us, policy, channel, queue)
                    select gen_random_uuid(), i % 3, 1, 1, i % {PARTITIONS},
                           now() + interval '1 day' + (i % 86400) * interval '1 second',
                           now() + interval '1 day' + (i % 86400) * interval '1 second',
                           0, 'chat-standard', 'chat', 'general'
                    from generate_series(1, {N}) as i"""
            )
            await conn.execute("analyze sla_timers")
        print(f"setup: {N} timers inserted into PostgreSQL in {time.perf_counter() - started:.1f} s", flush=True)

        # baseline for reload: the bare COPY of the same columns out of PostgreSQL
        sink = io.BytesIO()
        started = time.perf_counter()
        async with pool.acquire() as conn:
            await conn.copy_from_query(
                "select conversation_id, metric, cycle, kind, partition, due_at from sla_timers", output=sink
            )
        copy_seconds = time.perf_counter() - started
        del sink

        publisher = EventPublisher(bootstrap="127.0.0.1:9092", service="sla-bench", metrics=ServiceMetrics("b"))
        engine = SlaEngine(
            config=load_config({"policies": [{"name": "p", "targets": {"first_response": "1m"}}]}),
            pool=lambda: pool,
            publisher=publisher,
            metrics=SlaMetrics(ServiceMetrics("sla").registry),
            bootstrap="127.0.0.1:9092",
            sla_topic="omni.sla.v1.bench-unused",
        )
        before = rss()
        started = time.perf_counter()
        loaded = await engine.reload(list(range(PARTITIONS)))
        reload_seconds = time.perf_counter() - started
        after = rss()
        assert loaded == N == len(engine.wheel), (loaded, len(engine.wheel))
        per_timer = (after - before) / N
        del engine
        gc.collect()

        # baseline for memory: a naive heap of (datetime, TimerKey) on a sample of the same rows
        sample = min(N, 200_000)
        rows = await pool.fetch(f"select conversation_id, metric, cycle, due_at from sla_timers limit {sample}")
        metrics = list(Metric)
        before_naive = rss()
        naive = [
            (
                r["due_at"],
                TimerKey(uuid.UUID(str(r["conversation_id"])), metrics[r["metric"]], r["cycle"], Kind.BREACHED),
            )
            for r in rows
        ]
        heapq.heapify(naive)
        del rows
        naive_per_timer = (rss() - before_naive) / sample
        del naive
    finally:
        await pool.close()
        admin = await asyncpg.connect(BASE_URL)
        await admin.execute(f'drop database if exists "{name}" with (force)')
        await admin.close()

    report(
        "sla_reload_1m_timers_seconds",
        reload_seconds,
        "s",
        baseline=copy_seconds,
        target=30,
        higher_is_better=False,
        target_on="value",
        note=f"{N} pending timers; baseline is a bare COPY out",
    )
    report(
        "sla_memory_per_pending_timer_bytes",
        per_timer,
        "bytes",
        baseline=naive_per_timer,
        target=1024,
        higher_is_better=False,
        target_on="value",
        note="RSS growth per timer after reload; baseline: naive heap of (datetime, TimerKey)",
    )


if __name__ == "__main__":
    asyncio.run(main())
