"""Migration 002 re-keys customers created before identities were scoped to their channel."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import asyncpg
import pytest

from omni_service.db import migrate

pytestmark = [pytest.mark.integration]


async def test_old_customer_addresses_get_their_channel_scope(database_url: str, tmp_path: Path) -> None:
    first = tmp_path / "migrations"
    first.mkdir()
    shutil.copy(Path(str(resources.files("omni_router") / "migrations" / "001_router.sql")), first / "001_router.sql")
    conn = await asyncpg.connect(database_url)
    try:
        assert await migrate(conn, service="router", package=first) == ["001_router.sql"]
        await conn.executemany(
            "insert into router_customers (address, customer_id) values ($1, $2)",
            [("hanako@example.jp", "c-mail"), ("+819012345678", "c-phone"), ("U4af49", "c-line"), ("v-17", "c-chat")],
        )
        await conn.executemany(
            """insert into router_conversations (conversation_id, thread_key, customer_id, channel, state, queue,
                                                enqueued_at, opened_at)
               values (gen_random_uuid(), $1, $2, $3, 'resolved', 'general', now(), now())""",
            [("t1", "c-mail", "email"), ("t2", "c-phone", "sms"), ("t3", "c-line", "line"), ("t4", "c-chat", "chat")],
        )
        applied = await migrate(conn, service="router", package="omni_router")
        assert applied[0] == "002_customer_identity_keys.sql", applied  # later migrations follow it
        rows = {r["customer_id"]: r["address"] for r in await conn.fetch("select * from router_customers")}
        assert rows == {
            "c-mail": "hanako@example.jp",
            "c-phone": "+819012345678",
            "c-line": "line:U4af49",
            "c-chat": "chat:v-17",
        }
    finally:
        await conn.close()
