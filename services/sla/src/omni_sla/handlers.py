"""The shell of the SLA service: conversation events in, durable timers, SLA events out, once.

- A conversation event is applied under a row lock on the conversation: the domain decides,
  and in the same transaction the timers are replaced and the decisions due now are recorded
  in the `sla_emitted` outbox (unique per conversation, metric, cycle and slot). A redelivered
  event (offset not past the last applied one) changes nothing.
- The fire loop wakes for the earliest timer of the owned partitions, deletes the due timers
  (only if still pending with that instant) and records their decisions in one statement.
- Every owned partition has a gate: its timers fire only up to the instant up to which its events
  are known to be handled, less a settle window (`settle`, for events still on their way to the
  broker): the time of the last event applied from it, or the last fetch that found nothing more
  to read. So a deadline is not declared breached while the reply that met it is unread: after a
  restart, a rebalance, during a Kafka outage or under lag, timers wait for the events.
- The publisher publishes recorded decisions (warnings before outcomes) and marks them published
  once acknowledged. Event ids are derived from the key, and on (re)assignment of a partition
  its unpublished decisions are first looked up on the SLA topic, so a crash between commit and
  acknowledgement neither loses nor duplicates an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from omni_schemas import CloudEvent, parse_event, to_record
from omni_schemas.topics import CONVERSATIONS, SLA
from omni_service.kafka import EventPublisher, Incoming, retry_transient
from omni_sla.adapters import postgres as db
from omni_sla.adapters.kafka_scan import published_ids
from omni_sla.domain.clocks import (
    ConversationFact,
    Emission,
    Fact,
    Kind,
    Outcome,
    TimerKey,
    apply,
    state_from_dict,
    state_to_dict,
)
from omni_sla.domain.policies import SlaConfig
from omni_sla.timers import (
    KIND_CODE,
    METRIC_CODE,
    TimerWheel,
    from_us,
    pack_key,
    to_us,
    unpack,
)

log = structlog.get_logger(__name__)

_FACTS = {f"omni.conversation.{f.value}.v1": f for f in Fact if f is not Fact.OTHER}
_MOVES_CLOCKS = {
    Fact.OPENED,
    Fact.CUSTOMER_REPLIED,
    Fact.QUEUED,
    Fact.AGENT_REPLIED,
    Fact.TRANSFERRED,
    Fact.RESOLVED,
    Fact.REOPENED,
    Fact.ABANDONED,
}
LATENESS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0, 30.0, 300.0, 3600.0)


def event_id_of(key: TimerKey) -> uuid.UUID:
    """The same decision always gets the same CloudEvents id (consumers dedupe on it): the MD5 of
    `conversation/metric/cycle/kind`, as the fire statement computes it in PostgreSQL."""
    text = f"{key.conversation_id}/{key.metric.value}/{key.cycle}/{key.kind.value}"
    return uuid.UUID(hashlib.md5(text.encode(), usedforsecurity=False).hexdigest())


def to_fact(event: CloudEvent) -> ConversationFact | None:
    """The clock-relevant fact of a conversation event, or None for one that moves no clock."""
    fact = _FACTS.get(event.type)
    if fact is None or fact not in _MOVES_CLOCKS:
        return None
    data: Any = event.data
    queue = data.queue
    if fact is Fact.TRANSFERRED and getattr(data, "to_queue", None):
        queue = data.to_queue
    channel = data.channel.value if data.channel is not None else None
    return ConversationFact(
        fact,
        data.conversation_id,
        data.occurred_at or event.time,
        channel=channel,
        queue=queue,
        priority=data.priority,
        tier=data.tier,
    )


class SlaMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.emitted = Counter(
            "omni_sla_emitted", "SLA events published, by type and metric.", ["type", "metric"], registry=registry
        )
        self.lateness = Histogram(
            "omni_sla_emission_lateness_seconds",
            "Publish acknowledgement of a breach minus its due instant.",
            ["type"],
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )
        self.pending = Gauge(
            "omni_sla_pending_timers", "Timers scheduled in memory for the owned partitions.", registry=registry
        )
        self.reload_seconds = Gauge(
            "omni_sla_reload_seconds", "Time the last reload of pending timers took.", registry=registry
        )
        self.redelivered = Counter(
            "omni_sla_redelivered_events", "Conversation events skipped as redelivered.", registry=registry
        )


class SlaEngine:
    """Applies conversation events, keeps the timers of the owned partitions, publishes decisions."""

    def __init__(
        self,
        *,
        config: SlaConfig,
        pool: Callable[[], asyncpg.Pool | None],
        publisher: EventPublisher,
        metrics: SlaMetrics,
        bootstrap: str,
        sla_topic: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        fire_batch: int = 2000,
        relay_interval_s: float = 30.0,
        settle: timedelta = timedelta(milliseconds=200),
        on_published: Callable[[Sequence[CloudEvent], datetime], None] | None = None,
    ) -> None:
        self.config = config
        self._pool = pool
        self.publisher = publisher
        self.metrics = metrics
        self.bootstrap = bootstrap
        self.sla_topic = sla_topic
        self.clock = clock
        self.fire_batch = fire_batch
        self.relay_interval_s = relay_interval_s
        self._settle_us = _us(settle)
        self.on_published = on_published
        self.wheel = TimerWheel()
        self.owned: set[int] = set()
        # owned partition -> instant (µs) up to which its timers may fire: its events are handled up to
        # then (less the settle window); a partition owned but not in it (tests, benchmarks) is not gated
        self.gates: dict[int, int] = {}
        self._wake = asyncio.Event()
        self._outbox: asyncio.Queue[list[db.EmittedRow]] = asyncio.Queue()
        self._in_flight: set[uuid.UUID] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._fire_tasks: set[asyncio.Task[None]] = set()
        self._publish_tasks: set[asyncio.Task[None]] = set()
        self._fire_slots = asyncio.Semaphore(6)
        self._acked: list[uuid.UUID] = []
        self._acked_signal = asyncio.Event()
        self._publish_slots = asyncio.Semaphore(3)
        metrics.pending.set_function(lambda: len(self.wheel))

    @property
    def pool(self) -> asyncpg.Pool:
        pool = self._pool()
        if pool is None:
            raise ConnectionError("PostgreSQL pool not open")
        return pool

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._fire_loop(), name="sla-fire"),
            asyncio.create_task(self._publish_loop(), name="sla-publish"),
            asyncio.create_task(self._mark_loop(), name="sla-mark-published"),
            asyncio.create_task(self._relay_loop(), name="sla-relay"),
        ]

    async def stop(self) -> None:
        """Stop firing, let decisions already recorded be published (briefly), then stop publishing."""
        for task in self._tasks[:1]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._fire_tasks:
            await asyncio.wait(set(self._fire_tasks), timeout=10)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._outbox.join(), 5)
        if self._tasks:
            await self._mark_acked()
        for task in [*self._tasks[1:], *self._publish_tasks, *self._fire_tasks]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def ready(self) -> bool:
        return bool(self._tasks) and not any(t.done() for t in self._tasks)

    # --- rebalance -----------------------------------------------------------------------

    async def on_assigned(self, parts: set[tuple[str, int]]) -> None:
        new = sorted(p for t, p in parts if t == CONVERSATIONS and p not in self.owned)
        if not new:
            return
        started = time.perf_counter()
        self.owned.update(new)
        for part in new:  # nothing of it fires before the consumer says where it stands
            self.gates[part] = 0
        count = await self.reload(new)
        await self._relay_unpublished(new)
        self.metrics.reload_seconds.set(time.perf_counter() - started)
        log.info(
            "partitions assigned; timers reloaded",
            partitions=new,
            timers=count,
            seconds=round(time.perf_counter() - started, 3),
        )

    async def on_revoked(self, parts: set[tuple[str, int]]) -> None:
        gone = {p for t, p in parts if t == CONVERSATIONS}
        self.owned -= gone
        for part in gone:
            self.gates.pop(part, None)
        dropped = self.wheel.drop_partitions(gone)
        log.info("partitions revoked; timers dropped", partitions=sorted(gone), timers=dropped)

    async def reload(self, partitions: Sequence[int]) -> int:
        """Load the pending timers of these partitions into the wheel; returns how many."""
        count = 0
        async for chunk in db.iter_pending(self.pool, partitions):
            self.wheel.add_many(chunk)
            count += len(chunk)
        self.wheel.rebuild()
        self._wake.set()
        return count

    async def _relay_unpublished(self, partitions: Sequence[int], *, older_than_s: float = 0.0) -> None:
        """Publish decisions recorded but never acknowledged (a crash in between), unless Kafka has them."""
        if not partitions:
            return
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        pending = [
            (row, at)
            for row, at in await db.unpublished(self.pool, partitions)
            if row.event_id not in self._in_flight and at <= cutoff
        ]
        if not pending:
            return
        since = min(at for _, at in pending)
        found = await published_ids(
            self.bootstrap, self.sla_topic, since=since, wanted={row.event_id for row, _ in pending}
        )
        await db.mark_published(self.pool, sorted(found))
        missing = [row for row, _ in pending if row.event_id not in found]
        log.info("unpublished SLA decisions after restart", already_on_kafka=len(found), republishing=len(missing))
        if missing:
            self._enqueue(missing)

    def on_progress(self, progress: dict[tuple[str, int], float | None]) -> None:
        """The consumer's report: per partition, the instant up to which everything was handled (its
        last fetch found nothing more), or None while records wait."""
        for (topic, part), handled_until in progress.items():
            if topic == CONVERSATIONS and handled_until is not None:
                self._advance(part, int(handled_until * 1_000_000))

    def _advance(self, part: int, handled_us: int) -> None:
        gate = self.gates.get(part)
        if gate is not None and handled_us - self._settle_us > gate:
            self.gates[part] = handled_us - self._settle_us
            if self.wheel.parked():
                self._wake.set()

    # --- conversation events -------------------------------------------------------------

    async def on_conversation(self, incoming: Incoming) -> None:
        await self._apply(incoming)
        self._advance(incoming.partition, to_us(incoming.event.time))  # a partition's events come in order

    async def _apply(self, incoming: Incoming) -> None:
        fact = to_fact(incoming.event)
        if fact is None:
            return
        fresh: list[db.EmittedRow] = []
        outcome: Outcome | None = None
        async with self.pool.acquire() as conn, conn.transaction():
            stored = await db.lock_conversation(conn, fact.conversation_id)
            if stored is not None and stored.partition == incoming.partition and incoming.offset <= stored.last_offset:
                self.metrics.redelivered.inc()
                return
            state = state_from_dict(stored.state) if stored is not None else None
            outcome = apply(state, fact, self.config)
            if outcome.state is None:
                return
            new_state = outcome.state
            await db.delete_timers(
                conn,
                fact.conversation_id,
                [(METRIC_CODE[k.metric], k.cycle, KIND_CODE[k.kind]) for k in outcome.cancel],
            )
            await db.upsert_timers(
                conn,
                [
                    db.TimerRow(
                        t.key.conversation_id,
                        METRIC_CODE[t.key.metric],
                        t.key.cycle,
                        KIND_CODE[t.key.kind],
                        incoming.partition,
                        t.due_at,
                        t.clock_due_at,
                        _us(t.remaining),
                        new_state.policy or "",
                        new_state.channel,
                        new_state.queue,
                    )
                    for t in outcome.schedule
                ],
            )
            now = self.clock()
            fresh = await db.insert_emitted(
                conn,
                [
                    self._emitted_row(
                        e,
                        partition=incoming.partition,
                        policy=new_state.policy or "",
                        channel=new_state.channel,
                        queue=new_state.queue,
                        now=now,
                    )
                    for e in outcome.emit
                ],
            )
            if state is not None and (state.queue, state.channel) != (new_state.queue, new_state.channel):
                await db.retag_timers(conn, fact.conversation_id, channel=new_state.channel, queue=new_state.queue)
            await db.save_conversation(
                conn,
                fact.conversation_id,
                partition=incoming.partition,
                offset=incoming.offset,
                state=state_to_dict(new_state),
            )
        if outcome.emit or outcome.schedule or outcome.cancel:
            log.debug(
                "clocks moved",
                conversation_id=str(fact.conversation_id),
                fact=fact.fact.value,
                reason=outcome.reason,
                scheduled=len(outcome.schedule),
                emitted=len(fresh),
            )
        if incoming.partition in self.owned:
            for key in outcome.cancel:
                self.wheel.cancel(pack_key(key, incoming.partition))
            earliest = self.wheel.next_due()
            for timer in outcome.schedule:
                due = to_us(timer.due_at)
                self.wheel.add(pack_key(timer.key, incoming.partition), due)
                if earliest is None or due < earliest:
                    self._wake.set()
        if fresh:
            self._enqueue(fresh)

    def _emitted_row(
        self, emission: Emission, *, partition: int, policy: str, channel: str | None, queue: str | None, now: datetime
    ) -> db.EmittedRow:
        key = emission.key
        event_id = event_id_of(key)
        data: dict[str, Any] = {
            "conversation_id": key.conversation_id,
            "policy": policy,
            "metric": key.metric.value,
            "due_at": emission.due_at,
            "cycle": key.cycle,
            "channel": channel,
            "queue": queue,
        }
        if key.kind is Kind.WARNING:
            data["remaining_seconds"] = emission.remaining.total_seconds()
        elif key.kind is Kind.BREACHED:
            data["breached_at"] = emission.due_at
        else:
            data["met_at"] = emission.at
            data["remaining_seconds"] = emission.remaining.total_seconds()
        event = self.publisher.new_event(f"omni.sla.{key.kind.value}.v1", data, time=now, event_id=event_id)
        return db.EmittedRow(
            key.conversation_id,
            METRIC_CODE[key.metric],
            key.cycle,
            0 if key.kind is Kind.WARNING else 1,
            key.kind.value,
            event_id,
            partition,
            to_record(event).value,
            event,
        )

    # --- timers --------------------------------------------------------------------------

    async def _fire_loop(self) -> None:
        while True:
            now_us = to_us(self.clock())
            due = self.wheel.pop_due(now_us, limit=self.fire_batch, gates=self.gates)
            if not due:
                nxt = self.wheel.next_due()
                timeout = 1.0 if nxt is None else min(1.0, max(0.0, (nxt - now_us) / 1e6))
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                continue
            # a few batches in flight at once, so one slow round trip does not hold up the next due timers
            await self._fire_slots.acquire()
            self._spawn(self._fire_batch(due), self._fire_tasks)

    def _spawn(self, work: Coroutine[Any, Any, None], tasks: set[asyncio.Task[None]]) -> None:
        task = asyncio.create_task(work)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _fire_batch(self, due: list[tuple[int, int]]) -> None:
        try:
            await retry_transient(lambda: self._fire(due), what="fire SLA timers")
        except Exception:
            log.exception("firing timers failed; they stay pending in PostgreSQL until the next reload", count=len(due))
        finally:
            self._fire_slots.release()

    async def _fire(self, due: list[tuple[int, int]]) -> None:
        wanted = []
        for packed, due_us in due:
            u = unpack(packed)
            if u.partition in self.owned:
                wanted.append((u.conversation_id, u.metric_code, u.cycle, u.kind_code, from_us(due_us)))
        if not wanted:
            return
        async with self.pool.acquire() as conn:
            fresh = await db.fire_due_timers(conn, wanted, source=self.publisher.source)
        fresh.sort(key=lambda row: row.slot)  # a warning and its breach due together: the warning first
        if fresh:
            self._enqueue(fresh)

    # --- publishing ----------------------------------------------------------------------

    def _enqueue(self, rows: list[db.EmittedRow]) -> None:
        self._in_flight.update(row.event_id for row in rows)
        self._outbox.put_nowait(rows)

    async def _relay_loop(self) -> None:
        """Now and then, publish what a failed publish left behind (the relay runs on assignment too)."""
        while True:
            await asyncio.sleep(self.relay_interval_s)
            try:
                await self._relay_unpublished(sorted(self.owned), older_than_s=self.relay_interval_s)
            except Exception:
                log.exception("relaying unpublished SLA events failed; retrying later")

    async def _publish_loop(self) -> None:
        while True:
            batch = [*await self._outbox.get()]
            taken = 1
            while not self._outbox.empty():
                batch += self._outbox.get_nowait()
                taken += 1
            await self._publish_slots.acquire()
            self._spawn(self._publish_batch(batch, taken), self._publish_tasks)

    async def _publish_batch(self, batch: list[db.EmittedRow], taken: int) -> None:
        released = False
        try:
            events = [row.event if row.event is not None else parse_event(row.payload) for row in batch]
            ids = [e.id for e in events]
            await retry_transient(lambda: self.publisher.publish_many(events), what="publish SLA events")
            self._publish_slots.release()
            released = True
            acked = self.clock()
            self._observe(events, acked)
            if self.on_published is not None:
                self.on_published(events, acked)
            self._acked.extend(ids)
            self._acked_signal.set()
        except Exception:
            log.exception("publishing SLA events failed; the relay publishes them later")
            self._in_flight.difference_update(row.event_id for row in batch)
        finally:
            if not released:
                self._publish_slots.release()
            for _ in range(taken):
                self._outbox.task_done()

    async def _mark_loop(self) -> None:
        """Mark acknowledged events published, coalesced: one UPDATE per interval, not per batch."""
        while True:
            await self._acked_signal.wait()
            await asyncio.sleep(0.1)
            await self._mark_acked()

    async def _mark_acked(self) -> None:
        self._acked_signal.clear()
        ids, self._acked = self._acked, []
        if not ids:
            return
        try:
            await retry_transient(lambda: db.mark_published(self.pool, ids), what="mark SLA events published")
        except Exception:
            log.exception("marking SLA events published failed; the relay finds them on Kafka later")
        self._in_flight.difference_update(ids)

    def _observe(self, events: Sequence[CloudEvent], acked: datetime) -> None:
        for event in events:
            data: Any = event.data
            kind = event.type.split(".")[2]
            self.metrics.emitted.labels(kind, data.metric.value).inc()
            if kind == "breached":
                self.metrics.lateness.labels(kind).observe(max(0.0, (acked - data.due_at).total_seconds()))


def _us(delta: timedelta) -> int:
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


__all__ = ["SLA", "SlaEngine", "SlaMetrics", "event_id_of", "to_fact"]
