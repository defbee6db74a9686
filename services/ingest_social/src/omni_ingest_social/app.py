"""The composition root: settings -> ServiceRuntime (Kafka, Redis) -> ingest pipeline -> webhook routes."""

from __future__ import annotations

from fastapi import FastAPI

from omni_ingest_social.adapters.http import build_router, fast_endpoints
from omni_ingest_social.domain import DetectLanguage, detect_language
from omni_ingest_social.handlers import Clock, SocialWebhooks, utcnow
from omni_ingest_social.settings import Settings
from omni_service.http import BodyLimits, fast_route
from omni_service.ingest import IngestPipeline
from omni_service.runtime import ServiceRuntime

PROVIDERS = ("meta", "line", "telegram", "x")


def create_app(settings: Settings, *, clock: Clock = utcnow, detect: DetectLanguage = detect_language) -> FastAPI:
    """Build the service; nothing connects until the app's lifespan starts."""
    runtime = ServiceRuntime(settings, service=settings.service_name, redis=True)
    webhooks = SocialWebhooks(settings=settings, clock=clock, detect=detect)

    async def open_pipeline() -> None:
        assert runtime.redis is not None
        pipeline = IngestPipeline(publisher=runtime.publisher, redis=runtime.redis, metrics=runtime.metrics)
        for provider in PROVIDERS:  # export zeroes before the first delivery
            pipeline.metrics.received.labels(settings.service_name, provider)
            pipeline.metrics.deduplicated.labels(settings.service_name, provider)
        webhooks.open(pipeline)

    async def drain_pipeline() -> None:
        await webhooks.pipeline.drain()  # before the runtime closes Redis

    runtime.on_startup.append(open_pipeline)
    runtime.on_shutdown.append(drain_pipeline)
    app = runtime.http_app(
        description="Webhooks of Messenger, Instagram, WhatsApp (Meta), LINE, Telegram and X.",
        max_body_bytes=settings.max_body_bytes,
    )
    app.include_router(build_router(webhooks))
    for path, endpoint in fast_endpoints(webhooks).items():
        fast_route(app, "POST", path, endpoint)
    limits: BodyLimits = app.state.body_limits
    limits.paths["/webhooks/meta"] = settings.meta_max_body_bytes
    app.state.webhooks = webhooks
    return app
