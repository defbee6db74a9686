"""PostgreSQL edge of the SLA service: conversation state, pending timers, the emission outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from omni_sla.timers import pack


@dataclass(frozen=True, slots=True)
class TimerRow:
    conversation_id: UUID
    metric: int
    cycle: int
    kind: int
    partition: int
    due_at: datetime
    clock_due_at: datetime
    remaining_us: int
    policy: str
    channel: str | None
    queue: str | None


@dataclass(frozen=True, slots=True)
class EmittedRow:
    conversation_id: UUID
    metric: int
    cycle: int
    slot: int
    kind: str
    event_id: UUID
    partition: int
    payload: bytes
    event: Any = None
    """The CloudEvent the payload encodes, kept to publish without decoding it again."""


@dataclass(frozen=True, slots=True)
class StoredConversation:
    partition: int
    last_offset: int
    state: dict[str, Any]


async def lock_conversation(conn: asyncpg.Connection, conversation_id: UUID) -> StoredConversation | None:
    row = await conn.fetchrow(
        "select partition, last_offset, state from sla_conversations where conversation_id = $1 for update",
        conversation_id,
    )
    if row is None:
        return None
    return StoredConversation(row["partition"], row["last_offset"], orjson.loads(row["state"]))


async def save_conversation(
    conn: asyncpg.Connection, conversation_id: UUID, *, partition: int, offset: int, state: dict[str, Any]
) -> None:
    await conn.execute(
        """insert into sla_conversations (conversation_id, partition, last_offset, state)
           values ($1, $2, $3, $4::jsonb)
           on conflict (conversation_id) do update
           set partition = excluded.partition, last_offset = excluded.last_offset, state = excluded.state,
               updated_at = now()""",
        conversation_id,
        partition,
        offset,
        orjson.dumps(state).decode(),
    )


async def delete_timers(conn: asyncpg.Connection, conversation_id: UUID, keys: Sequence[tuple[int, int, int]]) -> None:
    """Delete pending timers by (metric, cycle, kind) codes."""
    if not keys:
        return
    await conn.execute(
        """delete from sla_timers t using unnest($2::smallint[], $3::int[], $4::smallint[]) as k(m, c, k)
           where t.conversation_id = $1 and t.metric = k.m and t.cycle = k.c and t.kind = k.k""",
        conversation_id,
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
    )


async def upsert_timers(conn: asyncpg.Connection, rows: Sequence[TimerRow]) -> None:
    if not rows:
        return
    await conn.executemany(
        """insert into sla_timers (conversation_id, metric, cycle, kind, partition, due_at, clock_due_at,
                                   remaining_us, policy, channel, queue)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           on conflict (conversation_id, metric, cycle, kind) do update
           set partition = excluded.partition, due_at = excluded.due_at, clock_due_at = excluded.clock_due_at,
               remaining_us = excluded.remaining_us, policy = excluded.policy, channel = excluded.channel,
               queue = excluded.queue""",
        [
            (
                r.conversation_id,
                r.metric,
                r.cycle,
                r.kind,
                r.partition,
                r.due_at,
                r.clock_due_at,
                r.remaining_us,
                r.policy,
                r.channel,
                r.queue,
            )
            for r in rows
        ],
    )


async def retag_timers(
    conn: asyncpg.Connection, conversation_id: UUID, *, channel: str | None, queue: str | None
) -> None:
    """A transfer moves the conversation, not its clocks: pending timers report the new queue."""
    await conn.execute(
        "update sla_timers set channel = $2, queue = $3 where conversation_id = $1", conversation_id, channel, queue
    )


_RFC3339 = """'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"""

FIRE_SQL = f"""
with fired as (
    delete from sla_timers t
    using unnest($1::uuid[], $2::smallint[], $3::int[], $4::smallint[], $5::timestamptz[]) as f(c, m, y, k, d)
    where t.conversation_id = any($1::uuid[])  -- lets the planner use the primary key
      and t.conversation_id = f.c and t.metric = f.m and t.cycle = f.y and t.kind = f.k and t.due_at = f.d
    returning t.*
), named as (
    select f.*, (array['first_response', 'next_response', 'resolution'])[f.metric + 1] as metric_name,
           (array['warning', 'breached'])[f.kind + 1] as kind_name
    from fired f
), keyed as (
    select n.*, md5(n.conversation_id::text || '/' || n.metric_name || '/' || n.cycle || '/' || n.kind_name)::uuid
               as event_id
    from named n
)
insert into sla_emitted (conversation_id, metric, cycle, slot, kind, event_id, partition, payload)
select x.conversation_id, x.metric, x.cycle, x.kind, x.kind_name, x.event_id, x.partition,
       convert_to(jsonb_build_object(
           'specversion', '1.0', 'id', x.event_id, 'source', $6::text, 'type', 'omni.sla.' || x.kind_name || '.v1',
           'time', to_char(clock_timestamp() at time zone 'UTC', {_RFC3339}),
           'subject', x.conversation_id::text, 'datacontenttype', 'application/json',
           'data', jsonb_build_object(
               'conversation_id', x.conversation_id, 'policy', x.policy, 'metric', x.metric_name,
               'due_at', to_char(x.clock_due_at at time zone 'UTC', {_RFC3339}), 'cycle', x.cycle,
               'channel', x.channel, 'queue', x.queue)
             || case when x.kind = 0 then jsonb_build_object('remaining_seconds', x.remaining_us / 1000000.0)
                     else jsonb_build_object('breached_at', to_char(x.clock_due_at at time zone 'UTC', {_RFC3339}))
                end
       )::text, 'UTF8')
from keyed x
where x.kind = 1 or not exists (
    select 1 from sla_emitted o
    where o.conversation_id = x.conversation_id and o.metric = x.metric and o.cycle = x.cycle and o.slot = 1)
on conflict do nothing
returning conversation_id, metric, cycle, slot, kind, event_id, partition, payload
"""


async def fire_due_timers(
    conn: asyncpg.Connection, due: Sequence[tuple[UUID, int, int, int, datetime]], *, source: str
) -> list[EmittedRow]:
    """In one statement (one round trip, atomic): delete the timers still pending with exactly these
    due instants, render their events and record them in the outbox; returns the new records."""
    if not due:
        return []
    rows = await conn.fetch(
        FIRE_SQL,
        [d[0] for d in due],
        [d[1] for d in due],
        [d[2] for d in due],
        [d[3] for d in due],
        [d[4] for d in due],
        source,
    )
    return [
        EmittedRow(
            r["conversation_id"],
            r["metric"],
            r["cycle"],
            r["slot"],
            r["kind"],
            r["event_id"],
            r["partition"],
            bytes(r["payload"]),
        )
        for r in rows
    ]


async def insert_emitted(conn: asyncpg.Connection, rows: Sequence[EmittedRow]) -> list[EmittedRow]:
    """Record decisions once: returns the rows that are new (to publish). A warning is not
    recorded once its clock has an outcome; a clock gets one outcome, met or breached."""
    if not rows:
        return []
    inserted = await conn.fetch(
        """insert into sla_emitted (conversation_id, metric, cycle, slot, kind, event_id, partition, payload)
           select x.c, x.m, x.y, x.s, x.k, x.e, x.p, x.b
           from unnest($1::uuid[], $2::smallint[], $3::int[], $4::smallint[], $5::text[], $6::uuid[],
                       $7::smallint[], $8::bytea[]) as x(c, m, y, s, k, e, p, b)
           where x.s = 1 or not exists (
               select 1 from sla_emitted o
               where o.conversation_id = x.c and o.metric = x.m and o.cycle = x.y and o.slot = 1)
           on conflict do nothing
           returning event_id""",
        [r.conversation_id for r in rows],
        [r.metric for r in rows],
        [r.cycle for r in rows],
        [r.slot for r in rows],
        [r.kind for r in rows],
        [r.event_id for r in rows],
        [r.partition for r in rows],
        [r.payload for r in rows],
    )
    fresh = {r["event_id"] for r in inserted}
    return [r for r in rows if r.event_id in fresh]


async def mark_published(pool: asyncpg.Pool, event_ids: Sequence[UUID]) -> None:
    if event_ids:
        await pool.execute(
            "update sla_emitted set published_at = now() where event_id = any($1::uuid[])", list(event_ids)
        )


async def unpublished(pool: asyncpg.Pool, partitions: Sequence[int]) -> list[tuple[EmittedRow, datetime]]:
    """Recorded decisions of these partitions not yet acknowledged by Kafka, oldest first."""
    rows = await pool.fetch(
        """select conversation_id, metric, cycle, slot, kind, event_id, partition, payload, created_at
           from sla_emitted where published_at is null and partition = any($1::smallint[]) order by created_at""",
        list(partitions),
    )
    return [
        (
            EmittedRow(
                r["conversation_id"],
                r["metric"],
                r["cycle"],
                r["slot"],
                r["kind"],
                r["event_id"],
                r["partition"],
                bytes(r["payload"]),
            ),
            r["created_at"],
        )
        for r in rows
    ]


async def iter_pending(
    pool: asyncpg.Pool, partitions: Sequence[int], *, chunk: int = 50_000
) -> AsyncIterator[list[tuple[int, int]]]:
    """The (packed key, due µs) of every pending timer of these partitions, in chunks."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        cursor = await conn.cursor(
            """select conversation_id, metric, cycle, kind, partition,
                      (extract(epoch from due_at) * 1000000)::bigint as due_us
               from sla_timers where partition = any($1::smallint[])""",
            list(partitions),
        )
        while True:
            rows = await cursor.fetch(chunk)
            if not rows:
                return
            yield [(pack(r[0], r[1], r[2], r[3], r[4]), r[5]) for r in rows]
