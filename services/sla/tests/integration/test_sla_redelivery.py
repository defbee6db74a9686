"""A redelivered conversation event changes no clock and records no second decision."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sla_samples import FAST_POLICIES

from omni_schemas import to_record
from omni_service.kafka import Incoming
from omni_service.testing import running_app, wait_ready
from omni_sla.app import create_app
from omni_sla.domain.policies import load_config
from omni_sla.settings import Settings

pytestmark = pytest.mark.integration


async def test_redelivered_events_are_skipped(service_env: dict[str, Any]) -> None:
    settings = Settings(**service_env)
    app = create_app(settings, config=load_config(FAST_POLICIES))
    engine = app.state.engine
    publisher = app.state.runtime.publisher
    conv = uuid.uuid4()
    t0 = datetime.now(UTC) + timedelta(hours=1)  # far enough ahead that nothing fires during the test

    def incoming(offset: int, what: str, at: datetime, **data: Any) -> Incoming:
        event = publisher.new_event(
            f"omni.conversation.{what}.v1",
            {"conversation_id": conv, "channel": "chat", "occurred_at": at} | data,
            time=at,
        )
        record = to_record(event)
        return Incoming("omni.conversations.v1", 0, offset, record.key, record.value, (), event, 0)

    opened = incoming(10, "opened", t0, thread_key="t", customer_id="c", first_message_id=uuid.uuid4())
    replied = incoming(11, "agent_replied", t0 + timedelta(seconds=1), agent_id="a1")
    customer = incoming(12, "customer_replied", t0 + timedelta(seconds=5), message_id=uuid.uuid4())
    async with running_app(app) as client:
        await wait_ready(client)
        for _ in range(300):
            if 0 in engine.owned:
                break
            await asyncio.sleep(0.1)
        pool = engine.pool
        for message in (opened, replied, customer, replied, opened, customer):
            await engine.on_conversation(message)
        state = await pool.fetchval("select state from sla_conversations where conversation_id = $1", conv)
        timers = await pool.fetch(
            "select metric, cycle, kind from sla_timers where conversation_id = $1 order by metric, cycle, kind", conv
        )
        emitted = await pool.fetch("select kind, metric, cycle from sla_emitted where conversation_id = $1", conv)
        answer = (await client.get(f"/v1/sla/conversations/{conv}")).json()
        metrics = (await client.get("/metrics")).text
        missing = (await client.get(f"/v1/sla/conversations/{uuid.uuid4()}")).json()
    assert "omni_sla_redelivered_events_total 3.0" in metrics
    assert "omni_sla_pending_timers 4.0" in metrics
    assert missing["error"]["code"] == "not_found"
    assert '"next_response_cycle": 1' in state
    # resolution (metric 2) and one next-response clock (metric 1, cycle 1): a warning and a breach each
    assert [tuple(r) for r in timers] == [(1, 1, 0), (1, 1, 1), (2, 1, 0), (2, 1, 1)]
    assert [tuple(r) for r in emitted] == [("met", 0, 1)]
    assert answer["policy"] == "fast"
    assert [c["metric"] for c in answer["clocks"]] == ["next_response", "resolution"]
    assert len(answer["pending_timers"]) == 4
