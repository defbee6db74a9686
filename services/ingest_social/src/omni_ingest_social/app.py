"""The composition root: settings -> Kafka publisher, Redis, ingest pipeline -> webhook routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from omni_ingest_social.adapters.http import EndpointBodyLimits, build_router
from omni_ingest_social.domain import DetectLanguage, detect_language
from omni_ingest_social.handlers import Clock, SocialWebhooks, utcnow
from omni_ingest_social.settings import Settings
from omni_service.http import create_http_app
from omni_service.ingest import IngestPipeline
from omni_service.kafka import EventPublisher
from omni_service.metrics import ServiceMetrics
from omni_service.redis_client import create_redis, redis_ready


def create_app(
    settings: Settings,
    *,
    publisher: EventPublisher | None = None,
    clock: Clock = utcnow,
    detect: DetectLanguage = detect_language,
) -> FastAPI:
    """Build the service; nothing connects until the app's lifespan starts."""
    metrics = ServiceMetrics(settings.service_name)
    publisher = publisher or EventPublisher(
        bootstrap=settings.kafka_bootstrap_servers,
        service=settings.service_name,
        metrics=metrics,
        topic_suffix=settings.omni_topic_suffix,
    )
    redis = create_redis(settings.redis_url)
    pipeline = IngestPipeline(publisher=publisher, redis=redis, metrics=metrics)
    for provider in ("meta", "line", "telegram", "x"):  # export zeroes before the first delivery
        pipeline.metrics.received.labels(settings.service_name, provider)
        pipeline.metrics.deduplicated.labels(settings.service_name, provider)
    webhooks = SocialWebhooks(settings=settings, pipeline=pipeline, clock=clock, detect=detect)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await publisher.start()
        try:
            yield
        finally:
            await publisher.stop()
            await redis.aclose()

    async def redis_up() -> bool:
        return await redis_ready(redis)

    app = create_http_app(
        service=settings.service_name,
        metrics=metrics,
        ready_checks={"kafka": publisher.ready, "redis": redis_up},
        lifespan=lifespan,
        description="Webhooks of Messenger, Instagram, WhatsApp (Meta), LINE, Telegram and X.",
        max_body_bytes=settings.max_body_bytes,
    )
    app.include_router(build_router(webhooks))
    app.add_middleware(EndpointBodyLimits, limits={"/webhooks/meta": settings.meta_max_body_bytes})
    app.state.webhooks = webhooks
    app.state.pipeline = pipeline
    return app
