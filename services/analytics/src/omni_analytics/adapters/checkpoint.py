"""KPI state and consumed offsets, saved atomically in one PostgreSQL row."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson


@dataclass(frozen=True, slots=True)
class Checkpoint:
    offsets: dict[tuple[str, int], int]
    """(contract topic, partition) -> next offset to read."""
    state: dict[str, Any]
    events: int


class CheckpointStore:
    """One row per checkpoint name; `save` replaces state and offsets in a single statement."""

    def __init__(self, pool: asyncpg.Pool, *, name: str = "kpis") -> None:
        self.pool = pool
        self.name = name

    async def load(self) -> Checkpoint | None:
        row = await self.pool.fetchrow(
            "select offsets, state, events from analytics_checkpoint where name = $1", self.name
        )
        if row is None:
            return None
        offsets_doc = orjson.loads(row["offsets"])
        offsets = {(t, int(p)): int(o) for t, parts in offsets_doc.items() for p, o in parts.items()}
        return Checkpoint(offsets, orjson.loads(zlib.decompress(row["state"])), int(row["events"]))

    async def save(self, offsets: dict[tuple[str, int], int], state: dict[str, Any], *, events: int) -> int:
        """Write the checkpoint; returns its compressed size in bytes."""
        doc: dict[str, dict[str, int]] = {}
        for (topic, partition), offset in offsets.items():
            doc.setdefault(topic, {})[str(partition)] = offset
        blob = zlib.compress(orjson.dumps(state), 1)
        await self.pool.execute(
            """insert into analytics_checkpoint (name, offsets, state, events, saved_at)
               values ($1, $2::jsonb, $3, $4, now())
               on conflict (name) do update
               set offsets = excluded.offsets, state = excluded.state, events = excluded.events,
                   saved_at = excluded.saved_at""",
            self.name,
            orjson.dumps(doc).decode(),
            blob,
            events,
        )
        return len(blob)

    async def ping(self) -> bool:
        return bool(await self.pool.fetchval("select 1"))
