"""Conversations driven through every clock path on the real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sla_samples import FAST_POLICIES

from omni_schemas import CloudEvent
from omni_service.testing import read_events, running_app, wait_ready
from omni_sla.app import create_app
from omni_sla.domain.policies import load_config
from omni_sla.settings import Settings

pytestmark = pytest.mark.integration

SCALE = 1.5
"""Every target and instant of the script, in seconds, times this: room for a busy machine."""


def scaled_policies() -> dict[str, Any]:
    policies = []
    for policy in FAST_POLICIES["policies"]:
        targets = {m: f"{float(v.rstrip('s')) * SCALE}s" for m, v in policy["targets"].items()}
        policies.append(policy | {"targets": targets})
    return {"policies": policies}


def scaled(row: tuple[Any, ...]) -> tuple[Any, ...]:
    kind, metric, cycle, *times = row
    return (kind, metric, cycle, *(None if t is None else round(t * SCALE, 6) for t in times))


SLA_TYPES = {"omni.sla.warning.v1", "omni.sla.breached.v1", "omni.sla.met.v1"}


async def wait_assigned(app: Any, *, timeout_s: float = 30.0) -> None:
    engine = app.state.engine
    for _ in range(int(timeout_s * 10)):
        if engine.owned:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the SLA consumer never got its partitions")


def summary(event: CloudEvent, t0: datetime) -> tuple[Any, ...]:
    """(type, metric, cycle, due, at, remaining) with instants as seconds after t0."""
    data: Any = event.data
    kind = event.type.split(".")[2]
    at = {"breached": getattr(data, "breached_at", None), "met": getattr(data, "met_at", None)}.get(kind)
    remaining = getattr(data, "remaining_seconds", None)
    return (
        kind,
        data.metric.value,
        data.cycle,
        round((data.due_at - t0).total_seconds(), 6),
        None if at is None else round((at - t0).total_seconds(), 6),
        None if remaining is None else round(remaining, 6),
    )


async def test_every_clock_path_emits_exact_events(service_env: dict[str, Any]) -> None:
    settings = Settings(**service_env)
    app = create_app(settings, config=load_config(scaled_policies()))
    publisher = app.state.runtime.publisher
    conv = {name: uuid.uuid4() for name in ("met", "warned", "breached", "paused", "reopened", "transferred")}
    async with running_app(app) as client:
        await wait_ready(client)
        await wait_assigned(app)
        t0 = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)

        async def at(offset: float, name: str, what: str, **data: Any) -> None:
            moment = t0 + timedelta(seconds=offset * SCALE)
            await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))
            channel = "email" if name == "paused" else "chat"
            body = {"conversation_id": conv[name], "channel": channel, "occurred_at": moment} | data
            if what == "opened":
                body |= {"thread_key": f"t-{name}", "customer_id": "c1", "first_message_id": uuid.uuid4()}
            if what in ("customer_replied",):
                body |= {"message_id": uuid.uuid4()}
            if what in ("agent_replied",):
                body |= {"agent_id": "agent-tanaka"}
            await publisher.publish(publisher.new_event(f"omni.conversation.{what}.v1", body, time=moment))

        script = [
            (0.0, "met", "opened", {}),
            (0.2, "met", "agent_replied", {}),
            (0.3, "met", "resolved", {}),
            (0.0, "warned", "opened", {}),
            (2.0, "warned", "agent_replied", {}),
            (2.1, "warned", "resolved", {}),
            (0.0, "breached", "opened", {}),
            (0.0, "paused", "opened", {}),
            (0.2, "paused", "agent_replied", {}),
            (1.0, "paused", "agent_replied", {}),
            (2.5, "paused", "customer_replied", {}),
            (4.0, "paused", "resolved", {}),
            (0.0, "reopened", "opened", {}),
            (0.2, "reopened", "agent_replied", {}),
            (0.3, "reopened", "resolved", {}),
            (0.4, "reopened", "reopened", {}),
            (0.6, "reopened", "agent_replied", {}),
            (0.7, "reopened", "resolved", {}),
            (0.0, "transferred", "opened", {"queue": "general"}),
            (0.2, "transferred", "transferred", {"to_queue": "billing", "from_agent_id": None}),
            (3.5, "transferred", "agent_replied", {}),
            (3.6, "transferred", "resolved", {}),
        ]
        await asyncio.gather(*(at(off, name, what, **data) for off, name, what, data in script))
        events = await read_events(
            settings.kafka_bootstrap_servers,
            settings.topic("omni.sla.v1"),
            count=19,
            timeout_s=25,
            types=SLA_TYPES,
            settle_s=1.5,
        )

    by_conv: dict[uuid.UUID, list[tuple[Any, ...]]] = defaultdict(list)
    for event in events:
        by_conv[event.data.conversation_id].append(summary(event, t0))  # type: ignore[attr-defined]
    expect = {
        "met": [("met", "first_response", 1, 3.0, 0.2, 2.8), ("met", "resolution", 1, 6.0, 0.3, 5.7)],
        "warned": [
            ("warning", "first_response", 1, 3.0, None, 1.5),
            ("met", "first_response", 1, 3.0, 2.0, 1.0),
            ("met", "resolution", 1, 6.0, 2.1, 3.9),
        ],
        "breached": [
            ("warning", "first_response", 1, 3.0, None, 1.5),
            ("breached", "first_response", 1, 3.0, 3.0, None),
            ("warning", "resolution", 1, 6.0, None, 3.0),
            ("breached", "resolution", 1, 6.0, 6.0, None),
        ],
        # resolution 4 s, paused while waiting on the customer from 0.2 to 2.5 s: due at 6.3 s (warning at 4.3 s)
        "paused": [("met", "first_response", 1, 30.0, 0.2, 29.8), ("met", "resolution", 1, 6.3, 4.0, 2.3)],
        "reopened": [
            ("met", "first_response", 1, 3.0, 0.2, 2.8),
            ("met", "resolution", 1, 6.0, 0.3, 5.7),
            ("met", "next_response", 1, 3.4, 0.6, 2.8),
            ("met", "resolution", 2, 6.4, 0.7, 5.7),
        ],
        # the transfer at 0.2 s does not restart the first-response clock
        "transferred": [
            ("warning", "first_response", 1, 3.0, None, 1.5),
            ("breached", "first_response", 1, 3.0, 3.0, None),
            ("warning", "resolution", 1, 6.0, None, 3.0),
            ("met", "resolution", 1, 6.0, 3.6, 2.4),
        ],
    }
    got = {name: sorted(by_conv[conv[name]], key=repr) for name in expect}
    assert got == {name: sorted((scaled(row) for row in rows), key=repr) for name, rows in expect.items()}
    for rows in by_conv.values():  # per clock, the warning comes before the outcome
        for metric, cycle in {(r[1], r[2]) for r in rows}:
            kinds = [r[0] for r in rows if (r[1], r[2]) == (metric, cycle)]
            assert kinds in (["warning", "breached"], ["warning", "met"], ["met"], ["breached"])
    assert len(events) == sum(len(v) for v in expect.values())
    transferred_breach = next(
        e
        for e in events
        if e.data.conversation_id == conv["transferred"]  # type: ignore[attr-defined]
        and e.type == "omni.sla.breached.v1"
    )
    assert transferred_breach.data.queue == "billing"  # type: ignore[attr-defined]
    assert transferred_breach.data.policy == "fast"  # type: ignore[attr-defined]
    assert transferred_breach.time >= transferred_breach.data.due_at  # type: ignore[attr-defined]
