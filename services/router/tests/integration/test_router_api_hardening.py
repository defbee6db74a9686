"""What an agent desktop and admin tooling meet at the edges of the API, on real Kafka, PostgreSQL and
Redis: text PostgreSQL cannot store is a 400 (never a 500), retried requests are idempotent, and a
stale agent cannot act on a conversation it no longer holds."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from test_router_flow import AUTH, CONV, message, offered_ids, publisher, put_agent, settings

from omni_router.app import create_app
from omni_router.domain.classification import parse_routing_config
from omni_service.testing import read_events, running_app, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CONFIG = parse_routing_config(
    """
default_queue: general
queues:
  general: {strategy: longest_idle, offer_timeout: 60s}
  other: {strategy: longest_idle}
""",
    source="test.yaml",
)
JSON = {**AUTH, "content-type": "application/json"}


def kinds(events: list[Any], cid: str) -> list[str]:
    return [e.type.split(".")[2] for e in events if str(e.data.conversation_id) == cid]


async def test_nul_and_unpaired_surrogates_in_ids_and_text_are_a_400(service_env: dict[str, Any]) -> None:
    app = create_app(settings(service_env), config=CONFIG)
    async with running_app(app) as client:
        await wait_ready(client)
        await put_agent(client, "a1", skills={}, languages=["en"], chat=1)
        cid = uuid.uuid4()
        requests: list[tuple[str, str, Any]] = [
            ("PUT", "/v1/agents/a%00b", {}),
            ("GET", "/v1/agents/a%00b", None),
            ("PUT", "/v1/agents/a%00b/presence", {"status": "available"}),
            ("PUT", "/v1/agents/a2", {"display_name": "x\u0000"}),
            ("PUT", "/v1/agents/a2", {"skills": {"bil\u0000ling": 1}}),
            ("PUT", "/v1/agents/a2", {"languages": ["e\u0000n"]}),
            ("PUT", "/v1/agents/a2", b'{"skills": {"\\ud800": 1}}'),
            ("PUT", "/v1/agents/a2", b'{"languages": ["\\udfff"]}'),
            ("POST", f"/v1/conversations/{cid}/transfer", {"to_agent_id": "a\u0000"}),
            ("POST", f"/v1/conversations/{cid}/transfer", b'{"to_agent_id": "\\ud800"}'),
            ("POST", f"/v1/conversations/{cid}/transfer", b'{"agent_id": "\\ud800", "to_queue": "other"}'),
            ("POST", f"/v1/conversations/{cid}/accept", {"agent_id": "a\u0000"}),
            ("POST", f"/v1/conversations/{cid}/reply", {"agent_id": "a1", "text": "a\u0000b"}),
            ("POST", "/v1/conversations/by-thread/a%00b/abandon", {}),
            ("GET", "/v1/customers/c%00", None),
            ("GET", "/v1/customers/by-identity/chat:a%00b", None),
            ("POST", "/v1/customers/c%00/identities", {"identity": "chat:a"}),
            ("POST", "/v1/customers/c1/identities", {"identity": "chat:a\u0000"}),
        ]
        for method, url, body in requests:
            if isinstance(body, bytes):
                r = await client.request(method, url, content=body, headers=JSON)
            else:
                r = await client.request(method, url, json=body, headers=AUTH)
            assert r.status_code == 400, (method, url, body, r.status_code, r.text)
            assert r.json()["error"]["code"] in ("invalid_request", "invalid_identity"), r.text
        r = await client.get("/v1/agents/a1", headers=AUTH)
        assert r.status_code == 200 and r.json()["status"] == "available"


async def test_retried_accept_decline_and_resolve_answer_200_and_act_once(
    service_env: dict[str, Any], kafka_bootstrap: str, topic_suffix: str
) -> None:
    app = create_app(settings(service_env), config=CONFIG)
    pub = await publisher(kafka_bootstrap, topic_suffix)
    try:
        async with running_app(app) as client:
            await wait_ready(client)
            await put_agent(client, "a1", skills={}, languages=["en"], chat=2)
            for thread in ("keep", "retry"):
                await pub.publish(message(thread, "hi"))
            keep, cid = await offered_ids(kafka_bootstrap, topic_suffix, 2)
            r = await client.post(f"/v1/conversations/{keep}/accept", json={"agent_id": "a1"}, headers=AUTH)
            assert r.status_code == 200, r.text
            # the desktop timed out and retries each action: same answer, one effect
            first = await client.post(f"/v1/conversations/{cid}/accept", json={"agent_id": "a1"}, headers=AUTH)
            again = await client.post(f"/v1/conversations/{cid}/accept", json={"agent_id": "a1"}, headers=AUTH)
            assert (first.status_code, again.status_code) == (200, 200), again.text
            assert again.json()["state"] == "assigned" and again.json()["agent_id"] == "a1"
            r = await client.post(f"/v1/conversations/{cid}/accept", json={"agent_id": "a2"}, headers=AUTH)
            assert (r.status_code, r.json()["error"]["code"]) == (409, "not_offered")
            first = await client.post(f"/v1/conversations/{cid}/resolve", json={"agent_id": "a1"}, headers=AUTH)
            again = await client.post(f"/v1/conversations/{cid}/resolve", json={"agent_id": "a1"}, headers=AUTH)
            assert (first.status_code, again.status_code) == (200, 200), again.text
            assert again.json()["state"] == "resolved"
            r = await client.post(f"/v1/conversations/{cid}/resolve", json={"agent_id": "a2"}, headers=AUTH)
            assert (r.status_code, r.json()["error"]["code"]) == (409, "not_assigned")
            agent = (await client.get("/v1/agents/a1", headers=AUTH)).json()
            assert agent["load"]["chat"] == 1, agent  # the retried resolve freed no second slot
            assert [c["conversation_id"] for c in agent["conversations"]] == [keep]

            await pub.publish(message("declined", "hi"))
            (declined,) = set(await offered_ids(kafka_bootstrap, topic_suffix, 3)) - {
                keep,
                cid,
            }  # topic order is per partition
            first = await client.post(f"/v1/conversations/{declined}/decline", json={"agent_id": "a1"}, headers=AUTH)
            again = await client.post(f"/v1/conversations/{declined}/decline", json={"agent_id": "a1"}, headers=AUTH)
            assert (first.status_code, again.status_code) == (200, 200), again.text
            assert again.json()["state"] == "waiting" and again.json()["declined_by"] == ["a1"]
            r = await client.post(f"/v1/conversations/{declined}/decline", json={"agent_id": "a2"}, headers=AUTH)
            assert (r.status_code, r.json()["error"]["code"]) == (409, "not_offered")
            assert (await client.get("/v1/agents/a1", headers=AUTH)).json()["load"]["chat"] == 1

            events = await read_events(kafka_bootstrap, CONV + topic_suffix, timeout_s=3)
            assert kinds(events, cid) == ["opened", "queued", "offered", "assigned", "resolved"]
            assert kinds(events, declined) == ["opened", "queued", "offered", "offer_declined", "queued"]
    finally:
        await pub.stop()


async def test_reply_retried_with_its_message_id_reaches_the_customer_once(
    service_env: dict[str, Any], kafka_bootstrap: str, topic_suffix: str
) -> None:
    app = create_app(settings(service_env))
    pub = await publisher(kafka_bootstrap, topic_suffix)
    try:
        async with running_app(app) as client:
            await wait_ready(client)
            await put_agent(client, "a1", skills={}, languages=["en"], chat=2)
            await pub.publish(message("r1", "hi"))
            await pub.publish(message("r2", "hi"))
            assigned = await read_events(
                kafka_bootstrap, CONV + topic_suffix, count=2, timeout_s=20, types={"omni.conversation.assigned.v1"}
            )
            cid, other = (str(e.data.conversation_id) for e in assigned)
            mid = str(uuid.uuid4())
            body = {"agent_id": "a1", "text": "Thanks, looking into it", "message_id": mid}
            answers = await asyncio.gather(
                *(client.post(f"/v1/conversations/{cid}/reply", json=body, headers=AUTH) for _ in range(3))
            )
            assert [r.status_code for r in answers] == [200, 200, 200], [r.text for r in answers]
            assert {r.json()["message_id"] for r in answers} == {mid}
            r = await client.post(f"/v1/conversations/{cid}/resolve", json={"agent_id": "a1"}, headers=AUTH)
            assert r.status_code == 200
            r = await client.post(f"/v1/conversations/{cid}/reply", json=body, headers=AUTH)
            assert (r.status_code, r.json()["message_id"]) == (200, mid)  # a late retry still answers
            r = await client.post(f"/v1/conversations/{other}/reply", json=body, headers=AUTH)
            assert (r.status_code, r.json()["error"]["code"]) == (409, "message_id_reused")
            r = await client.post(
                f"/v1/conversations/{other}/reply", json={"agent_id": "a1", "text": "x"}, headers=AUTH
            )
            assert r.status_code == 200  # without a message id, each reply is a new message
            events = await read_events(
                kafka_bootstrap,
                CONV + topic_suffix,
                count=2,
                timeout_s=10,
                types={"omni.conversation.agent_replied.v1"},
                settle_s=1.0,
            )
            sent = [(str(e.data.conversation_id), str(e.data.message_id)) for e in events]
            assert (cid, mid) in sent and sorted(c for c, _ in sent) == sorted([cid, other]), sent
    finally:
        await pub.stop()


async def test_transfer_by_an_agent_who_no_longer_holds_it_is_409(
    service_env: dict[str, Any], kafka_bootstrap: str, topic_suffix: str
) -> None:
    app = create_app(settings(service_env), config=CONFIG)
    pub = await publisher(kafka_bootstrap, topic_suffix)
    try:
        async with running_app(app) as client:
            await wait_ready(client)
            await put_agent(client, "a1", skills={}, languages=["en"], chat=1)
            await pub.publish(message("t1", "hi"))
            (cid,) = await offered_ids(kafka_bootstrap, topic_suffix, 1)
            r = await client.post(f"/v1/conversations/{cid}/accept", json={"agent_id": "a1"}, headers=AUTH)
            assert r.status_code == 200
            move = {"agent_id": "a1", "to_queue": "other"}
            r = await client.post(f"/v1/conversations/{cid}/transfer", json=move, headers=AUTH)
            assert r.status_code == 200, r.text
            enqueued_at = r.json()["enqueued_at"]
            # the retry (the first answer was lost) must not move it again nor reset its place in the queue
            r = await client.post(f"/v1/conversations/{cid}/transfer", json=move, headers=AUTH)
            assert (r.status_code, r.json()["error"]["code"]) == (409, "not_assigned"), r.text
            doc = (await client.get(f"/v1/conversations/{cid}", headers=AUTH)).json()
            assert (doc["state"], doc["queue"], doc["enqueued_at"]) == ("waiting", "other", enqueued_at)
            # an admin (no agent_id) may still move a waiting conversation
            r = await client.post(f"/v1/conversations/{cid}/transfer", json={"to_queue": "general"}, headers=AUTH)
            assert r.status_code == 200, r.text
    finally:
        await pub.stop()


async def test_abandon_finds_a_thread_key_with_a_percent_sign(
    service_env: dict[str, Any], kafka_bootstrap: str, topic_suffix: str
) -> None:
    app = create_app(settings(service_env), config=CONFIG)
    pub = await publisher(kafka_bootstrap, topic_suffix)
    thread = "chat:50%41off/x"
    try:
        async with running_app(app) as client:
            await wait_ready(client)
            await pub.publish(message(thread, "hi"))
            queued = await read_events(
                kafka_bootstrap, CONV + topic_suffix, count=1, timeout_s=20, types={"omni.conversation.queued.v1"}
            )
            cid = str(queued[0].data.conversation_id)
            r = await client.post(
                f"/v1/conversations/by-thread/{quote(thread, safe='')}/abandon", json={}, headers=AUTH
            )
            assert r.json() == {"abandoned": True, "conversation_id": cid}, r.text
    finally:
        await pub.stop()
