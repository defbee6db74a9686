"""Composition root: settings -> PostgreSQL, Kafka, the fold pipeline, the HTTP app and /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from omni_analytics.adapters.checkpoint import CheckpointStore
from omni_analytics.adapters.partitions import PartitionReader
from omni_analytics.adapters.prometheus import KpiCollector
from omni_analytics.handlers import CONSUMED_TOPICS, KpiPipeline
from omni_analytics.settings import Settings
from omni_service.db import create_pool, migrate
from omni_service.http import create_http_app
from omni_service.kafka import EventPublisher
from omni_service.metrics import ServiceMetrics


def create_app(settings: Settings | None = None, **overrides: Any) -> FastAPI:
    """Build the analytics app; nothing connects until its lifespan starts."""
    settings = settings or Settings(**overrides)
    service = settings.service_name
    metrics = ServiceMetrics(service)
    metrics.errors.labels(service, "checkpoint")
    holder: dict[str, Any] = {}

    def pipeline() -> KpiPipeline:
        return holder["pipeline"]  # type: ignore[no-any-return]

    metrics.registry.register(KpiCollector(lambda: pipeline().state))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(settings.database_url, max_size=3)
        await migrate(pool, service="analytics", package="omni_analytics")
        publisher = EventPublisher(
            bootstrap=settings.kafka_bootstrap_servers,
            service=service,
            metrics=metrics,
            topic_suffix=settings.omni_topic_suffix,
        )
        await publisher.start()
        reader = PartitionReader(
            bootstrap=settings.kafka_bootstrap_servers,
            topics=CONSUMED_TOPICS,
            suffix=settings.omni_topic_suffix,
            client_id=f"omni-{service}",
        )
        pipe = KpiPipeline(
            config=settings.kpi_config(),
            reader=reader,
            store=CheckpointStore(pool),
            publisher=publisher,
            metrics=metrics,
            checkpoint_every_s=settings.analytics_checkpoint_seconds,
            batch_size=settings.analytics_batch_size,
        )
        holder["pipeline"] = pipe
        app.state.pipeline = pipe
        await pipe.start()
        try:
            yield
        finally:
            await pipe.stop()
            await publisher.stop()
            await pool.close()

    async def postgres_ready() -> bool:
        pipe = holder.get("pipeline")
        return bool(pipe is not None and await pipe.store.ping())

    async def kafka_ready() -> bool:
        pipe = holder.get("pipeline")
        return bool(pipe is not None and await pipe.publisher.ready())

    def caught_up() -> bool:
        pipe = holder.get("pipeline")
        return bool(pipe is not None and pipe.ready())

    app = create_http_app(
        service=service,
        metrics=metrics,
        ready_checks={"postgres": postgres_ready, "kafka": kafka_ready, "kpis": caught_up},
        lifespan=lifespan,
        description="Live contact-centre KPIs folded from every omni topic; see /metrics and docs/kpis.md.",
        max_body_bytes=settings.max_body_bytes,
    )
    return app
