"""The shell: restore the checkpoint, fold every consumed event into the KPI state, checkpoint.

Restart correctness (kill -9 included): state and offsets are saved together, in one row, every
`analytics_checkpoint_seconds`. On start the state is loaded and every partition is read again
from the offset saved with it, so each event after the checkpoint is folded exactly once into
exactly the state it had. Redeliveries by producers (same CloudEvents id) are ignored by the fold.
Readiness waits until the partitions' ends as of start-up have been folded, so the gauges a
restarted process exports are the ones it had before, not a half-rebuilt state.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable

import structlog
from aiokafka import TopicPartition

from omni_analytics.adapters.checkpoint import CheckpointStore
from omni_analytics.adapters.partitions import PartitionReader
from omni_analytics.domain import KpiConfig, KpiState
from omni_schemas import EventValidationError, parse_event
from omni_schemas.topics import AGENTS, CONVERSATIONS, MESSAGES, SLA
from omni_service.kafka import EventPublisher, retry_transient
from omni_service.metrics import ServiceMetrics

log = structlog.get_logger(__name__)

CONSUMED_TOPICS = [CONVERSATIONS, AGENTS, SLA, MESSAGES]


class DeadLetterBrake:
    """Trips when at least `ratio` of the last `window` messages (and at least 50) were dead-lettered.

    A sudden flood of poison means a broken producer: stop instead of draining the topics into
    the dead-letter topic; the service turns not-ready and an operator looks.
    """

    def __init__(self, *, window: int = 200, ratio: float = 0.8) -> None:
        self.window = window
        self.ratio = ratio
        self._recent: deque[bool] = deque(maxlen=window)
        self._failed = 0

    def record(self, *, failed: bool) -> None:
        if len(self._recent) == self.window and self._recent[0]:
            self._failed -= 1
        self._recent.append(failed)
        if failed:
            self._failed += 1

    def tripped(self) -> bool:
        return len(self._recent) >= min(self.window, 50) and self._failed >= self.ratio * len(self._recent)


class KpiPipeline:
    """Owns the KPI state; one task reads, decodes and folds, and checkpoints on a timer."""

    def __init__(
        self,
        *,
        config: KpiConfig,
        reader: PartitionReader,
        store: CheckpointStore,
        publisher: EventPublisher,
        metrics: ServiceMetrics,
        checkpoint_every_s: float = 5.0,
        batch_size: int = 2000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.state = KpiState(config)
        self.reader = reader
        self.store = store
        self.publisher = publisher
        self.metrics = metrics
        self.service = metrics.service
        self.checkpoint_every_s = checkpoint_every_s
        self.batch_size = batch_size
        self.clock = clock
        self.offsets: dict[tuple[str, int], int] = {}
        self.caught_up = False
        self.checkpoint_ok = True
        self.last_checkpoint: float | None = None
        self._behind: dict[tuple[str, int], int] = {}
        self._dirty = False
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.brake = DeadLetterBrake()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="analytics-fold")

    async def _restore(self) -> None:
        saved = await retry_transient(self.store.load, what="load checkpoint")
        if saved is None:
            log.info("no checkpoint: folding the topics from the beginning")
            return
        try:
            state = KpiState.from_dict(saved.state, self.config)
        except Exception:  # a checkpoint this version cannot read: rebuild from the topics instead
            log.exception("checkpoint unreadable; folding the topics from the beginning")
            return
        self.state = state
        self.offsets = dict(saved.offsets)
        log.info("checkpoint restored", events=saved.events, partitions=len(saved.offsets))

    async def _run(self) -> None:
        await self._restore()
        delay = 0.5
        while not self._stopping:
            try:
                await self._consume()
                return  # stopped, or the dead-letter brake tripped
            except asyncio.CancelledError:
                raise
            except Exception:  # Kafka gone or a bug: reconnect and resume from the offsets folded so far
                log.exception("fold loop failed; reconnecting", retry_in_s=delay)
                await self.reader.close()
                self.reader.assigned = set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _consume(self) -> None:
        await self.reader.connect()
        await self._assign()
        if not self.caught_up:
            self._behind = await self.reader.end_offsets()
        next_checkpoint = time.monotonic() + self.checkpoint_every_s
        next_assign = time.monotonic() + 30.0
        while not self._stopping:
            batch = await self.reader.fetch(max_records=self.batch_size)
            if batch:
                await self._fold(batch)
                if self.brake.tripped():
                    await self.checkpoint()
                    log.critical(
                        "dead-letter brake: most recent messages could not be folded; folding stopped",
                        window=self.brake.window,
                    )
                    return
            if not self.caught_up:
                await self._check_caught_up()
            now = time.monotonic()
            if now >= next_checkpoint:
                await self._update_lag()
                await self.checkpoint()
                next_checkpoint = now + self.checkpoint_every_s
            if now >= next_assign:
                await self._assign()
                next_assign = now + 30.0

    async def _check_caught_up(self) -> None:
        """Caught up once every partition's read position reached its end as of start-up."""
        for key, end in list(self._behind.items()):
            folded = self.offsets.get(key, 0)
            if folded < end:
                folded = await self.reader.position(key)  # past records removed by retention, too
            if folded >= end:
                del self._behind[key]
        if not self._behind:
            self.caught_up = True
            log.info("caught up with the topics", events=self.state.applied)

    async def _assign(self) -> None:
        while True:
            added = await self.reader.assign(self.offsets)
            if self.reader.assigned:
                if added:
                    log.info("partitions assigned", count=len(added))
                return
            log.warning("topics not found yet; waiting", topics=CONSUMED_TOPICS)
            await asyncio.sleep(1.0)

    async def _fold(self, batch: dict[TopicPartition, list[object]]) -> None:
        now = self.clock()
        for tp, records in batch.items():
            started = time.perf_counter()
            topic = self.reader.contract_name(tp.topic)
            last = None
            for record in records:
                value: bytes = record.value or b""  # type: ignore[attr-defined]
                try:
                    event = parse_event(value, topic=topic, key=record.key)  # type: ignore[attr-defined]
                except EventValidationError as exc:
                    self.metrics.errors.labels(self.service, "decode").inc()
                    await self.publisher.dead_letter(
                        value,
                        reason=str(exc),
                        source_topic=topic,
                        source_partition=tp.partition,
                        source_offset=record.offset,  # type: ignore[attr-defined]
                        key=record.key,  # type: ignore[attr-defined]
                        headers=tuple(record.headers or ()),  # type: ignore[attr-defined]
                        category="invalid",
                    )
                    self.brake.record(failed=True)
                else:
                    try:
                        self.state.apply(event, now=now)
                    except Exception as exc:  # a bug or an event the fold cannot take: poison, not a crash loop
                        log.exception("fold failed; dead-lettering", topic=topic, offset=record.offset)  # type: ignore[attr-defined]
                        self.metrics.errors.labels(self.service, "handler").inc()
                        await self.publisher.dead_letter(
                            value,
                            reason="analytics could not fold the event",
                            error=f"{type(exc).__name__}: {exc}",
                            source_topic=topic,
                            source_partition=tp.partition,
                            source_offset=record.offset,  # type: ignore[attr-defined]
                            key=record.key,  # type: ignore[attr-defined]
                            headers=tuple(record.headers or ()),  # type: ignore[attr-defined]
                            category="handler",
                        )
                        self.brake.record(failed=True)
                    else:
                        self.brake.record(failed=False)
                last = record.offset  # type: ignore[attr-defined]
            if last is not None:
                self.offsets[(topic, tp.partition)] = last + 1
                self._dirty = True
            self.metrics.events_in.labels(self.service, topic).inc(len(records))
            self.metrics.handler_seconds.labels(self.service, topic).observe(time.perf_counter() - started)
            high = self.reader.highwater(tp)
            if high is not None and last is not None:
                self.metrics.consumer_lag.labels(self.service, topic, str(tp.partition)).set(max(0, high - last - 1))

    async def _update_lag(self) -> None:
        """Lag of every assigned partition, also those that had nothing new in the last batches."""
        for tp in self.reader.assigned:
            high = self.reader.highwater(tp)
            if high is None:
                continue
            key = (self.reader.contract_name(tp.topic), tp.partition)
            lag = max(0, high - max(self.offsets.get(key, 0), await self.reader.position(key)))
            self.metrics.consumer_lag.labels(self.service, key[0], str(tp.partition)).set(lag)

    async def checkpoint(self) -> bool:
        """Save state and offsets together (skipped when nothing changed); False when PostgreSQL failed."""
        if not self._dirty:
            return True
        offsets = dict(self.offsets)
        doc = self.state.to_dict(self.clock())
        try:
            size = await self.store.save(offsets, doc, events=self.state.applied)
        except Exception as exc:  # PostgreSQL away: keep folding, try again next time
            self.checkpoint_ok = False
            self.metrics.errors.labels(self.service, "checkpoint").inc()
            log.warning("checkpoint failed", error=f"{type(exc).__name__}: {exc}")
            return False
        self._dirty = False
        self.checkpoint_ok = True
        self.last_checkpoint = self.clock()
        log.debug("checkpoint saved", bytes=size, events=self.state.applied)
        return True

    def ready(self) -> bool:
        return self._task is not None and not self._task.done() and self.caught_up and self.checkpoint_ok

    async def stop(self) -> None:
        """Stop reading and save a last checkpoint (SIGTERM path)."""
        self._stopping = True
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 10)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            except Exception:
                pass
        if self.reader.assigned:
            await self.checkpoint()
        await self.reader.close()
