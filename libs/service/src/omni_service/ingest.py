"""The accept path of every channel adapter: dedupe, publish, answer only after Kafka's ack.

A provider's redelivery of a message it already delivered yields no second event: the
provider-scoped id is remembered in Redis (with a TTL) once Kafka acknowledged the event, and
the event id and message id are derived from it, so even a redelivery that races the first
delivery (or arrives while Redis is away) carries the same CloudEvents `id` and consumers drop it.

Round trips are shared: the look-ups of every delivery that reaches the pipeline in the same
event-loop turn go to Redis as one MGET, and the ids to remember are written in one pipelined
batch after the ack, without holding the answer. Until its write is confirmed an acknowledged
id is remembered in the process too (and, if Redis is away, the last HELD_IDS of them stay
there), so a redelivery to the same process is a duplicate; `drain()` (at shutdown, before
Redis closes) waits for the writes, so a restart forgets nothing Redis could take.

A delivery answered 503 because Kafka did not acknowledge in time may still be written: the
producer keeps the record and sends it once the broker is back. So its acknowledgement is
followed: once it comes, the id is remembered like any other; and a redelivery that arrives
while that record is still with the producer waits for it (a duplicate if it is acknowledged,
sent again if it failed, 503 again if still unknown) instead of queueing a second copy.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
import structlog
from prometheus_client import Counter, Histogram
from redis.exceptions import RedisError

from omni_schemas import MessageReceived
from omni_service.kafka import EventPublisher, KafkaUnavailable
from omni_service.metrics import LATENCY_BUCKETS, ServiceMetrics
from omni_service.redis_client import SharedPipeline

log = structlog.get_logger(__name__)

_NAMESPACE = uuid.UUID("6f6d6e69-0000-4000-8000-696e67657374")  # "omni" ... "ingest"
DEDUPE_TTL_S = 7 * 24 * 3600
HELD_IDS = 100_000
_MAX_PLAIN_KEY_CHARS = 512


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
        self._child = metrics.child
        self.service = metrics.service
        self.dedupe_ttl_s = dedupe_ttl_s
        self._shared = SharedPipeline(redis)
        self._remembering: dict[str, None] = {}  # acknowledged, Redis write not confirmed (oldest first)
        self._to_remember: list[str] = []
        self._writer: asyncio.Task[None] | None = None
        # deliveries handed to the producer and not yet acknowledged (a 503 may have been answered
        # meanwhile): a redelivery waits for the same record instead of sending a second copy
        self._in_flight: dict[str, asyncio.Future[Any]] = {}

    def received(self, provider: str) -> float:
        self._child(self.metrics.received, self.service, provider).inc()
        return time.perf_counter()

    def reject(self, provider: str, reason: str) -> None:
        self._child(self.metrics.rejected, self.service, provider, reason).inc()

    def ignore(self, provider: str, reason: str, count: int = 1) -> None:
        self._child(self.metrics.ignored, self.service, provider, reason).inc(count)

    def _key(self, provider: str, dedupe_key: str) -> str:
        if len(dedupe_key) > _MAX_PLAIN_KEY_CHARS:  # a provider id of any length makes a Redis key of bounded size
            dedupe_key = "sha256:" + hashlib.sha256(dedupe_key.encode("utf-8", "surrogatepass")).hexdigest()
        return f"omni:ingest:seen:{provider}:{dedupe_key}"

    async def _seen(self, keys: list[str]) -> list[bool]:
        """Whether each key was delivered before; one round trip for every caller of this loop turn."""
        if not keys:
            return []
        held = [key in self._remembering for key in keys]  # before the MGET goes out: a confirmed write is in it

        def build(pipe: Any) -> None:
            pipe.mget(keys)

        try:
            (values,) = await self._shared.execute(build)
        except (RedisError, OSError) as exc:
            log.warning("dedupe store unavailable; relying on stable event ids", error=str(exc))
            values = [None] * len(keys)
        return [a or v is not None for a, v in zip(held, values, strict=True)]

    def _remember(self, keys: set[str]) -> None:
        """Write acknowledged ids to Redis in the background, batched; the process holds them meanwhile."""
        for key in keys:
            self._remembering.pop(key, None)
            self._remembering[key] = None
        self._to_remember.extend(keys)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_remembered(), name=f"{self.service}-dedupe-writer")

    async def _write_remembered(self) -> None:
        while self._to_remember:
            batch, self._to_remember = self._to_remember[:1000], self._to_remember[1000:]
            try:
                pipe = self.redis.pipeline(transaction=False)
                for key in batch:
                    pipe.set(key, b"1", ex=self.dedupe_ttl_s)
                await pipe.execute()
            except (RedisError, OSError) as exc:
                log.warning(
                    "could not remember delivered ids in Redis; held in this process, a redelivery elsewhere "
                    "keeps its event id",
                    error=str(exc),
                )
                for key in list(self._remembering)[: max(0, len(self._remembering) - HELD_IDS)]:
                    del self._remembering[key]
                continue
            for key in batch:
                self._remembering.pop(key, None)

    async def drain(self) -> None:
        """Wait until every acknowledged id is written to Redis (or given up on); call before Redis closes."""
        while self._writer is not None and not self._writer.done():
            try:
                await asyncio.shield(self._writer)
            except Exception as exc:  # already past: nothing more to wait for
                log.error("writing delivered ids failed", error=f"{type(exc).__name__}: {exc}")

    def _track(self, keys: list[str | None], acks: list[asyncio.Future[Any]]) -> None:
        """Hold each keyed record's acknowledgement until it settles; an acknowledged one is remembered
        in Redis, even when it came after its delivery was answered 503."""
        for key, ack in zip(keys, acks, strict=True):
            if key is not None:
                self._in_flight[key] = ack
                ack.add_done_callback(functools.partial(self._settled, key))

    def _settled(self, key: str, ack: asyncio.Future[Any]) -> None:
        if self._in_flight.get(key) is ack:
            del self._in_flight[key]
        if not ack.cancelled() and ack.exception() is None:
            self._remember({key})

    async def _settle_in_flight(self, provider: str, keyed: Sequence[Inbound], seen: dict[str | None, bool]) -> None:
        """A redelivery of a message whose earlier record is still with the producer waits for that record:
        acknowledged, the redelivery is a duplicate; failed, it is sent again; still unknown, 503."""
        waiting = {
            item.dedupe_key: self._in_flight[k]
            for item in keyed
            if not seen.get(item.dedupe_key) and (k := self._key(provider, str(item.dedupe_key))) in self._in_flight
        }
        if not waiting:
            return
        _, pending = await asyncio.wait(waiting.values(), timeout=self.publisher.ack_timeout_s)
        if pending:
            raise KafkaUnavailable("an earlier delivery of this message is still waiting for Kafka's acknowledgement")
        for dedupe_key, ack in waiting.items():
            seen[dedupe_key] = not ack.cancelled() and ack.exception() is None

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
        if self._in_flight:
            await self._settle_in_flight(provider, keyed, seen)
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
        redis_keys = [self._key(provider, item.dedupe_key) if item.dedupe_key else None for item in fresh]
        await self.publisher.publish_many(
            events, on_sent=lambda acks: self._track(redis_keys, acks) if batch_keys else None
        )
        for item in fresh:
            self._child(self.metrics.accepted, self.service, provider, item.message.channel.value).inc()
        if result.duplicates:
            self._child(self.metrics.deduplicated, self.service, provider).inc(result.duplicates)
        if started is not None:
            self._child(self.metrics.ack_seconds, self.service, provider).observe(time.perf_counter() - started)
        return result
