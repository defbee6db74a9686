"""PostgreSQL: one pool factory and the SQL migration runner every service uses."""

from __future__ import annotations

import asyncio
import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import asyncpg
import structlog

log = structlog.get_logger(__name__)

_MIGRATION = re.compile(r"^(\d{3,})_[\w-]+\.sql$")


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10, attempts: int = 30) -> asyncpg.Pool:
    """An asyncpg pool, retrying while PostgreSQL starts."""
    delay = 0.2
    for attempt in range(attempts):
        try:
            pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, command_timeout=30)
            assert pool is not None
            return pool
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.PostgresConnectionError) as exc:
            if attempt == attempts - 1:
                raise
            log.warning("postgresql not reachable yet", error=str(exc), retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)
    raise RuntimeError("unreachable")


def migrations_of(package: str | Path) -> list[tuple[int, str, str]]:
    """The (version, name, sql) of `<package>/migrations/NNN_name.sql` (or of a folder), in order."""
    folder: Traversable
    if isinstance(package, Path):
        folder = package
    else:
        try:
            folder = resources.files(package) / "migrations"
        except ModuleNotFoundError:
            return []
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


async def migrate(conn_or_pool: asyncpg.Pool | asyncpg.Connection, *, service: str, package: str | Path) -> list[str]:
    """Apply the package's pending migrations once, under an advisory lock; returns what was applied."""
    if isinstance(conn_or_pool, asyncpg.Pool):
        async with conn_or_pool.acquire() as conn:
            return await migrate(conn, service=service, package=package)
    conn = conn_or_pool
    applied: list[str] = []
    await conn.execute("select pg_advisory_lock(hashtext('omni_migrations'))")
    try:
        await conn.execute(
            """create table if not exists omni_schema_migrations (
                 service text not null, version int not null, name text not null,
                 applied_at timestamptz not null default now(), primary key (service, version))"""
        )
        done = {
            r["version"]
            for r in await conn.fetch("select version from omni_schema_migrations where service = $1", service)
        }
        for version, name, sql in migrations_of(package):
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "insert into omni_schema_migrations (service, version, name) values ($1, $2, $3)",
                    service,
                    version,
                    name,
                )
            applied.append(name)
            log.info("migration applied", service=service, migration=name)
    finally:
        await conn.execute("select pg_advisory_unlock(hashtext('omni_migrations'))")
    return applied


SERVICE_PACKAGES = {
    "ingest_email": "omni_ingest_email",
    "ingest_chat": "omni_ingest_chat",
    "ingest_social": "omni_ingest_social",
    "router": "omni_router",
    "sla": "omni_sla",
    "analytics": "omni_analytics",
}


def repo_root() -> Path:
    return Path(__file__).resolve().parents[4]
