"""On real Kafka, PostgreSQL and Redis: messages become opened, queued and assigned conversations;
the agent API drives the rest; two replicas in one consumer group never double-assign."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from omni_router.app import create_app
from omni_router.settings import Settings
from omni_schemas import new_event
from omni_service.kafka import EventPublisher
from omni_service.metrics import ServiceMetrics
from omni_service.testing import read_events, running_app, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
AUTH = {"Authorization": "Bearer test-token"}
CONV = "omni.conversations.v1"


def message(
    thread_key: str,
    text: str,
    *,
    channel: str = "chat",
    language: str | None = "en",
    address: str = "",
    auto_reply: bool = False,
) -> Any:
    return new_event(
        "omni.message.received.v1",
        {
            "message_id": str(uuid.uuid4()),
            "channel": channel,
            "provider": {"chat": "webchat", "line": "line", "email": "smtp", "sms": "twilio"}[channel],
            "provider_message_id": None,
            "thread_key": thread_key,
            "customer": {"address": address or f"visitor-{thread_key}", "display_name": None},
            "text": text,
            "language": language,
            "received_at": datetime.now(UTC).isoformat(),
            "auto_reply": auto_reply,
        },
        source="/omni/test",
    )


async def publisher(kafka_bootstrap: str, topic_suffix: str) -> EventPublisher:
    pub = EventPublisher(
        bootstrap=kafka_bootstrap, service="test", metrics=ServiceMetrics("test"), topic_suffix=topic_suffix
    )
    await pub.start(wait=True)
    return pub


def settings(service_env: dict[str, Any], **extra: Any) -> Settings:
    return Settings(**service_env, router_tick_s=0.1, **extra)


async def offered_ids(kafka_bootstrap: str, topic_suffix: str, count: int) -> list[str]:
    """The conversation ids of the first `count` offers on the conversations topic (topic order)."""
    offered = await read_events(
        kafka_bootstrap, CONV + topic_suffix, count=count, timeout_s=20, types={"omni.conversation.offered.v1"}
    )
    return [str(e.data.conversation_id) for e in offered]  # type: ignore[attr-defined]


async def put_agent(client: Any, agent_id: str, *, skills: dict[str, int], languages: list[str], chat: int) -> None:
    r = await client.put(
        f"/v1/agents/{agent_id}",
        json={"display_name": agent_id, "skills": skills, "languages": languages, "capacity": {"chat": chat}},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    r = await client.put(f"/v1/agents/{agent_id}/presence", json={"status": "available"}, headers=AUTH)
    assert r.status_code == 200, r.text


async def test_japanese_message_is_opened_queued_and_assigned_with_reason(
    service_env: dict[str, Any], kafka_bootstrap: str, topic_suffix: str
) -> None:
    app = create_app(settings(service_env))
    pub = await publisher(kafka_bootstrap, topic_suffix)
    try:
        async with running_app(app) as client:
            await wait_ready(client)
            await put_agent(client, "en-agent", skills={"billing": 9}, languages=["en"], chat=2)
            await put_agent(client, "ja-agent", skills={"billing": 6, "keigo": 8}, languages=["ja"], chat=2)
            await pub.publish(message("thread-ja-1", "先月の請求について", language="ja"))
            events = await read_events(
                kafka_bootstrap,
                CONV + topic_suffix,
                count=3,
                timeout_s=30,
                types={"omni.conversation.opened.v1", "omni.conversation.queued.v1", "omni.conversation.offered.v1"},
            )
            kinds = [e.type.split(".")[2] for e in events]
            assert kinds == ["opened", "queued", "offered"], kinds
            offered = events[2].data
            assert offered.agent_id == "ja-agent"
            assert offered.queue == "billing-ja"
            assert offered.reason.rule == "japanese-billing"
            assert offered.reason.agent_skills["billing"] == 6
            cid = str(offered.conversation_id)

            r = await client.post(f"/v1/conversations/{cid}/accept", json={"agent_id": "en-agent"}, headers=AUTH)
            assert (r.status_code, r.json()["error"]["code"]) == (409, "not_offered")
            r = await client.post(f"/v1/conversations/{cid}/accept", json={"agent_id": "ja-agent"}, headers=AUTH)
            assert r.status_code == 200, r.text
            r = await client.get("/v1/agents/ja-agent", headers=AUTH)
            assert r.json()["load"]["chat"] == 1
            assert [c["conversation_id"] for c in r.json()["conversations"]] == [cid]
            r = await client.post(
                f"/v1/conversations/{cid}/reply", json={"agent_id": "ja-agent", "text": "承知しました"}, headers=AUTH
            )
            assert r.status_code == 200, r.text
            r = await client.post(f"/v1/conversations/{cid}/resolve", json={"agent_id": "ja-agent"}, headers=AUTH)
            assert r.status_code == 200, r.text
            r = await client.post(f"/v1/conversations/{cid}/csat", json={"score": 5}, headers=AUTH)
            assert r.status_code == 200, r.text
            assert (await client.get("/v1/agents/ja-agent", headers=AUTH)).json()["load"]["chat"] == 0

            # the customer writes again within the reopen window: same conversation, sticky to ja-agent
            await pub.publish(message("thread-ja-1", "もう一つ質問があります", language="ja"))
            later = await read_events(
                kafka_bootstrap,
                CONV + topic_suffix,
                count=10,
                timeout_s=30,
            )
            types = [e.type.split(".")[2] for e in later]
            assert types[3:] == [
                "assigned",
                "agent_replied",
                "resolved",
                "csat_submitted",
                "reopened",
                "queued",
                "offered",
            ], " ".join(types)
            assert str(later[-1].data.conversation_id) == cid
            assert later[-1].data.reason.sticky

            # auto-replies are recorded, not routed
            await pub.publish(message("thread-auto", "Out of office", auto_reply=True))
            await pub.publish(message("thread-after", "a real question"))
            tail = await read_events(
                kafka_bootstrap, CONV + topic_suffix, count=13, timeout_s=30, types=None, settle_s=1.0
            )
            opened = {e.data.thread_key: e.data.conversation_id for e in tail if e.type.endswith(".opened.v1")}
            assert set(opened) == {"thread-ja-1", "thread-after"}  # the auto-reply opened nothing
            after = [e.type.split(".")[2] for e in tail if e.data.conversation_id == opened["thread-after"]]
            assert after == ["opened", "queued", "assigned"]
            r = await client.get("/v1/queues", headers=AUTH)
            assert r.status_code == 200
            assert {q["queue"] for q in r.json()["queues"]} >= {"general", "billing-ja"}
    finally:
        await pub.stop()


async def test_api_errors_are_precise(service_env: dict[str, Any]) -> None:
    app = create_app(settings(service_env))
    async with running_app(app) as client:
        await wait_ready(client)
        assert (await client.get("/v1/agents/nobody")).status_code == 401
        r = await client.get("/v1/agents/nobody", headers=AUTH)
        assert (r.status_code, r.json()["error"]["code"]) == (404, "unknown_agent")
        r = await client.put("/v1/agents/nobody/presence", json={"status": "available"}, headers=AUTH)
        assert (r.status_code, r.json()["error"]["code"]) == (404, "unknown_agent")
        await put_agent(client, "a1", skills={}, languages=["en"], chat=1)
        r = await client.put("/v1/agents/a1/presence", json={"status": "sleeping"}, headers=AUTH)
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_presence")
        r = await client.put("/v1/agents/a1", json={"skills": {"x": 11}}, headers=AUTH)
        assert r.status_code == 400
        r = await client.put("/v1/agents/a1", json={"capacity": {"phone": 1}}, headers=AUTH)
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_capacity")
        missing = uuid.uuid4()
        r = await client.post(f"/v1/conversations/{missing}/resolve", json={"agent_id": "a1"}, headers=AUTH)
        assert (r.status_code, r.json()["error"]["code"]) == (404, "unknown_conversation")
        r = await client.post(f"/v1/conversations/{missing}/csat", json={"score": 9}, headers=AUTH)
        assert r.status_code == 400
        r = await client.post("/v1/conversations/by-thread/nothing/abandon", json={}, headers=AUTH)
        assert (r.status_code, r.json()["error"]["code"]) == (404, "unknown_conversation")
        assert "/v1/agents/{agent_id}" in (await client.get("/openapi.json")).json()["paths"]


async def test_two_replicas_never_double_assign_or_exceed_capacity(
    service_env: dict[str, Any], kafka_bootstrap: str, topic_suffix: str, redis_url: str
) -> None:
    import redis.asyncio as aioredis

    one = create_app(settings(service_env))
    two = create_app(settings(service_env))
    pub = await publisher(kafka_bootstrap, topic_suffix)
    threads = 40
    try:
        async with running_app(one) as c1, running_app(two) as c2:
            await wait_ready(c1)
            await wait_ready(c2)
            for i in range(4):
                await put_agent(c1 if i % 2 else c2, f"agent-{i}", skills={}, languages=["en"], chat=3)
            # more conversations than slots (12): the rest wait until agents resolve
            await asyncio.gather(
                *(pub.publish(message(f"load-{i}", f"hello {i}", address=f"c{i}@example.com")) for i in range(threads))
            )
            assigned = await read_events(
                kafka_bootstrap,
                CONV + topic_suffix,
                count=12,
                timeout_s=40,
                types={"omni.conversation.assigned.v1"},
                settle_s=2.0,
            )
            assert len({e.id for e in assigned}) == len(assigned) == 12
            per_agent = Counter(e.data.agent_id for e in assigned)
            assert max(per_agent.values()) <= 3
            # Redis holds nothing the claims depend on: losing it mid-run changes nothing
            flusher = aioredis.from_url(redis_url)
            await flusher.flushdb()
            await flusher.aclose()
            # resolve everything through alternating replicas; waiting ones get pulled in
            done: set[str] = set()
            for _ in range(40):
                events = await read_events(
                    kafka_bootstrap, CONV + topic_suffix, timeout_s=1.5, types={"omni.conversation.assigned.v1"}
                )
                for k, e in enumerate(events):
                    cid = str(e.data.conversation_id)
                    if cid in done:
                        continue
                    client = c1 if k % 2 else c2
                    r = await client.post(
                        f"/v1/conversations/{cid}/resolve", json={"agent_id": e.data.agent_id}, headers=AUTH
                    )
                    assert r.status_code == 200, r.text
                    done.add(cid)
                if len(done) == threads:
                    break
            events = await read_events(kafka_bootstrap, CONV + topic_suffix, timeout_s=3)
            assigned_ids = [str(e.data.conversation_id) for e in events if e.type == "omni.conversation.assigned.v1"]
            assert len(assigned_ids) == len(set(assigned_ids)) == threads
            # replay in order: no agent ever held more than its 3 chat slots
            load: Counter[str] = Counter()
            holder: dict[str, str] = {}
            for e in events:
                if e.type == "omni.conversation.assigned.v1":
                    holder[str(e.data.conversation_id)] = e.data.agent_id
                    load[e.data.agent_id] += 1
                    assert load[e.data.agent_id] <= 3
                elif e.type == "omni.conversation.resolved.v1":
                    load[holder[str(e.data.conversation_id)]] -= 1
            for i in range(4):
                r = await c1.get(f"/v1/agents/agent-{i}", headers=AUTH)
                assert r.json()["load"]["chat"] == 0
    finally:
        await pub.stop()
