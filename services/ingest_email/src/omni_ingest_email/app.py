"""The composition root: settings -> Kafka publisher, Redis, accept path -> SMTP listener and webhook routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from omni_ingest_email.adapters.http import build_router, fast_endpoints
from omni_ingest_email.adapters.redis_store import MailStore
from omni_ingest_email.adapters.smtp import MailHandler, SmtpListener
from omni_ingest_email.handlers import Clock, EmailIngest, utcnow
from omni_ingest_email.settings import EmailSettings
from omni_service.http import create_http_app, fast_route
from omni_service.ingest import IngestPipeline
from omni_service.kafka import EventPublisher
from omni_service.metrics import ServiceMetrics
from omni_service.redis_client import create_redis, redis_ready

PROVIDERS = ("smtp", "sendgrid", "mailgun")


def create_app(settings: EmailSettings, *, publisher: EventPublisher | None = None, clock: Clock = utcnow) -> FastAPI:
    """Build the service; nothing connects or listens until the app's lifespan starts."""
    metrics = ServiceMetrics(settings.service_name)
    publisher = publisher or EventPublisher(
        bootstrap=settings.kafka_bootstrap_servers,
        service=settings.service_name,
        metrics=metrics,
        topic_suffix=settings.omni_topic_suffix,
    )
    redis = create_redis(settings.redis_url)
    pipeline = IngestPipeline(publisher=publisher, redis=redis, metrics=metrics)
    for provider in PROVIDERS:  # export zeroes before the first delivery
        pipeline.metrics.received.labels(settings.service_name, provider)
        pipeline.metrics.deduplicated.labels(settings.service_name, provider)
    ingest = EmailIngest(
        pipeline=pipeline,
        store=MailStore(redis, thread_ttl_s=settings.thread_memory_days * 24 * 3600),
        clock=clock,
        registry=metrics.registry,
        parse_in_thread_bytes=settings.parse_in_thread_bytes,
    )
    smtp = SmtpListener(
        MailHandler(ingest),
        host=settings.smtp_host,
        port=settings.smtp_port,
        data_size_limit=settings.max_body_bytes,
        hostname=settings.smtp_hostname,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await publisher.start()
        if settings.smtp_enabled:
            await smtp.start()
        try:
            yield
        finally:
            await smtp.stop()
            await pipeline.drain()
            await publisher.stop()
            await redis.aclose()

    async def redis_up() -> bool:
        return await redis_ready(redis)

    checks = {"kafka": publisher.ready, "redis": redis_up}
    if settings.smtp_enabled:
        checks["smtp"] = smtp.ready
    app = create_http_app(
        service=settings.service_name,
        metrics=metrics,
        ready_checks=checks,
        lifespan=lifespan,
        description="Inbound e-mail: SMTP on its own port, SendGrid Inbound Parse and Mailgun routes.",
        max_body_bytes=settings.max_body_bytes,
    )
    router = build_router(ingest=ingest, settings=settings)
    app.include_router(router)
    for path, endpoint in fast_endpoints(router).items():
        fast_route(app, "POST", path, endpoint)
    app.state.ingest = ingest
    app.state.smtp = smtp
    app.state.pipeline = pipeline
    return app
