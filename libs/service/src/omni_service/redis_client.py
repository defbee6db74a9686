"""Redis: one client factory and its readiness check."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.exceptions import RedisError


def create_redis(url: str) -> aioredis.Redis:
    """A pooled asyncio client with short timeouts, so a missing Redis fails fast instead of hanging."""
    return aioredis.from_url(
        url, socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=15, retry_on_timeout=False
    )


async def redis_ready(client: aioredis.Redis) -> bool:
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
