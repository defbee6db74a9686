"""Offers, declines, expiry, abandonment, transfer and SLA urgency on real Kafka, PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from test_router_flow import AUTH, CONV, message, offered_ids, publisher, put_agent, settings

from omni_router.app import create_app
from omni_router.domain.classification import parse_routing_config
from omni_schemas import new_event
from omni_service.testing import read_events, running_app, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CONFIG = parse_routing_config(
    """
default_queue: general
queues:
  general: {strategy: longest_idle, offer_timeout: 1s}
  direct: {strategy: least_loaded}
rules:
  - name: direct-sms
    match: {channel: [sms]}
    queue: direct
""",
    source="test.yaml",
)


def of(events: list[Any], cid: str) -> list[str]:
    return [e.type.split(".")[2] for e in events if str(e.data.conversation_id) == cid]


async def test_decline_and_expiry_reroute_and_never_come_back(
    service_env: dict[str, Any], kafka_bootstrap: str, topic_suffix: str
) -> None:
    app = create_app(settings(service_env), config=CONFIG)
    pub = await publisher(kafka_bootstrap, topic_suffix)
    try:
        async with running_app(app) as client:
            await wait_ready(client)
            await put_agent(client, "first", skills={}, languages=["en"], chat=1)
            await pub.publish(message("t-offer", "hi"))
            (cid,) = await offered_ids(kafka_bootstrap, topic_suffix, 1)
            await put_agent(client, "second", skills={}, languages=["en"], chat=1)
            r = await client.post(f"/v1/conversations/{cid}/decline", json={"agent_id": "first"}, headers=AUTH)
            assert r.status_code == 200, r.text
            # offered to "second", who lets it expire (1 s); nobody else is left: it waits
            events = await read_events(
                kafka_bootstrap,
                CONV + topic_suffix,
                count=2,
                timeout_s=20,
                types={"omni.conversation.offer_expired.v1", "omni.conversation.offered.v1"},
            )
            events = await read_events(kafka_bootstrap, CONV + topic_suffix, timeout_s=4)
            assert of(events, cid) == [
                "opened",
                "queued",
                "offered",
                "offer_declined",
                "queued",
                "offered",
                "offer_expired",
                "queued",
            ]
            assert [e.data.agent_id for e in events if e.type.endswith("offered.v1")] == ["first", "second"]
            doc = (await client.get(f"/v1/conversations/{cid}", headers=AUTH)).json()
            assert doc["state"] == "waiting"
            assert doc["declined_by"] == ["first", "second"]
            for agent in ("first", "second"):
                assert (await client.get(f"/v1/agents/{agent}", headers=AUTH)).json()["load"]["chat"] == 0
            # the customer leaves before anyone takes it
            r = await client.post("/v1/conversations/by-thread/t-offer/abandon", json={}, headers=AUTH)
            assert r.json() == {"abandoned": True, "conversation_id": cid}
            r = await client.post("/v1/conversations/by-thread/t-offer/abandon", json={}, headers=AUTH)
            assert r.status_code == 404
    finally:
        await pub.stop()


async def test_transfer_and_sla_urgency(service_env: dict[str, Any], kafka_bootstrap: str, topic_suffix: str) -> None:
    app = create_app(settings(service_env), config=CONFIG)
    pub = await publisher(kafka_bootstrap, topic_suffix)
    try:
        async with running_app(app) as client:
            await wait_ready(client)
            await put_agent(client, "a", skills={}, languages=["en"], chat=0)
            r = await client.put(
                "/v1/agents/a", json={"skills": {}, "languages": ["en"], "capacity": {"sms": 1}}, headers=AUTH
            )
            assert r.status_code == 200
            for i in range(3):
                await pub.publish(message(f"sms-{i}", "hello", channel="sms", address=f"+8190000000{i}"))
            first = await read_events(
                kafka_bootstrap, CONV + topic_suffix, count=1, timeout_s=20, types={"omni.conversation.assigned.v1"}
            )
            holder = str(first[0].data.conversation_id)
            queued = await read_events(
                kafka_bootstrap, CONV + topic_suffix, count=3, timeout_s=20, types={"omni.conversation.queued.v1"}
            )
            waiting = [str(e.data.conversation_id) for e in queued if str(e.data.conversation_id) != holder]
            # the youngest waiting conversation nears its SLA: it goes first
            docs = [(await client.get(f"/v1/conversations/{c}", headers=AUTH)).json() for c in waiting]
            waiting = [d["conversation_id"] for d in sorted(docs, key=lambda d: d["enqueued_at"])]
            assert len(waiting) == 2
            urgent = waiting[-1]
            warning = new_event(
                "omni.sla.warning.v1",
                {
                    "conversation_id": urgent,
                    "policy": "sms",
                    "metric": "first_response",
                    "due_at": (datetime.now(UTC) + timedelta(seconds=30)).isoformat(),
                    "remaining_seconds": 30.0,
                },
                source="/omni/test",
            )
            await pub.publish(warning)
            for _ in range(50):
                doc = (await client.get(f"/v1/conversations/{urgent}", headers=AUTH)).json()
                if doc["sla_due_at"]:
                    break
                await asyncio.sleep(0.1)
            assert doc["sla_due_at"]
            r = await client.post(f"/v1/conversations/{holder}/transfer", json={"to_agent_id": "nobody"}, headers=AUTH)
            assert (r.status_code, r.json()["error"]["code"]) == (404, "unknown_agent")
            r = await client.post(f"/v1/conversations/{holder}/transfer", json={"to_queue": "general"}, headers=AUTH)
            assert r.status_code == 200, r.text
            # the freed slot goes to the urgent one, not the older one
            events = await read_events(
                kafka_bootstrap, CONV + topic_suffix, count=2, timeout_s=20, types={"omni.conversation.assigned.v1"}
            )
            assert {str(e.data.conversation_id) for e in events} == {holder, urgent}
            r = await client.post(f"/v1/conversations/{waiting[0]}/transfer", json={"to_agent_id": "a"}, headers=AUTH)
            assert (r.status_code, r.json()["error"]["code"]) == (409, "capacity_exceeded")
            # a signed-out agent with a free slot takes no transfer: nobody would see the conversation
            r = await client.put("/v1/agents/b", json={"skills": {}, "capacity": {"sms": 1}}, headers=AUTH)
            assert r.status_code == 200, r.text
            r = await client.post(f"/v1/conversations/{waiting[0]}/transfer", json={"to_agent_id": "b"}, headers=AUTH)
            assert (r.status_code, r.json()["error"]["code"]) == (409, "agent_offline")
            doc = (await client.get(f"/v1/conversations/{waiting[0]}", headers=AUTH)).json()
            assert (doc["state"], doc["agent_id"]) == ("waiting", None)
            r = await client.put("/v1/agents/b/presence", json={"status": "away"}, headers=AUTH)
            assert r.status_code == 200, r.text
            r = await client.post(f"/v1/conversations/{waiting[0]}/transfer", json={"to_agent_id": "b"}, headers=AUTH)
            assert r.status_code == 200, r.text
            assert r.json()["agent_id"] == "b"
    finally:
        await pub.stop()
