"""Two replicas share the partitions: each schedules only its own, reloads on rebalance, emits once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from omni_service.testing import read_events, running_app, wait_ready
from omni_sla.app import create_app
from omni_sla.domain.policies import load_config
from omni_sla.settings import Settings

pytestmark = pytest.mark.integration

N = 30
POLICIES = {"policies": [{"name": "shared", "targets": {"first_response": "10s", "resolution": "12s"}, "warn_at": 0.8}]}


async def eventually(check: Any, *, timeout_s: float = 30.0, what: str) -> None:
    for _ in range(int(timeout_s * 10)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_replicas_schedule_only_their_partitions_and_reload_on_rebalance(service_env: dict[str, Any]) -> None:
    settings = Settings(**service_env)
    config = load_config(POLICIES)
    first = create_app(settings, config=config)
    a = first.state.engine
    async with running_app(first) as client:
        await wait_ready(client)
        await eventually(lambda: a.owned == {0, 1, 2}, what="the first replica to own every partition")
        publisher = first.state.runtime.publisher
        opened_at = datetime.now(UTC).replace(microsecond=0)
        conversations = [uuid.uuid4() for _ in range(N)]
        await publisher.publish_many(
            [
                publisher.new_event(
                    "omni.conversation.opened.v1",
                    {
                        "conversation_id": c,
                        "channel": "chat",
                        "thread_key": f"t{i}",
                        "customer_id": f"c{i}",
                        "first_message_id": uuid.uuid4(),
                        "occurred_at": opened_at,
                    },
                    time=opened_at,
                )
                for i, c in enumerate(conversations)
            ]
        )
        await eventually(lambda: len(a.wheel) == 4 * N, what="every timer scheduled")  # the first is due at 8 s
        spread = a.wheel.partitions()
        assert len(spread) > 1, "the conversations should land on more than one partition"

        second = create_app(settings, config=config)
        b = second.state.engine
        async with running_app(second) as client_b:
            await wait_ready(client_b)
            await eventually(
                lambda: a.owned and b.owned and not (a.owned & b.owned) and a.owned | b.owned == {0, 1, 2},
                what="the partitions to be split",
            )
            await eventually(lambda: len(a.wheel) + len(b.wheel) == 4 * N, what="the timers to be split")
            assert set(a.wheel.partitions()) <= a.owned
            assert set(b.wheel.partitions()) <= b.owned
            assert {p: a.wheel.partitions().get(p, 0) + b.wheel.partitions().get(p, 0) for p in spread} == spread
        # the second replica left: the first takes its partitions back and reloads their timers
        await eventually(lambda: a.owned == {0, 1, 2}, what="the first replica to own every partition again")
        events = await read_events(
            settings.kafka_bootstrap_servers, settings.topic("omni.sla.v1"), count=4 * N, timeout_s=30, settle_s=1.5
        )

    assert Counter(Counter((e.data.conversation_id, e.type, e.data.metric) for e in events).values()) == {1: 4 * N}  # type: ignore[attr-defined]
    breaches = [e for e in events if e.type == "omni.sla.breached.v1"]
    assert len(breaches) == 2 * N
    for event in breaches:
        data: Any = event.data
        target = 10 if data.metric.value == "first_response" else 12
        assert data.breached_at == data.due_at == opened_at + timedelta(seconds=target)
