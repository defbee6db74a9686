"""A decision committed but not acknowledged before a crash is published exactly once on reassignment."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sla_samples import FAST_POLICIES

from omni_schemas import parse_event
from omni_service.testing import read_events, running_app, wait_ready
from omni_sla.adapters import postgres as db
from omni_sla.app import create_app
from omni_sla.domain.clocks import Emission, Kind, TimerKey
from omni_sla.domain.policies import Metric, load_config
from omni_sla.settings import Settings

pytestmark = pytest.mark.integration


async def test_unacknowledged_decisions_are_relayed_once_after_restart(service_env: dict[str, Any]) -> None:
    settings = Settings(**service_env)
    config = load_config(FAST_POLICIES)
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    already, lost = uuid.uuid4(), uuid.uuid4()

    app = create_app(settings, config=config)
    async with running_app(app) as client:
        await wait_ready(client)
        engine = app.state.engine
        rows = [
            engine._emitted_row(
                Emission(TimerKey(conv, Metric.FIRST_RESPONSE, 1, Kind.BREACHED), due, due, timedelta(0)),
                partition=0,
                policy="fast",
                channel="chat",
                queue=None,
                now=datetime.now(UTC),
            )
            for conv in (already, lost)
        ]
        async with engine.pool.acquire() as conn, conn.transaction():
            assert len(await db.insert_emitted(conn, rows)) == 2
        # the crash: the first reached Kafka but was never marked published, the second never left
        await app.state.runtime.publisher.publish(parse_event(rows[0].payload))
        # stop before the rows are relayed: the engine only relays on assignment
    for _ in range(2):  # a second restart must not publish again either
        app = create_app(settings, config=config)
        async with running_app(app) as client:
            await wait_ready(client)
            for _ in range(100):
                if not await db.unpublished(app.state.engine.pool, [0, 1, 2]):
                    break
                await asyncio.sleep(0.1)
            assert await db.unpublished(app.state.engine.pool, [0, 1, 2]) == []
    events = await read_events(
        settings.kafka_bootstrap_servers, settings.topic("omni.sla.v1"), count=2, timeout_s=15, settle_s=1.5
    )
    assert sorted(str(e.data.conversation_id) for e in events) == sorted([str(already), str(lost)])  # type: ignore[attr-defined]
    assert {e.id for e in events} == {r.event_id for r in rows}


async def test_a_decision_whose_publish_failed_is_relayed_while_running(service_env: dict[str, Any]) -> None:
    settings = Settings(**service_env)
    app = create_app(settings, config=load_config(FAST_POLICIES))
    engine = app.state.engine
    engine.relay_interval_s = 0.5
    conv = uuid.uuid4()
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    async with running_app(app) as client:
        await wait_ready(client)
        for _ in range(300):
            if engine.owned == {0, 1, 2}:
                break
            await asyncio.sleep(0.1)
        row = engine._emitted_row(
            Emission(TimerKey(conv, Metric.RESOLUTION, 2, Kind.BREACHED), due, due, timedelta(0)),
            partition=2,
            policy="fast",
            channel="chat",
            queue=None,
            now=datetime.now(UTC),
        )
        async with engine.pool.acquire() as conn, conn.transaction():
            assert len(await db.insert_emitted(conn, [row])) == 1  # recorded, never handed to the publisher
        events = await read_events(
            settings.kafka_bootstrap_servers, settings.topic("omni.sla.v1"), count=1, timeout_s=15, settle_s=1.5
        )
        # the relay marks the row published after Kafka's ack, which may land after we read it
        for _ in range(100):
            if await db.unpublished(engine.pool, [0, 1, 2]) == []:
                break
            await asyncio.sleep(0.1)
        assert await db.unpublished(engine.pool, [0, 1, 2]) == []
    assert [e.id for e in events] == [row.event_id]
    assert events[0].data.cycle == 2  # type: ignore[attr-defined]
