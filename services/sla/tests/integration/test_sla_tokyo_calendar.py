"""The shipped SLA file end to end: a Japanese e-mail on a Friday evening is due after the holiday Monday."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from omni_schemas import to_record
from omni_service.kafka import Incoming
from omni_service.testing import running_app, wait_ready
from omni_sla.adapters.config_file import read_sla_config
from omni_sla.app import create_app
from omni_sla.settings import Settings

pytestmark = pytest.mark.integration
JST = ZoneInfo("Asia/Tokyo")


async def test_tokyo_office_hours_and_coming_of_age_day_set_the_due_time(
    service_env: dict[str, Any], repo_root: Path
) -> None:
    settings = Settings(**service_env)
    app = create_app(settings, config=read_sla_config(repo_root / "config" / "sla.yaml"))
    engine = app.state.engine
    publisher = app.state.runtime.publisher
    conv = uuid.uuid4()
    friday_evening = datetime(2027, 1, 8, 17, 30, tzinfo=JST)
    event = publisher.new_event(
        "omni.conversation.opened.v1",
        {
            "conversation_id": conv,
            "channel": "email",
            "queue": "billing-ja",
            "thread_key": "mail:1",
            "customer_id": "yamada@example.jp",
            "first_message_id": uuid.uuid4(),
            "occurred_at": friday_evening,
        },
    )
    record = to_record(event)
    async with running_app(app) as client:
        await wait_ready(client)
        for _ in range(300):
            if 0 in engine.owned:
                break
            await asyncio.sleep(0.1)
        await engine.on_conversation(Incoming("omni.conversations.v1", 0, 1, record.key, record.value, (), event, 0))
        answer = (await client.get(f"/v1/sla/conversations/{conv}")).json()
    assert answer["policy"] == "japan-email"
    due = {
        (t["metric"], t["kind"]): datetime.fromisoformat(t["due_at"]).astimezone(JST) for t in answer["pending_timers"]
    }
    # 4 business hours: 30 min on Friday, the weekend and Monday 11 Jan (Coming of Age Day) closed,
    # then 3.5 h from Tuesday 09:00; the warning 30 min before
    assert due[("first_response", "breached")] == datetime(2027, 1, 12, 12, 30, tzinfo=JST)
    assert due[("first_response", "warning")] == datetime(2027, 1, 12, 12, 0, tzinfo=JST)
    # 3 days = 72 business hours = 8 office days (9 h each) after Friday's 30 minutes
    assert due[("resolution", "breached")] == datetime(2027, 1, 21, 17, 30, tzinfo=JST)
