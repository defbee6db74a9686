"""Analytics benchmarks (run: .venv/bin/python services/analytics/bench/bench_analytics.py).

1. Fold throughput: events/s read from Kafka, decoded *and* folded into the KPI state, against
   the baseline of the same process merely reading and decoding the same events (target: ratio
   >= 0.7). Both in process CPU time, so other work on the machine does not skew the ratio.
2. /metrics scrape: CPU seconds of one scrape of the KPI collector at expected label counts
   (9 channels x 20 queues, 5,000 waiting conversations, 500 agents), against a plain
   prometheus_client registry holding the same number of series (target: <= 50 ms).
3. Memory: resident set after folding 1,000,000 events of 200,000 conversations (3,000 open at a time), against the
   resident set after 200,000 events (target: ratio <= 1.25: bounded by open conversations and
   agents, not by events seen).
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import psutil
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from omni_analytics.adapters.partitions import PartitionReader
from omni_analytics.adapters.prometheus import CHANNELS, KpiCollector
from omni_analytics.domain import DURATION_BUCKETS, KpiConfig, KpiState
from omni_analytics.handlers import CONSUMED_TOPICS
from omni_analytics.simulate import synthetic_stream
from omni_schemas import parse_event, to_record
from omni_service.bench import report
from omni_service.kafka import delete_topics, ensure_topics

_C = "omni.conversation."


async def _produce(bootstrap: str, suffix: str, n: int) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=20)
    await producer.start()
    try:
        count = 0
        for event in synthetic_stream(n, open_at_once=500):
            record = to_record(event)
            await producer.send(record.topic + suffix, record.value, key=record.key, headers=record.headers)
            count += 1
        await producer.flush()
        return count
    finally:
        await producer.stop()


async def _consume_pass(bootstrap: str, suffix: str, total: int, *, fold: bool) -> float:
    """Events/s of CPU time: read every partition from the beginning, decode, and (with `fold`) fold."""
    reader = PartitionReader(bootstrap=bootstrap, topics=CONSUMED_TOPICS, suffix=suffix, client_id="omni-bench")
    await reader.connect()
    try:
        await reader.assign({})
        state = KpiState()
        now = time.time()
        seen = 0
        gc.collect()
        started = time.process_time()
        while seen < total:
            batch = await reader.fetch(max_records=2000)
            for tp, records in batch.items():
                topic = reader.contract_name(tp.topic)
                for record in records:
                    event = parse_event(record.value, topic=topic, key=record.key)
                    if fold:
                        state.apply(event, now=now)
                seen += len(records)
        return seen / (time.process_time() - started)
    finally:
        await reader.close()


async def bench_fold_vs_decode(n: int = 30_000, rounds: int = 3) -> None:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    suffix = f".bench{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, suffix=suffix, max_partitions=3)
    await asyncio.sleep(1.0)  # let the new partitions elect their leaders
    try:
        total = await _produce(bootstrap, suffix, n)
        decode_best = fold_best = 0.0
        for _ in range(rounds):
            decode_best = max(decode_best, await _consume_pass(bootstrap, suffix, total, fold=False))
            fold_best = max(fold_best, await _consume_pass(bootstrap, suffix, total, fold=True))
    finally:
        await delete_topics(bootstrap, suffix=suffix)
    report(
        "analytics_fold_events_per_second",
        fold_best,
        "events/s",
        baseline=decode_best,
        target=0.7,
        note=f"{total} events read from Kafka, decoded and folded vs read and decoded only; process CPU time",
    )


def _light_conversations(count: int, *, wave: int, start: datetime, queues: int, agents: int) -> Any:
    """Cheap stand-in events (the attributes the fold reads): waves of `wave` conversations, each
    opened, queued, assigned, answered and resolved (every 10th abandoned instead)."""
    seq = 0
    t = 0.0
    for base in range(0, count, wave):
        convs = []
        for i in range(base, min(base + wave, count)):
            convs.append(
                SimpleNamespace(
                    conversation_id=uuid.UUID(int=(1 << 100) + i),
                    channel=CHANNELS[i % len(CHANNELS)],
                    queue=f"queue-{i % queues}",
                    agent_id=f"agent-{i % agents}",
                    waited_seconds=None,
                    occurred_at=None,
                    to_queue=None,
                    to_agent_id=None,
                    score=1 + i % 5,
                )
            )
        for step in ("opened", "queued", "assigned", "agent_replied", "resolved"):
            t += 7.0
            when = start + timedelta(seconds=t)
            for data in convs:
                kind = "abandoned" if step == "assigned" and data.score == 5 and data.queue.endswith("0") else step
                if kind != step and step != "assigned":
                    continue
                seq += 1
                yield SimpleNamespace(id=uuid.UUID(int=seq), type=f"{_C}{kind}.v1", time=when, data=data)


def bench_memory(total_events: int = 1_000_000) -> None:
    process = psutil.Process()
    start = datetime.now(UTC) - timedelta(days=2)
    config = KpiConfig()
    state = KpiState(config)
    for event in synthetic_stream(200, agents=100):  # agents and their presence, validated
        state.apply(event, now=time.time())
    now = time.time()
    rss_at: dict[int, float] = {}
    checkpoints = {200_000, total_events}
    events = _light_conversations(total_events // 5 + 1, wave=3_000, start=start, queues=20, agents=100)
    for folded, event in enumerate(events, start=1):
        state.apply(event, now=now)
        if folded in checkpoints:
            gc.collect()
            rss_at[folded] = process.memory_info().rss / 2**20
        if folded >= total_events:
            break
    report(
        "analytics_rss_after_1m_events",
        rss_at[total_events],
        "MiB",
        baseline=rss_at[200_000],
        target=1.25,
        higher_is_better=False,
        note=(
            f"open {len(state.open)}, closed kept {len(state.closed)}, recent ids {len(state.recent)}; "
            "baseline: RSS after 200,000 events"
        ),
    )


def bench_scrape() -> None:
    start = datetime.now(UTC) - timedelta(minutes=50)
    state = KpiState()
    for event in synthetic_stream(1_000, agents=500):
        state.apply(event, now=time.time())
    now = time.time()
    left_waiting: set[int] = set()
    for event in _light_conversations(25_000, wave=25_000, start=start, queues=20, agents=500):
        cid = event.data.conversation_id.int
        if event.type.endswith("assigned.v1") and len(left_waiting) < 5_000:
            left_waiting.add(cid)  # these 5,000 stay in their queues
        if cid not in left_waiting:
            state.apply(event, now=now)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(KpiCollector(lambda: state))
    text = generate_latest(registry)
    series = sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))

    plain = CollectorRegistry(auto_describe=False)
    g = Gauge("plain_gauge", "same number of gauge series", ["queue", "channel"], registry=plain)
    c = Counter("plain_counter", "counter series", ["metric", "channel"], registry=plain)
    h = Histogram("plain_seconds", "histogram series", ["kind", "channel"], buckets=DURATION_BUCKETS, registry=plain)
    for q in range(20):
        for ch in CHANNELS:
            g.labels(f"queue-{q}", ch).set(q)
    for m in range(8):
        for ch in CHANNELS:
            c.labels(f"m{m}", ch).inc()
    for k in range(4):
        for ch in CHANNELS:
            h.labels(f"k{k}", ch).observe(3.0)

    def cpu_per_scrape(reg: CollectorRegistry, n: int = 30) -> float:
        generate_latest(reg)
        started = time.process_time()
        for _ in range(n):
            generate_latest(reg)
        return (time.process_time() - started) / n

    value = cpu_per_scrape(registry)
    baseline = cpu_per_scrape(plain)
    depth = sum(state.view(now).queue_depth.values())
    report(
        "analytics_metrics_scrape_cpu_seconds",
        value,
        "s",
        baseline=baseline,
        target=0.05,
        target_on="value",
        higher_is_better=False,
        note=f"{series} series, {depth} waiting, {len(state.agents)} agents; baseline: plain registry, similar series",
    )


def main() -> None:
    asyncio.run(bench_fold_vs_decode())
    bench_scrape()
    bench_memory()


if __name__ == "__main__":
    main()
