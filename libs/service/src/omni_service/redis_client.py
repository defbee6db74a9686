"""Redis: one client factory, its readiness check, and a pipeline shared by concurrent callers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
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


Build = Callable[[Pipeline], None]


class SharedPipeline:
    """`execute(build)` runs the commands `build` adds to a pipeline and returns their results, as
    `pipeline(transaction=False).execute()` would; the commands of every caller in one event-loop
    turn travel together in one round trip. A failure of the round trip is raised to each caller."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._pending: list[tuple[Build, asyncio.Future[list[Any]]]] = []

    async def execute(self, build: Build) -> list[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        self._pending.append((build, future))
        if len(self._pending) == 1:
            loop.call_soon(self._start)
        return await future

    def _start(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.ensure_future(self._run(batch))
        task.add_done_callback(lambda t: None if t.cancelled() else t.exception())

    async def _run(self, batch: list[tuple[Build, asyncio.Future[list[Any]]]]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        counts = []
        try:
            for build, _ in batch:
                before = len(pipe)
                build(pipe)
                counts.append(len(pipe) - before)
            results = await pipe.execute() if len(pipe) else []
        except BaseException as exc:
            for _, future in batch:
                if future.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            raise
        at = 0
        for (_, future), count in zip(batch, counts, strict=True):
            if not future.done():
                future.set_result(results[at : at + count])
            at += count
