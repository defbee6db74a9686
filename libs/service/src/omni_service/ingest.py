"""The accept path of every channel adapter: dedupe, publish, answer only after Kafka's ack.

A provider's redelivery of a message it already delivered yields no second event: the
provider-scoped id is remembered in Redis (with a TTL) once Kafka acknowledged the event, and
the event id and message id are derived from it, so even a redelivery that races the first
delivery (or arrives while Redis is away) carries the same CloudEvents `id` and consumers drop it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis.asyncio as aioredis
import structlog
from prometheus_client import Counter, Histogram
from redis.exceptions import RedisError

from omni_schemas import MessageReceived
from omni_service.kafka import EventPublisher
from omni_service.metrics import LATENCY_BUCKETS, ServiceMetrics

log = structlog.get_logger(__name__)

_NAMESPACE = uuid.UUID("6f6d6e69-0000-4000-8000-696e67657374")  # "omni" ... "ingest"
DEDUPE_TTL_S = 7 * 24 * 3600


def stable_id(provider: str, dedupe_key: str, *, kind: str = "message") -> uuid.UUID:
    """A UUID that is the same for every delivery of one provider message."""
    return uuid.uuid5(_NAMESPACE, f"{kind}:{provider}:{dedupe_key}")


@dataclass(frozen=True, slots=True)
class Inbound:
    """A normalized message and the provider-scoped id that identifies its deliveries."""

    message: MessageReceived
    dedupe_key: str | None


@dataclass(slots=True)
class AcceptResult:
    accepted: list[uuid.UUID] = field(default_factory=list)
    duplicates: int = 0


class IngestMetrics:
    def __init__(self, metrics: ServiceMetrics) -> None:
        r, self.service = metrics.registry, metrics.service
        self.received = Counter(
            "omni_ingest_received", "Webhook deliveries or mails received.", ["service", "provider"], registry=r
        )
        self.accepted = Counter(
            "omni_ingest_accepted",
            "Messages accepted and acknowledged by Kafka.",
            ["service", "provider", "channel"],
            registry=r,
        )
        self.rejected = Counter(
            "omni_ingest_rejected", "Deliveries rejected, by reason.", ["service", "provider", "reason"], registry=r
        )
        self.ignored = Counter(
            "omni_ingest_ignored",
            "Provider events deliberately not routed, by reason.",
            ["service", "provider", "reason"],
            registry=r,
        )
        self.deduplicated = Counter(
            "omni_ingest_deduplicated",
            "Redeliveries that produced no second event.",
            ["service", "provider"],
            registry=r,
        )
        self.ack_seconds = Histogram(
            "omni_ingest_ack_seconds",
            "Time from receipt to Kafka acknowledgement.",
            ["service", "provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )


class IngestPipeline:
    def __init__(
        self,
        *,
        publisher: EventPublisher,
        redis: aioredis.Redis,
        metrics: ServiceMetrics,
        dedupe_ttl_s: int = DEDUPE_TTL_S,
    ) -> None:
        self.publisher = publisher
        self.redis = redis
        self.metrics = IngestMetrics(metrics)
        self.service = metrics.service
        self.dedupe_ttl_s = dedupe_ttl_s

    def received(self, provider: str) -> float:
        self.metrics.received.labels(self.service, provider).inc()
        return time.perf_counter()

    def reject(self, provider: str, reason: str) -> None:
        self.metrics.rejected.labels(self.service, provider, reason).inc()

    def ignore(self, provider: str, reason: str, count: int = 1) -> None:
        self.metrics.ignored.labels(self.service, provider, reason).inc(count)

    def _key(self, provider: str, dedupe_key: str) -> str:
        return f"omni:ingest:seen:{provider}:{dedupe_key}"

    async def _seen(self, keys: list[str]) -> list[bool]:
        if not keys:
            return []
        try:
            values = await self.redis.mget(keys)
        except (RedisError, OSError) as exc:
            log.warning("dedupe store unavailable; relying on stable event ids", error=str(exc))
            return [False] * len(keys)
        return [v is not None for v in values]

    async def accept(
        self, provider: str, items: Sequence[Inbound], *, started: float | None = None, traceparent: str | None = None
    ) -> AcceptResult:
        """Publish every new message and wait for Kafka's ack; raises KafkaUnavailable (answer 503)."""
        result = AcceptResult()
        keyed = [i for i in items if i.dedupe_key]
        seen = dict(
            zip(
                [i.dedupe_key for i in keyed],
                await self._seen([self._key(provider, str(i.dedupe_key)) for i in keyed]),
                strict=True,
            )
        )
        fresh: list[Inbound] = []
        batch_keys: set[str] = set()
        for item in items:
            if item.dedupe_key and (seen.get(item.dedupe_key) or item.dedupe_key in batch_keys):
                result.duplicates += 1
                continue
            if item.dedupe_key:
                batch_keys.add(item.dedupe_key)
            fresh.append(item)
        events = []
        for item in fresh:
            message = item.message
            event_id = None
            if item.dedupe_key:
                message = message.model_copy(update={"message_id": stable_id(provider, item.dedupe_key)})
                event_id = stable_id(provider, item.dedupe_key, kind="event")
            events.append(
                self.publisher.new_event(
                    "omni.message.received.v1", message, event_id=event_id, traceparent=traceparent
                )
            )
            result.accepted.append(message.message_id)
        await self.publisher.publish_many(events)
        if batch_keys:
            try:
                pipe = self.redis.pipeline(transaction=False)
                for key in batch_keys:
                    pipe.set(self._key(provider, key), b"1", ex=self.dedupe_ttl_s)
                await pipe.execute()
            except (RedisError, OSError) as exc:
                log.warning("could not remember delivered ids; a redelivery keeps its event id", error=str(exc))
        for item in fresh:
            self.metrics.accepted.labels(self.service, provider, item.message.channel.value).inc()
        if result.duplicates:
            self.metrics.deduplicated.labels(self.service, provider).inc(result.duplicates)
        if started is not None:
            self.metrics.ack_seconds.labels(self.service, provider).observe(time.perf_counter() - started)
        return result
