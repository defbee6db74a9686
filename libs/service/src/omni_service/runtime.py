"""The composition kit of a service: metrics, publisher, optional PostgreSQL and Redis, consumers.

A service's `create_app(settings)` builds one `ServiceRuntime`, registers its consumers, and
hands `runtime.lifespan` to `create_http_app`:

    runtime = ServiceRuntime(settings, service="router", postgres=True, redis=True, migrations="omni_router")
    runtime.add_consumer(topics=["omni.messages.v1"], group="router", handler=handlers.on_message)
    app = runtime.http_app(description="...")

Start-up connects Kafka (retrying in the background), opens the pool (applying migrations)
and Redis, then starts consumers; shutdown stops consumers first (they finish and commit
their batch), then the publisher, pool and Redis.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from fastapi import FastAPI

from omni_service.db import create_pool, migrate
from omni_service.http import ReadyCheck, create_http_app
from omni_service.kafka import EventConsumer, EventPublisher, Handler, PartitionsCallback
from omni_service.metrics import ServiceMetrics
from omni_service.redis_client import create_redis, redis_ready
from omni_service.settings import ServiceSettings

Hook = Callable[[], Awaitable[None]]


class ServiceRuntime:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        service: str,
        postgres: bool = False,
        redis: bool = False,
        migrations: str | Path | None = None,
        pool_size: int = 10,
    ) -> None:
        self.settings = settings
        self.service = service
        self.metrics = ServiceMetrics(service)
        self.publisher = EventPublisher(
            bootstrap=settings.kafka_bootstrap_servers,
            service=service,
            metrics=self.metrics,
            topic_suffix=settings.omni_topic_suffix,
        )
        self._want_postgres = postgres
        self._want_redis = redis
        self._migrations = migrations
        self._pool_size = pool_size
        self.pool: asyncpg.Pool | None = None
        self.redis: aioredis.Redis | None = None
        self.consumers: list[EventConsumer] = []
        self._consumer_specs: list[dict[str, Any]] = []
        self.on_startup: list[Hook] = []
        self.on_shutdown: list[Hook] = []
        self.ready_checks: dict[str, ReadyCheck] = {"kafka": self.publisher.ready}

    def add_consumer(
        self,
        *,
        topics: Sequence[str],
        group: str,
        handler: Handler,
        flush: Hook | None = None,
        on_assigned: PartitionsCallback | None = None,
        on_revoked: PartitionsCallback | None = None,
        **options: Any,
    ) -> None:
        """Register a consumer group (its real id gets the test suffix); started after the stores."""
        self._consumer_specs.append(
            dict(
                topics=list(topics),
                group=group,
                handler=handler,
                flush=flush,
                on_assigned=on_assigned,
                on_revoked=on_revoked,
                options=options,
            )
        )

    def http_app(self, *, description: str = "", max_body_bytes: int | None = None) -> FastAPI:
        return create_http_app(
            service=self.service,
            metrics=self.metrics,
            ready_checks=self.ready_checks,
            lifespan=self.lifespan,
            description=description,
            max_body_bytes=max_body_bytes or self.settings.max_body_bytes,
        )

    @asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        await self.publisher.start()
        if self._want_postgres:
            self.pool = await create_pool(self.settings.database_url, max_size=self._pool_size)
            if self._migrations is not None:
                await migrate(self.pool, service=self.service, package=self._migrations)
            pool = self.pool

            async def pg_ready() -> bool:
                return bool(await pool.fetchval("select 1") == 1)

            self.ready_checks["postgres"] = pg_ready
        if self._want_redis:
            self.redis = create_redis(self.settings.redis_url)
            client = self.redis

            async def r_ready() -> bool:
                return await redis_ready(client)

            self.ready_checks["redis"] = r_ready
        for hook in self.on_startup:
            await hook()
        for spec in self._consumer_specs:
            consumer = EventConsumer(
                bootstrap=self.settings.kafka_bootstrap_servers,
                topics=spec["topics"],
                group_id=spec["group"] + self.settings.omni_topic_suffix,
                handler=spec["handler"],
                publisher=self.publisher,
                metrics=self.metrics,
                topic_suffix=self.settings.omni_topic_suffix,
                flush=spec["flush"],
                on_assigned=spec["on_assigned"],
                on_revoked=spec["on_revoked"],
                **spec["options"],
            )
            self.consumers.append(consumer)
            self.ready_checks[f"consumer:{spec['group']}"] = consumer.ready
            await consumer.start()

    async def stop(self) -> None:
        for consumer in self.consumers:
            await consumer.stop()
        self.consumers.clear()
        for hook in self.on_shutdown:
            await hook()
        await self.publisher.stop()
        if self.redis is not None:
            await self.redis.aclose()
            self.redis = None
        if self.pool is not None:
            await self.pool.close()
            self.pool = None
