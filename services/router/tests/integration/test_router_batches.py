"""On real PostgreSQL (and Kafka, Redis for the router): the batch paths. A consumed batch of
message events is handled in one transaction with the same outcome as one at a time, and
concurrent claim batches never assign a conversation twice nor fill an agent over capacity."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import asyncpg
import pytest
from test_router_flow import AUTH, CONV, message, put_agent, settings

from omni_router.adapters import postgres as pg
from omni_router.app import create_app
from omni_service.db import migrate
from omni_service.testing import read_events, running_app, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def _pool(database_url: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=4, init=pg.init_connection)
    assert pool is not None
    await migrate(pool, service="router", package="omni_router")
    return pool


async def test_concurrent_claim_batches_never_double_assign_nor_exceed_capacity(database_url: str) -> None:
    pool = await _pool(database_url)
    try:
        async with pool.acquire() as conn:
            await conn.execute(
                """insert into router_agents (agent_id, cap_chat, cap_email, presence) values
                     ('a1', 3, 0, 'available'), ('a2', 5, 0, 'busy'), ('a3', 4, 1, 'available')"""
            )
            # a1 holds two e-mails from before its e-mail capacity was lowered to 0: chats still fit
            await conn.execute("update router_agents set load_email = 2 where agent_id = 'a1'")
            cids = sorted(uuid.uuid4() for _ in range(12))
            await conn.executemany(
                """insert into router_conversations (conversation_id, thread_key, customer_id, channel, state, queue,
                                                     enqueued_at, opened_at, declined)
                   values ($1, $2, 'c', 'chat', 'waiting', 'general', now(), now(), $3)""",
                [(cid, f"t-{i}", ["a1"] if i == 0 else []) for i, cid in enumerate(cids)],
            )
            await conn.execute("update router_conversations set state = 'resolved' where conversation_id = $1", cids[1])

        def spec(cid: uuid.UUID, agent: str, group: str = "chat") -> pg.ClaimSpec:
            return pg.ClaimSpec(cid, agent, group, False, None, {"summary": "test", "strategy": "longest_idle"})

        # both batches want conversations 4-7; a1 is wanted 10 times for 3 slots; a2 is busy
        batch_a = [spec(cids[i], "a1") for i in (7, 0, 1, 2, 3, 4, 5, 6)] + [spec(cids[11], "a2")]
        batch_b = [spec(cids[i], "a1" if i % 2 else "a3") for i in (4, 5, 6, 7, 8, 9, 10)]
        batch_b.append(spec(cids[3], "a3", "email"))  # also wanted by batch a, other group

        def events_for(row: asyncpg.Record, claim: pg.ClaimSpec) -> list[Any]:
            return []

        async def run(batch: list[pg.ClaimSpec]) -> list[pg.ClaimResult]:
            async with pool.acquire() as conn:
                return await pg.claim_many(conn, batch, events_for=events_for)

        results_a, results_b = await asyncio.gather(run(batch_a), run(batch_b))
        won = [(c.conversation_id, c.agent_id, c.group) for c, r in zip(batch_a, results_a, strict=True) if r.ok]
        won += [(c.conversation_id, c.agent_id, c.group) for c, r in zip(batch_b, results_b, strict=True) if r.ok]

        by_conv = Counter(cid for cid, _, _ in won)
        assert set(by_conv.values()) == {1}  # never twice
        per_agent = Counter((agent, group) for _, agent, group in won)
        assert per_agent[("a1", "chat")] == 3  # all of its slots, no more (10 claims wanted it)
        assert per_agent[("a3", "chat")] <= 4 and per_agent[("a3", "email")] <= 1
        assert ("a2", "chat") not in per_agent
        assert cids[0] not in by_conv and cids[1] not in by_conv  # declined by a1; resolved
        rejected = dict(zip([c.conversation_id for c in batch_a], results_a, strict=True))
        assert rejected[cids[0]].still_waiting is False and rejected[cids[1]].still_waiting is False
        assert rejected[cids[11]].still_waiting is True and rejected[cids[11]].agent["presence"] == "busy"

        async with pool.acquire() as conn:
            rows = await conn.fetch("select conversation_id, state, agent_id from router_conversations")
            agents = {r["agent_id"]: r for r in await conn.fetch("select * from router_agents")}
            history = await conn.fetch("select conversation_id, agent_id, kind from router_assignments")
        assigned = {r["conversation_id"]: r["agent_id"] for r in rows if r["state"] == "assigned"}
        assert assigned == {cid: agent for cid, agent, _ in won}
        assert sorted((h["conversation_id"], h["agent_id"]) for h in history) == sorted(assigned.items())
        assert (agents["a1"]["load_chat"], agents["a1"]["load_email"]) == (3, 2)
        assert agents["a2"]["load_chat"] == 0
        assert agents["a3"]["load_chat"] == per_agent[("a3", "chat")]
        assert agents["a3"]["load_email"] == per_agent[("a3", "email")]
        # a loser learns the agent's load as it is after the batch (here: full)
        for claims, results in ((batch_a, results_a), (batch_b, results_b)):
            for c, r in zip(claims, results, strict=True):
                if not r.ok and r.still_waiting and c.agent_id == "a1":
                    assert r.agent is not None and r.agent["load_chat"] <= 3
    finally:
        await pool.close()


async def test_a_batch_of_message_events_opens_replies_dedupes_and_assigns(
    service_env: dict[str, Any], kafka_bootstrap: str, topic_suffix: str
) -> None:
    app = create_app(settings(service_env))
    async with running_app(app) as client:
        await wait_ready(client)
        await put_agent(client, "batch-agent", skills={}, languages=["en"], chat=10)
        router = app.state.router
        first = message("b-1", "hello")
        events = [
            first,
            message("b-2", "hi there", address="same@example.com"),
            message("b-1", "are you there?"),
            first,  # redelivered in the same batch
            message("b-3", "out of office", auto_reply=True),  # an auto-reply opens nothing
            message("b-4", "another thread, same customer", address="same@example.com"),
            message("b-3", "now a real question"),
        ]
        await router.on_messages(events)
        await router.on_messages([first])  # redelivered later

        out = await read_events(kafka_bootstrap, CONV + topic_suffix, count=13, timeout_s=30)
        kinds = Counter(e.type.split(".")[2] for e in out)
        assert kinds == {"opened": 4, "queued": 4, "assigned": 4, "customer_replied": 1}, kinds
        opened = {e.data.thread_key: e.data for e in out if e.type.endswith(".opened.v1")}
        assert sorted(opened) == ["b-1", "b-2", "b-3", "b-4"]
        assert opened["b-2"].customer_id == opened["b-4"].customer_id
        assert opened["b-1"].first_message_id == first.data.message_id
        replied = next(e.data for e in out if e.type.endswith(".customer_replied.v1"))
        assert replied.conversation_id == opened["b-1"].conversation_id
        # per conversation, opened and queued come before assigned
        order = [(str(e.data.conversation_id), e.type.split(".")[2]) for e in out]
        for cid in {c for c, _ in order}:
            mine = [k for c, k in order if c == cid]
            assert mine.index("assigned") > mine.index("queued") > mine.index("opened")

        pool = router.pool
        messages = await pool.fetch("select thread_key, conversation_id from router_messages")
        assert len(messages) == 6
        by_thread = Counter(m["thread_key"] for m in messages)
        assert by_thread == {"b-1": 2, "b-2": 1, "b-3": 2, "b-4": 1}
        auto = [m for m in messages if m["thread_key"] == "b-3" and m["conversation_id"] is None]
        assert len(auto) == 1
        agent = (await client.get("/v1/agents/batch-agent", headers=AUTH)).json()
        assert agent["load"]["chat"] == 4

        # resolved, then an auto-reply and two messages of the thread in one batch: one reopen, one reply
        cid = str(opened["b-2"].conversation_id)
        r = await client.post(f"/v1/conversations/{cid}/resolve", json={"agent_id": "batch-agent"}, headers=AUTH)
        assert r.status_code == 200, r.text
        again = message("b-2", "one more thing")
        await router.on_messages([message("b-2", "auto", auto_reply=True), again, message("b-2", "and another")])
        later = await read_events(kafka_bootstrap, CONV + topic_suffix, count=18, timeout_s=30)
        history = [e.type.split(".")[2] for e in later if str(e.data.conversation_id) == cid]  # one partition
        assert history == [
            "opened",
            "queued",
            "assigned",
            "resolved",
            "reopened",
            "queued",
            "customer_replied",
            "assigned",
        ], history
        reopened = next(e.data for e in later if e.type.endswith(".reopened.v1"))
        assert reopened.message_id == again.data.message_id
        row = await pool.fetchrow(
            "select state, agent_id from router_conversations where conversation_id = $1", uuid.UUID(cid)
        )
        assert (row["state"], row["agent_id"]) == ("assigned", "batch-agent")
