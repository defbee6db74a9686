"""Kafka edges every service shares: an idempotent publisher and a consumer-group loop.

The consumer commits offsets only after the handler returned for every message of a batch,
dead-letters poison at once with the original bytes, retries everything else with bounded
backoff, and stops itself (the dead-letter brake) when most messages suddenly fail.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    MessageSizeTooLargeError,
    TopicAlreadyExistsError,
)

from omni_schemas import CloudEvent, DeadLetter, EventValidationError, new_event, parse_event, to_record
from omni_schemas.envelope import MAX_EVENT_BYTES
from omni_schemas.sizing import EventTooLarge
from omni_schemas.topics import DEADLETTER, TOPICS
from omni_service.metrics import ServiceMetrics

log = structlog.get_logger(__name__)

DEADLETTER_PAYLOAD_BYTES = 512 * 1024
"""A dead letter keeps at most this much of the payload: base64 (4/3 the size) and all, it fits an event."""
_DEADLETTER_TEXT_BYTES = 4096  # of the key and of each header value
_MAX_HEADERS = 64


class KafkaUnavailable(RuntimeError):
    """Kafka did not acknowledge in time; the caller answers 503 (HTTP) or retries."""


class PoisonMessage(Exception):
    """Raised by a handler for a message that can never succeed; it is dead-lettered at once."""


class DeadLetterBrakeTripped(RuntimeError):
    """Most recent messages failed: the consumer stops instead of draining the topic."""


@dataclass(frozen=True, slots=True)
class Incoming:
    """One consumed, decoded event with where it came from."""

    topic: str
    """The contract name of the topic (without the test suffix)."""
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    event: CloudEvent
    timestamp_ms: int


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class EventPublisher:
    """Idempotent producer (acks=all). `publish` returns once the broker acknowledged."""

    def __init__(
        self,
        *,
        bootstrap: str,
        service: str,
        metrics: ServiceMetrics,
        topic_suffix: str = "",
        linger_ms: int = 2,
        ack_timeout_s: float = 10.0,
    ) -> None:
        self.bootstrap = bootstrap
        self.service = service
        self.source = f"/omni/{service}"
        self.metrics = metrics
        self.topic_suffix = topic_suffix
        self.ack_timeout_s = ack_timeout_s
        self._linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None
        self._connect_task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()

    async def start(self, *, wait: bool = False) -> None:
        """Connect in the background (retrying while Kafka is away); with `wait`, until connected."""
        if self._connect_task is None:
            self._connect_task = asyncio.create_task(self._connect(), name=f"{self.service}-producer-connect")
        if wait:
            await self._started.wait()

    async def _connect(self) -> None:
        self._producer = await start_with_retry(
            lambda: AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                client_id=f"omni-{self.service}",
                enable_idempotence=True,
                acks="all",
                linger_ms=self._linger_ms,
                request_timeout_ms=int(self.ack_timeout_s * 1000),
                retry_backoff_ms=100,
                max_request_size=2 * 1024 * 1024,
            ),
            what="kafka producer",
        )
        self._started.set()

    async def stop(self) -> None:
        if self._connect_task is not None and not self._connect_task.done():
            self._connect_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connect_task
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def ready(self) -> bool:
        producer = self._producer
        if producer is None:
            return False
        client = producer.client
        nodes = [b.nodeId for b in client.cluster.brokers()]
        if not nodes:
            return False
        try:
            return any([await asyncio.wait_for(client.ready(n), 2.0) for n in nodes[:1]])
        except (TimeoutError, KafkaError, OSError):
            return False

    def new_event(self, event_type: str, data: Any, **kwargs: Any) -> CloudEvent:
        return new_event(event_type, data, source=self.source, **kwargs)

    async def publish(self, event: CloudEvent) -> None:
        await self.publish_many([event])

    async def publish_many(
        self,
        events: Sequence[CloudEvent],
        *,
        key: bytes | None = None,
        on_sent: Callable[[list[asyncio.Future[Any]]], None] | None = None,
    ) -> None:
        """Send all, then wait for every acknowledgement; KafkaUnavailable if any is missing.

        `key` overrides the Kafka key of keyless topics (a dead letter keeps its original key).
        `on_sent` gets each event's acknowledgement future as soon as the producer holds them: a
        record the producer still holds when the wait times out may yet be written once Kafka is
        back, and those futures tell (the wait never cancels them).
        """
        if not events:
            return
        producer = self._producer
        if producer is None:
            raise KafkaUnavailable("not connected to Kafka yet")
        records = [to_record(event) for event in events]
        for record in records:
            if len(record.value) > MAX_EVENT_BYTES:  # no consumer would read it: not worth a retry
                raise EventTooLarge(
                    f"a {record.topic} event of {len(record.value)} bytes, over the {MAX_EVENT_BYTES} consumers read"
                )
        try:
            futures = []
            for record in records:
                futures.append(
                    await producer.send(
                        record.topic + self.topic_suffix,
                        record.value,
                        key=record.key if record.key is not None else key,
                        headers=record.headers,
                    )
                )
            if on_sent is not None:
                on_sent(futures)
            acks = futures[0] if len(futures) == 1 else asyncio.gather(*futures)
            acks.add_done_callback(_retrieve)  # a late failure after a timed-out wait is not "never retrieved"
            await asyncio.wait_for(asyncio.shield(acks), self.ack_timeout_s)
        except MessageSizeTooLargeError as exc:  # a broker set to take less than consumers read: no retry helps
            self.metrics.errors.labels(self.service, "publish").inc()
            raise EventTooLarge(f"the broker refused the record as too large: {exc}") from exc
        except (KafkaError, TimeoutError, OSError) as exc:
            self.metrics.errors.labels(self.service, "publish").inc()
            raise KafkaUnavailable(f"Kafka did not acknowledge: {type(exc).__name__}: {exc}") from exc
        for event in events:
            self.metrics.child(self.metrics.events_out, self.service, event.topic).inc()

    async def dead_letter(
        self,
        payload: bytes,
        *,
        reason: str,
        error: str | None = None,
        source_topic: str | None = None,
        source_partition: int | None = None,
        source_offset: int | None = None,
        endpoint: str | None = None,
        key: bytes | None = None,
        headers: Iterable[tuple[str, bytes]] = (),
        category: str = "invalid",
    ) -> None:
        """Publish the original bytes and the reason to omni.deadletter.v1 (retries until acknowledged).

        So that the dead letter always fits an event, a payload over DEADLETTER_PAYLOAD_BYTES keeps its
        first bytes (the reason says so; `payload_size` is the whole), header values and the key their
        first kilobytes, and a key over that goes to Kafka as its SHA-256.
        """
        size = len(payload)
        if size > DEADLETTER_PAYLOAD_BYTES:
            reason = f"{reason[:1900]} (the payload's first {DEADLETTER_PAYLOAD_BYTES} of {size} bytes kept)"
            payload = payload[:DEADLETTER_PAYLOAD_BYTES]
        text_key = key[:_DEADLETTER_TEXT_BYTES].decode("utf-8", "replace") if key is not None else None
        if key is not None and len(key) > _DEADLETTER_TEXT_BYTES:
            key = b"sha256:" + hashlib.sha256(key).hexdigest().encode()
        data = DeadLetter(
            source_topic=source_topic,
            source_partition=source_partition,
            source_offset=source_offset,
            endpoint=endpoint,
            consumer=self.service,
            key=text_key,
            payload_base64=base64.b64encode(payload).decode(),
            payload_size=size,
            headers={
                k[:200]: v[:_DEADLETTER_TEXT_BYTES].decode("utf-8", "replace") for k, v in list(headers)[:_MAX_HEADERS]
            },
            reason=reason[:2000],
            error=error[:4000] if error else None,
            failed_at=datetime.now(UTC),
        )
        event = self.new_event("omni.deadletter.v1", data)
        await retry_transient(lambda: self.publish_many([event], key=key), what="dead letter")
        self.metrics.deadletters.labels(self.service, category).inc()
        log.warning("dead-lettered", reason=reason, source_topic=source_topic, offset=source_offset, endpoint=endpoint)


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (KafkaUnavailable, KafkaError, OSError, TimeoutError)


_Client = TypeVar("_Client", AIOKafkaProducer, AIOKafkaConsumer)


async def start_with_retry(
    make: Callable[[], _Client], *, what: str, stopping: Callable[[], bool] = lambda: False
) -> _Client:
    """Build and start a Kafka client, again and again (backing off to 5 s) while Kafka is away.

    A client that failed to start is stopped before the next try. With `stopping`, gives up by
    raising CancelledError once it says so."""
    delay = 0.2
    while not stopping():
        client = make()
        try:
            await client.start()
        except (KafkaError, OSError) as exc:
            with contextlib.suppress(Exception):
                await client.stop()
            log.warning(f"{what} cannot connect yet", error=str(exc), retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        return client
    raise asyncio.CancelledError


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    name = type(exc).__name__
    module = type(exc).__module__
    # asyncpg and redis connection failures, without importing either here
    return (
        (module.startswith("asyncpg") and ("Connection" in name or "CannotConnect" in name))
        or (module.startswith("redis") and ("Connection" in name or "Timeout" in name or "Busy" in name))
        or name in {"InterfaceError", "TooManyConnectionsError"}
    )


async def retry_transient(
    action: Callable[[], Awaitable[Any]],
    *,
    what: str,
    max_delay_s: float = 5.0,
    on_wait: Callable[[bool], None] | None = None,
) -> Any:
    """Retry a side effect forever while its failure is transient, with capped, jittered backoff."""
    delay = 0.1
    while True:
        try:
            result = await action()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if on_wait:
                on_wait(False)
            log.warning(
                "transient failure, retrying",
                what=what,
                error=f"{type(exc).__name__}: {exc}",
                retry_in_s=round(delay, 2),
            )
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, max_delay_s)
            continue
        if on_wait:
            on_wait(True)
        return result


Handler = Callable[[Incoming], Awaitable[None]]
PartitionsCallback = Callable[[set[tuple[str, int]]], Awaitable[None]]
ProgressCallback = Callable[[dict[tuple[str, int], float | None]], None]


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: EventConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.owner._on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.owner._on_assigned(assigned)


class EventConsumer:
    """A consumer-group loop: decode, handle in order, flush, commit; poison to the dead-letter topic."""

    def __init__(
        self,
        *,
        bootstrap: str,
        topics: Sequence[str],
        group_id: str,
        handler: Handler,
        publisher: EventPublisher,
        metrics: ServiceMetrics,
        topic_suffix: str = "",
        flush: Callable[[], Awaitable[None]] | None = None,
        on_assigned: PartitionsCallback | None = None,
        on_revoked: PartitionsCallback | None = None,
        on_progress: ProgressCallback | None = None,
        poll_timeout_ms: int = 200,
        batch_size: int = 500,
        max_handler_attempts: int = 5,
        brake_window: int = 200,
        brake_ratio: float = 0.8,
        auto_offset_reset: str = "earliest",
    ) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.suffix = topic_suffix
        self.group_id = group_id
        self.handler = handler
        self.publisher = publisher
        self.metrics = metrics
        self.service = publisher.service
        self.flush = flush
        self.on_assigned = on_assigned
        self.on_revoked = on_revoked
        self.on_progress = on_progress
        self.poll_timeout_ms = poll_timeout_ms
        self.batch_size = batch_size
        self.max_handler_attempts = max_handler_attempts
        self.brake_window = brake_window
        self.brake_ratio = brake_ratio
        self.auto_offset_reset = auto_offset_reset
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._lock = asyncio.Lock()
        self._recent: deque[bool] = deque(maxlen=brake_window)
        self._healthy = True
        self.tripped: BaseException | None = None
        self.assigned: set[tuple[str, int]] = set()

    def _contract_name(self, topic: str) -> str:
        return topic[: len(topic) - len(self.suffix)] if self.suffix and topic.endswith(self.suffix) else topic

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self.service}-consumer-{self.group_id}")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 15)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            except Exception:  # already logged by the loop
                pass

    def ready(self) -> bool:
        return self._task is not None and not self._task.done() and self._consumer is not None and self._healthy

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._lock:  # the in-flight batch finishes and commits first
            parts = {(self._contract_name(tp.topic), tp.partition) for tp in revoked}
            self.assigned -= parts
            if self.on_revoked:
                await self.on_revoked(parts)

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        parts = {(self._contract_name(tp.topic), tp.partition) for tp in assigned}
        self.assigned |= parts
        if self.on_assigned:
            await self.on_assigned(parts)

    async def _connect(self) -> AIOKafkaConsumer:
        def make() -> AIOKafkaConsumer:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                group_id=self.group_id,
                client_id=f"omni-{self.service}",
                enable_auto_commit=False,
                auto_offset_reset=self.auto_offset_reset,
                isolation_level="read_committed",
                max_poll_interval_ms=300_000,
                session_timeout_ms=10_000,
                heartbeat_interval_ms=1_000,
                fetch_max_wait_ms=100,
                max_partition_fetch_bytes=2 * 1024 * 1024,
            )
            consumer.subscribe([t + self.suffix for t in self.topics], listener=_Listener(self))
            return consumer

        return await start_with_retry(make, what="kafka consumer", stopping=lambda: self._stopping)

    async def _run(self) -> None:
        try:
            self._consumer = await self._connect()
        except asyncio.CancelledError:
            return
        consumer = self._consumer
        try:
            while not self._stopping:
                batches = await consumer.getmany(timeout_ms=self.poll_timeout_ms, max_records=self.batch_size)
                if batches:
                    async with self._lock:
                        await self._process(consumer, batches)
                if self.on_progress is not None:
                    self.on_progress(await self._progress(consumer))
        except DeadLetterBrakeTripped as exc:
            self.tripped = exc
            log.critical("dead-letter brake tripped; consumer stopped", error=str(exc))
        except Exception:
            log.exception("consumer loop crashed")
            raise
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _process(self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[Any]]) -> None:
        started = time.perf_counter()
        offsets: dict[TopicPartition, int] = {}
        for tp, records in batches.items():
            if tp not in consumer.assignment():
                continue  # revoked while we waited for the lock; the new owner re-reads it
            topic = self._contract_name(tp.topic)
            for record in records:
                await self._one(topic, record)
                offsets[tp] = record.offset + 1
            self.metrics.events_in.labels(self.service, topic).inc(len(records))
        if self.flush is not None:
            await retry_transient(self.flush, what="flush", on_wait=self._set_healthy)
        if offsets:
            await self._commit(consumer, offsets)
        for tp in offsets:
            high = consumer.highwater(tp)
            if high is not None:
                self.metrics.consumer_lag.labels(self.service, self._contract_name(tp.topic), str(tp.partition)).set(
                    max(0, high - offsets[tp])
                )
        elapsed = time.perf_counter() - started
        for topic in {self._contract_name(tp.topic) for tp in offsets}:
            self.metrics.handler_seconds.labels(self.service, topic).observe(elapsed)

    async def _progress(self, consumer: AIOKafkaConsumer) -> dict[tuple[str, int], float | None]:
        """Per assigned partition whose end is known (after its first fetch): the wall-clock instant
        (epoch seconds) of the last fetch response if everything up to the end it reported (the last
        stable offset, read_committed) has been handled, None if records are still waiting."""
        progress: dict[tuple[str, int], float | None] = {}
        for tp in consumer.assignment():
            polled = consumer.last_poll_timestamp(tp)
            end = consumer.last_stable_offset(tp)
            if end is None or end < 0:
                end = consumer.highwater(tp)
            if polled is None or end is None:
                continue
            try:
                position = await asyncio.wait_for(consumer.position(tp), 0.5)
            except (IllegalStateError, TimeoutError):  # revoked, or its position is being reset
                continue
            progress[(self._contract_name(tp.topic), tp.partition)] = polled / 1000 if position >= end else None
        return progress

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        for attempt in range(20):
            try:
                await consumer.commit(offsets)
                return
            except (CommitFailedError, IllegalStateError) as exc:
                # the group moved on: the new owner re-reads these; handlers are idempotent
                log.warning("offset commit rejected after rebalance", error=str(exc))
                return
            except (KafkaError, OSError) as exc:
                log.warning("offset commit failed; retrying", error=str(exc), attempt=attempt)
                await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
        log.error("offset commit failed 20 times; messages will be redelivered")

    def _set_healthy(self, healthy: bool) -> None:
        self._healthy = healthy

    async def _one(self, topic: str, record: Any) -> None:
        headers = tuple(record.headers or ())
        value: bytes = record.value or b""
        try:
            event = parse_event(value, topic=topic, key=record.key)
        except EventValidationError as exc:
            self.metrics.errors.labels(self.service, "decode").inc()
            await self._dead_letter(topic, record, headers, reason=str(exc), category="invalid")
            return
        incoming = Incoming(topic, record.partition, record.offset, record.key, value, headers, event, record.timestamp)
        attempts = 0
        while True:
            try:
                await self.handler(incoming)
            except PoisonMessage as exc:
                await self._dead_letter(topic, record, headers, reason=str(exc), category="handler")
                return
            except Exception as exc:
                self.metrics.errors.labels(self.service, "handler").inc()
                if is_transient(exc):
                    self._healthy = False
                    log.warning(
                        "transient handler failure; retrying",
                        error=f"{type(exc).__name__}: {exc}",
                        topic=topic,
                        offset=record.offset,
                    )
                    await asyncio.sleep(min(0.1 * 2 ** min(attempts, 6), 5.0))
                    attempts += 1
                    continue
                attempts += 1
                if attempts >= self.max_handler_attempts:
                    log.exception("handler failed repeatedly; dead-lettering", topic=topic, offset=record.offset)
                    await self._dead_letter(
                        topic,
                        record,
                        headers,
                        reason=f"handler failed {attempts} times",
                        error=f"{type(exc).__name__}: {exc}",
                        category="handler",
                    )
                    return
                await asyncio.sleep(0.05 * attempts)
                continue
            self._healthy = True
            self._recent.append(True)
            return

    async def _dead_letter(
        self,
        topic: str,
        record: Any,
        headers: tuple[tuple[str, bytes], ...],
        *,
        reason: str,
        category: str,
        error: str | None = None,
    ) -> None:
        await self.publisher.dead_letter(
            record.value or b"",
            reason=reason,
            error=error,
            source_topic=topic,
            source_partition=record.partition,
            source_offset=record.offset,
            key=record.key,
            headers=headers,
            category=category,
        )
        self._recent.append(False)
        if len(self._recent) >= min(self.brake_window, 50):
            failed = self._recent.count(False)
            if failed / len(self._recent) >= self.brake_ratio:
                raise DeadLetterBrakeTripped(
                    f"{failed} of the last {len(self._recent)} messages were dead-lettered; stopping {self.group_id}"
                )


async def ensure_topics(bootstrap: str, *, suffix: str = "", max_partitions: int | None = None) -> list[str]:
    """Create the contract's topics (with partitions, retention, compaction) where missing."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="omni-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = []
        for topic in TOPICS.values():
            name = topic.name + suffix
            if name in existing:
                continue
            config = {"retention.ms": str(topic.retention_ms)}
            if topic.compacted:
                config = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
            partitions = topic.partitions if max_partitions is None else min(topic.partitions, max_partitions)
            wanted.append(NewTopic(name, partitions, 1, topic_configs=config))
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
        return [t.name for t in wanted]
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, *, suffix: str) -> None:
    if not suffix:
        raise ValueError("refusing to delete the production topics")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="omni-admin")
    await admin.start()
    try:
        with contextlib.suppress(KafkaError):
            await admin.delete_topics([t + suffix for t in TOPICS])
    finally:
        await admin.close()


__all__ = [
    "DEADLETTER",
    "DeadLetterBrakeTripped",
    "EventConsumer",
    "EventPublisher",
    "Incoming",
    "KafkaUnavailable",
    "PoisonMessage",
    "delete_topics",
    "ensure_topics",
    "retry_transient",
]
