"""The router's SQL: the durable record of agents, conversations and assignments, and the claim.

The atomic claim is one transaction of two conditional UPDATEs, always locking the
conversation row first and the agent row second (the same order everywhere, so replicas
cannot deadlock):

    update router_conversations set state = 'offered'|'assigned', agent_id = $a ...
     where conversation_id = $c and state = 'waiting' and not ($a = any(declined))
    update router_agents set load_<group> = load_<group> + 1 ...
     where agent_id = $a and presence = 'available' and load_<group> < cap_<group>

Under READ COMMITTED a concurrent UPDATE of the same row waits for the first to commit and
re-checks its WHERE clause on the new row, so a second replica sees `state <> 'waiting'` or
`load = cap` and gets no row; it then rolls back. Either both updates happen or neither.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from omni_router.domain.model import GROUPS
from omni_schemas import CloudEvent, to_record

LIVE = ("waiting", "offered", "assigned")
_NEXT = "nextval('router_change_seq')"


def cap_col(group: str) -> str:
    if group not in GROUPS:
        raise ValueError(group)
    return f"cap_{group}"


def load_col(group: str) -> str:
    if group not in GROUPS:
        raise ValueError(group)
    return f"load_{group}"


async def init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def mark_processed(conn: asyncpg.Connection, event_id: Any) -> bool:
    """True the first time an event id is seen (inside the handler's transaction)."""
    return (
        await conn.fetchval(
            "insert into router_processed (event_id) values ($1) on conflict do nothing returning true", event_id
        )
        is True
    )


async def add_outbox(conn: asyncpg.Connection, events: Iterable[CloudEvent]) -> list[int]:
    ids = []
    for event in events:
        record = to_record(event)
        ids.append(
            await conn.fetchval(
                "insert into router_outbox (topic, key, value) values ($1, $2, $3) returning id",
                record.topic,
                record.key,
                record.value,
            )
        )
    return ids


async def open_conversation_for_update(conn: asyncpg.Connection, thread_key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "select * from router_conversations where thread_key = $1 and state = any($2::text[]) for update",
        thread_key,
        list(LIVE),
    )


async def conversation_for_update(conn: asyncpg.Connection, conversation_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "select * from router_conversations where conversation_id = $1 for update", conversation_id
    )


async def resolve_customer(conn: asyncpg.Connection, address: str, *, new_id: str) -> str:
    """One customer id per address (e-mail, phone or provider id), across channels."""
    row = await conn.fetchrow(
        """insert into router_customers (address, customer_id) values ($1, $2)
           on conflict (address) do update set address = excluded.address
           returning customer_id""",
        address,
        new_id,
    )
    assert row is not None
    return str(row["customer_id"])


async def last_agent_of_customer(conn: asyncpg.Connection, customer_id: str) -> str | None:
    value = await conn.fetchval(
        """select coalesce(agent_id, last_agent_id) from router_conversations
           where customer_id = $1 and coalesce(agent_id, last_agent_id) is not null
           order by opened_at desc limit 1""",
        customer_id,
    )
    return str(value) if value is not None else None


@dataclass(frozen=True, slots=True)
class ClaimResult:
    ok: bool
    conversation: asyncpg.Record | None = None
    agent: asyncpg.Record | None = None
    still_waiting: bool = True


async def claim(
    conn: asyncpg.Connection,
    *,
    conversation_id: Any,
    agent_id: str,
    group: str,
    offered: bool,
    offer_expires_at: Any,
    reason: dict[str, Any],
    events_for: Any,
) -> ClaimResult:
    """The atomic claim (see the module docstring). `events_for(conversation_row)` gives the events."""
    async with conn.transaction():
        conv = await conn.fetchrow(
            f"""update router_conversations
                   set state = $3, agent_id = $2, offer_expires_at = $4, reason = $5,
                       assigned_at = case when $3 = 'assigned' then now() else assigned_at end,
                       version = {_NEXT}, updated_at = now()
                 where conversation_id = $1 and state = 'waiting' and not ($2 = any(declined))
                 returning *""",
            conversation_id,
            agent_id,
            "offered" if offered else "assigned",
            offer_expires_at,
            reason,
        )
        if conv is None:
            return ClaimResult(False, still_waiting=False)
        col, cap = load_col(group), cap_col(group)
        agent = await conn.fetchrow(
            f"""update router_agents set {col} = {col} + 1, version = {_NEXT}, updated_at = now()
                 where agent_id = $1 and presence = 'available' and {col} < {cap}
                 returning *""",
            agent_id,
        )
        if agent is None:
            current = await conn.fetchrow("select * from router_agents where agent_id = $1", agent_id)
            raise _Rejected(current)
        await conn.execute(
            "insert into router_assignments (conversation_id, agent_id, kind, reason) values ($1, $2, $3, $4)",
            conversation_id,
            agent_id,
            "offered" if offered else "assigned",
            reason,
        )
        await add_outbox(conn, events_for(conv))
        return ClaimResult(True, conversation=conv, agent=agent)


class _Rejected(Exception):
    def __init__(self, agent: asyncpg.Record | None) -> None:
        super().__init__("agent has no spare slot or is not available")
        self.agent = agent


async def try_claim(conn: asyncpg.Connection, **kwargs: Any) -> ClaimResult:
    try:
        return await claim(conn, **kwargs)
    except _Rejected as exc:
        return ClaimResult(False, agent=exc.agent, still_waiting=True)


async def release_agent_slot(conn: asyncpg.Connection, agent_id: str, group: str) -> asyncpg.Record | None:
    col = load_col(group)
    return await conn.fetchrow(
        f"""update router_agents set {col} = greatest({col} - 1, 0), version = {_NEXT}, updated_at = now()
             where agent_id = $1 returning *""",
        agent_id,
    )


async def update_conversation(
    conn: asyncpg.Connection, conversation_id: Any, *, where: str = "true", args: Sequence[Any] = (), **values: Any
) -> asyncpg.Record | None:
    """`update ... set <values> where conversation_id = $1 and <where>`; `where` uses $2.. for `args`."""
    sets = []
    params: list[Any] = [conversation_id, *args]
    for column, value in values.items():
        params.append(value)
        sets.append(f"{column} = ${len(params)}")
    sets.append(f"version = {_NEXT}")
    sets.append("updated_at = now()")
    return await conn.fetchrow(
        f"update router_conversations set {', '.join(sets)} where conversation_id = $1 and ({where}) returning *",
        *params,
    )


async def changed_since(pool: asyncpg.Pool, version: int) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    async with pool.acquire() as conn:
        agents = await conn.fetch("select * from router_agents where version > $1 order by version", version)
        convs = await conn.fetch("select * from router_conversations where version > $1 order by version", version)
    return list(agents), list(convs)


async def live_state(pool: asyncpg.Pool) -> tuple[list[asyncpg.Record], list[asyncpg.Record], int]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        top = await conn.fetchval("select last_value from router_change_seq")
        agents = await conn.fetch("select * from router_agents")
        convs = await conn.fetch(
            "select * from router_conversations where state = any($1::text[]) order by enqueued_at", list(LIVE)
        )
    return list(agents), list(convs), int(top or 0)
