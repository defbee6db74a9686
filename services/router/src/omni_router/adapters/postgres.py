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


def storable_text(value: str) -> str:
    """`value` if PostgreSQL can hold it as text; else ValueError (a 400 at the API): text holds no NUL
    character and only valid UTF-8, so no unpaired surrogate (which JSON's \\ud800 escapes can carry)."""
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no unpaired surrogate)") from None
    return value


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
    """Insert the events in order (ids follow the order given); one statement whatever their number."""
    records = [to_record(event) for event in events]
    if not records:
        return []
    if len(records) == 1:
        record = records[0]
        return [
            await conn.fetchval(
                "insert into router_outbox (topic, key, value) values ($1, $2, $3) returning id",
                record.topic,
                record.key,
                record.value,
            )
        ]
    rows = await conn.fetch(
        """insert into router_outbox (topic, key, value)
           select t, k, v from unnest($1::text[], $2::bytea[], $3::bytea[]) with ordinality as u(t, k, v, n)
            order by n
           returning id""",
        [r.topic for r in records],
        [r.key for r in records],
        [r.value for r in records],
    )
    return [r["id"] for r in rows]


async def mark_processed_many(conn: asyncpg.Connection, event_ids: Sequence[Any]) -> set[Any]:
    """The event ids seen for the first time (inside the handler's transaction)."""
    rows = await conn.fetch(
        """insert into router_processed (event_id) select unnest($1::uuid[])
           on conflict do nothing returning event_id""",
        sorted(set(event_ids)),  # one order for concurrent inserts of the same ids (a rebalance)
    )
    return {r["event_id"] for r in rows}


async def threads_for_update(
    conn: asyncpg.Connection, thread_keys: Sequence[str], *, resolved_after: Any
) -> list[asyncpg.Record]:
    """The open conversations of these threads and those resolved after `resolved_after` (the
    ones a new message may reopen), locked in conversation id order."""
    return list(
        await conn.fetch(
            """select * from router_conversations
                where thread_key = any($1::text[])
                  and (state = any($2::text[]) or (state = 'resolved' and resolved_at > $3))
                order by conversation_id for update""",
            list(thread_keys),
            list(LIVE),
            resolved_after,
        )
    )


async def resolve_customers(conn: asyncpg.Connection, proposed: dict[str, str]) -> dict[str, str]:
    """`resolve_customer` for many addresses at once: address -> customer id (the proposed id if new)."""
    addresses = sorted(proposed)  # one lock order for concurrent batches
    rows = await conn.fetch(
        """insert into router_customers (address, customer_id)
           select * from unnest($1::text[], $2::text[])
           on conflict (address) do update set address = excluded.address
           returning address, customer_id""",
        addresses,
        [proposed[a] for a in addresses],
    )
    return {r["address"]: str(r["customer_id"]) for r in rows}


async def last_agents_of_customers(conn: asyncpg.Connection, customer_ids: Sequence[str]) -> dict[str, str]:
    """`last_agent_of_customer` for many customers at once (customers without one are left out)."""
    rows = await conn.fetch(
        """select distinct on (customer_id) customer_id, coalesce(agent_id, last_agent_id) as agent
             from router_conversations
            where customer_id = any($1::text[]) and coalesce(agent_id, last_agent_id) is not null
            order by customer_id, opened_at desc""",
        list(customer_ids),
    )
    return {str(r["customer_id"]): str(r["agent"]) for r in rows}


async def insert_conversations(
    conn: asyncpg.Connection, values: Sequence[tuple[Any, ...]], *, now: Any
) -> list[asyncpg.Record]:
    """New waiting conversations, one statement. Each value: (conversation_id, thread_key, customer_id,
    channel, queue, priority, skills json, optional_skills json, language, tier, rule, last_agent_id,
    first_message_id); `now` is their enqueued_at and opened_at."""
    columns = list(zip(*values, strict=True))
    return list(
        await conn.fetch(
            """insert into router_conversations
                 (conversation_id, thread_key, customer_id, channel, state, queue, priority, skills, optional_skills,
                  language, tier, rule, last_agent_id, enqueued_at, opened_at, first_message_id)
               select c, t, cu, ch, 'waiting', q, p, s::jsonb, o::jsonb, l, ti, r, la, $14, $14, f
                 from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[],
                             $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::uuid[])
                      with ordinality as u(c, t, cu, ch, q, p, s, o, l, ti, r, la, f, n)
                order by n
               returning *""",
            *(list(col) for col in columns),
            now,
        )
    )


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


@dataclass(frozen=True, slots=True)
class ClaimSpec:
    """One claim of a batch: this agent takes (or is offered) this conversation in this group."""

    conversation_id: Any
    agent_id: str
    group: str
    offered: bool
    offer_expires_at: Any
    reason: dict[str, Any]


async def claim_many(conn: asyncpg.Connection, claims: Sequence[ClaimSpec], *, events_for: Any) -> list[ClaimResult]:
    """Many claims in one transaction of a fixed number of statements, one `ClaimResult` per claim.

    The same decision as `claim`, made on locked rows: the conversation rows are locked first,
    in conversation id order, then the agent rows, in agent id order (the order of every other
    path: conversation before agent), so concurrent batches and single claims cannot deadlock.
    With the rows locked, a claim succeeds when its conversation is still `waiting` and has not
    been declined by the agent, and the agent is `available` with a spare slot in the group,
    counting the claims of this batch taken before it (claims are judged in the order given).
    The UPDATEs keep their conditions as a guard. `events_for(conversation_row, claim)` gives
    the outbox events of a successful claim, written in the same transaction.
    """
    if len({c.conversation_id for c in claims}) != len(claims):
        raise ValueError("a batch claims each conversation at most once")
    results: list[ClaimResult | None] = [None] * len(claims)
    async with conn.transaction():
        convs = {
            r["conversation_id"]: r
            for r in await conn.fetch(
                """select conversation_id, state, declined from router_conversations
                    where conversation_id = any($1::uuid[]) order by conversation_id for update""",
                [c.conversation_id for c in claims],
            )
        }
        live = []
        for i, c in enumerate(claims):
            row = convs.get(c.conversation_id)
            if row is None or row["state"] != "waiting" or c.agent_id in (row["declined"] or ()):
                results[i] = ClaimResult(False, still_waiting=False)
            else:
                live.append(i)
        agents = {
            r["agent_id"]: r
            for r in await conn.fetch(
                "select * from router_agents where agent_id = any($1::text[]) order by agent_id for update",
                sorted({claims[i].agent_id for i in live}),
            )
        }
        taken: dict[tuple[str, str], int] = {}
        won = []
        for i in live:
            c = claims[i]
            agent = agents.get(c.agent_id)
            key = (c.agent_id, c.group)
            if (
                agent is not None
                and agent["presence"] == "available"
                and agent[load_col(c.group)] + taken.get(key, 0) < agent[cap_col(c.group)]
            ):
                taken[key] = taken.get(key, 0) + 1
                won.append(i)
            else:
                results[i] = ClaimResult(False, agent=agent, still_waiting=True)
        if won:
            conv_rows = await conn.fetch(
                f"""update router_conversations c
                       set state = v.state, agent_id = v.agent_id, offer_expires_at = v.expires, reason = v.reason::jsonb,
                           assigned_at = case when v.state = 'assigned' then now() else c.assigned_at end,
                           version = {_NEXT}, updated_at = now()
                      from unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[])
                           as v(conversation_id, agent_id, state, expires, reason)
                     where c.conversation_id = v.conversation_id and c.state = 'waiting'
                       and not (v.agent_id = any(c.declined))
                     returning c.*""",
                [claims[i].conversation_id for i in won],
                [claims[i].agent_id for i in won],
                ["offered" if claims[i].offered else "assigned" for i in won],
                [claims[i].offer_expires_at for i in won],
                [json.dumps(claims[i].reason) for i in won],
            )
            agent_ids = sorted({a for a, _ in taken})
            adds = {g: [taken.get((a, g), 0) for a in agent_ids] for g in GROUPS}
            sets = ", ".join(f"{load_col(g)} = a.{load_col(g)} + v.{g}" for g in GROUPS)
            # only the groups a claim adds to: a load may sit above a capacity lowered since
            guard = " and ".join(f"(v.{g} = 0 or a.{load_col(g)} + v.{g} <= a.{cap_col(g)})" for g in GROUPS)
            agent_rows = await conn.fetch(
                f"""update router_agents a set {sets}, version = {_NEXT}, updated_at = now()
                      from unnest($1::text[], {", ".join(f"${n}::int[]" for n in range(2, 2 + len(GROUPS)))})
                           as v(agent_id, {", ".join(GROUPS)})
                     where a.agent_id = v.agent_id and a.presence = 'available' and {guard}
                     returning a.*""",
                agent_ids,
                *(adds[g] for g in GROUPS),
            )
            if len(conv_rows) != len(won) or len(agent_rows) != len(agent_ids):
                raise RuntimeError("claim batch: a locked row changed under its lock")  # rolls back
            by_conv = {r["conversation_id"]: r for r in conv_rows}
            by_agent = {r["agent_id"]: r for r in agent_rows}
            await conn.execute(
                """insert into router_assignments (conversation_id, agent_id, kind, reason)
                   select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[]::jsonb[])""",
                [claims[i].conversation_id for i in won],
                [claims[i].agent_id for i in won],
                ["offered" if claims[i].offered else "assigned" for i in won],
                [json.dumps(claims[i].reason) for i in won],
            )
            events = []
            for i in won:
                conv = by_conv[claims[i].conversation_id]
                events.extend(events_for(conv, claims[i]))
                results[i] = ClaimResult(True, conversation=conv, agent=by_agent[claims[i].agent_id])
            await add_outbox(conn, events)
            for i, result in enumerate(results):  # a loser learns the agent's load after this batch
                if result is not None and not result.ok and result.agent is not None and claims[i].agent_id in by_agent:
                    results[i] = ClaimResult(False, agent=by_agent[claims[i].agent_id], still_waiting=True)
    out = [r for r in results if r is not None]
    assert len(out) == len(claims)
    return out


async def last_assignment_kind(conn: asyncpg.Connection, conversation_id: Any, agent_id: str) -> str | None:
    """What last happened between this conversation and this agent (offered, assigned, declined, ...)."""
    kind = await conn.fetchval(
        """select kind from router_assignments where conversation_id = $1 and agent_id = $2
            order by id desc limit 1""",
        conversation_id,
        agent_id,
    )
    return str(kind) if kind is not None else None


async def reply_sent_on(conn: asyncpg.Connection, message_id: Any) -> Any:
    """The conversation id an agent reply with this (client-chosen) message id was sent on, or None."""
    return await conn.fetchval("select conversation_id from router_replies where message_id = $1", message_id)


async def record_reply(conn: asyncpg.Connection, message_id: Any, *, conversation_id: Any, agent_id: str) -> bool:
    """Remember a reply's message id; False if it is taken already (sent on another conversation meanwhile)."""
    return (
        await conn.fetchval(
            """insert into router_replies (message_id, conversation_id, agent_id) values ($1, $2, $3)
               on conflict do nothing returning true""",
            message_id,
            conversation_id,
            agent_id,
        )
        is True
    )


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
        agents = await conn.fetch("select * from router_agents order by agent_id")
        convs = await conn.fetch(
            "select * from router_conversations where state = any($1::text[]) order by enqueued_at", list(LIVE)
        )
    return list(agents), list(convs), int(top or 0)
