"""The fire statement renders in PostgreSQL exactly the events the Python path renders."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from omni_schemas import parse_event
from omni_service.db import migrate
from omni_service.kafka import EventPublisher
from omni_service.metrics import ServiceMetrics
from omni_sla.adapters import postgres as db
from omni_sla.domain.clocks import Emission, Kind, TimerKey
from omni_sla.domain.policies import Metric, load_config
from omni_sla.handlers import SlaEngine, SlaMetrics, event_id_of

pytestmark = pytest.mark.integration


async def test_sql_and_python_render_the_same_events(database_url: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    publisher = EventPublisher(bootstrap="unused:9092", service="sla", metrics=ServiceMetrics("sla"))
    engine = SlaEngine(
        config=load_config({"policies": [{"name": "p", "targets": {"first_response": "1m"}}]}),
        pool=lambda: pool,
        publisher=publisher,
        metrics=SlaMetrics(CollectorRegistry()),
        bootstrap="unused:9092",
        sla_topic="omni.sla.v1",
    )
    conv = uuid.uuid4()
    due = datetime(2026, 11, 24, 9, 0, 0, 123456, tzinfo=UTC)
    warn_at = due - timedelta(seconds=12.5)
    try:
        await migrate(pool, service="sla", package="omni_sla")
        timers = [
            db.TimerRow(conv, 2, 3, 0, 1, warn_at, due, 12_500_000, "japan-email", "email", "billing-ja"),
            db.TimerRow(conv, 2, 3, 1, 1, due, due, 0, "japan-email", "email", None),
        ]
        async with pool.acquire() as conn:
            await db.upsert_timers(conn, timers)
            fired = await db.fire_due_timers(
                conn, [(conv, 2, 3, 0, warn_at), (conv, 2, 3, 1, due)], source=publisher.source
            )
            again = await db.fire_due_timers(
                conn, [(conv, 2, 3, 0, warn_at), (conv, 2, 3, 1, due)], source=publisher.source
            )
    finally:
        await pool.close()
    assert again == []
    assert [(r.kind, r.slot) for r in fired] == [("warning", 0), ("breached", 1)]
    expected = [
        engine._emitted_row(
            Emission(TimerKey(conv, Metric.RESOLUTION, 3, kind), due, at, remaining),
            partition=1,
            policy="japan-email",
            channel="email",
            queue=queue,
            now=datetime.now(UTC),
        )
        for kind, at, remaining, queue in (
            (Kind.WARNING, warn_at, timedelta(seconds=12.5), "billing-ja"),
            (Kind.BREACHED, due, timedelta(0), None),
        )
    ]
    for row, python in zip(fired, expected, strict=True):
        sql_event, py_event = parse_event(row.payload), parse_event(python.payload)
        fields: Any = ("id", "source", "type", "subject", "datacontenttype")
        assert [getattr(sql_event, f) for f in fields] == [getattr(py_event, f) for f in fields]
        assert sql_event.data == py_event.data
        assert row.event_id == python.event_id == sql_event.id
    assert fired[1].event_id == event_id_of(TimerKey(conv, Metric.RESOLUTION, 3, Kind.BREACHED))
