"""The router's shell: load state, call the decision core, persist (with the atomic claim) and publish.

Every replica keeps a `RoutingCore` over all live agents and conversations, rebuilt from
PostgreSQL at start and kept current by reading rows changed since the last look (each
row carries a version from one sequence). A replica acts on the core's decisions through
conditional UPDATEs; when another replica got there first, the UPDATE matches no row and
the core is told (`claim_rejected`) or re-synced. Events go through an outbox written in
the same transaction, published right after commit and re-published by a relay if the
publish did not happen (same event id: consumers deduplicate).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from omni_router.adapters import postgres as pg
from omni_router.domain.classification import Message, RoutingConfig
from omni_router.domain.identity import identity_key
from omni_router.domain.model import (
    GROUPS,
    AgentProfile,
    Assigned,
    Decision,
    Offered,
    OfferEnded,
    Presence,
    Queued,
    Reason,
    RoutingRequest,
    group_of,
)
from omni_router.domain.routing import RoutingCore
from omni_schemas import AssignmentReason, CloudEvent, parse_event
from omni_service.kafka import EventPublisher, Incoming, KafkaUnavailable, is_transient

log = structlog.get_logger(__name__)

C = "omni.conversation."


def ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def reason_dict(reason: Reason) -> dict[str, Any]:
    return AssignmentReason(
        summary=reason.summary,
        strategy=reason.strategy,
        rule=reason.rule,
        skills=dict(reason.skills),
        agent_skills={k: max(1, v) for k, v in reason.agent_skills.items() if v > 0},
        widening_step=reason.widening_step,
        sticky=reason.sticky,
        candidates=reason.candidates,
    ).model_dump(mode="json")


def request_from_row(row: asyncpg.Record) -> RoutingRequest:
    return RoutingRequest(
        conversation_id=str(row["conversation_id"]),
        channel=row["channel"],
        queue=row["queue"],
        skills=dict(row["skills"] or {}),
        optional_skills=dict(row["optional_skills"] or {}),
        language=row["language"],
        priority=row["priority"],
        sla_due_at=ts(row["sla_due_at"]),
        enqueued_at=row["enqueued_at"].timestamp(),
        rule=row["rule"],
        last_agent_id=row["last_agent_id"],
        excluded_agents=frozenset(row["declined"] or ()),
    )


def profile_from_row(row: asyncpg.Record) -> AgentProfile:
    return AgentProfile(
        agent_id=row["agent_id"],
        skills=dict(row["skills"] or {}),
        languages=tuple(row["languages"] or ()),
        capacity={g: row[pg.cap_col(g)] for g in GROUPS},
        presence=Presence(row["presence"]),
    )


def _identity_of(message: Any) -> str:
    """The sender's customer identity key (e-mail and phone as they are, other ids scoped to the channel)."""
    return identity_key(message.channel.value, message.customer.address)


class RouterMetrics:
    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Gauge

        self.decisions = Counter(
            "omni_router_decisions", "Routing decisions acted on, by kind.", ["kind"], registry=registry
        )
        self.claims_rejected = Counter(
            "omni_router_claims_rejected",
            "Atomic claims that lost to another replica or a stale view.",
            registry=registry,
        )
        self.waiting = Gauge(
            "omni_router_waiting_conversations", "Conversations waiting in this replica's view.", registry=registry
        )


class Router:
    """One router replica: the core, the durable record and the event stream, kept in step."""

    def __init__(
        self,
        *,
        config: RoutingConfig,
        pool: Callable[[], asyncpg.Pool | None],
        publisher: EventPublisher,
        redis: Callable[[], Any],
        metrics: RouterMetrics,
        tick_s: float = 0.2,
        full_sync_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._pool = pool
        self.publisher = publisher
        self._redis = redis
        self.metrics = metrics
        self.tick_s = tick_s
        self.full_sync_s = full_sync_s
        self.clock = clock
        self.core = RoutingCore(config.queues, default_queue=config.default_queue)
        self.lock = asyncio.Lock()
        self._profiles: dict[str, AgentProfile] = {}
        self._watermark = 0
        self._task: asyncio.Task[None] | None = None
        self._synced = False
        self._last_full = 0.0
        self._relay_wanted = asyncio.Event()
        self._relay_task: asyncio.Task[None] | None = None
        self._inbox: list[Incoming] = []

    @property
    def pool(self) -> asyncpg.Pool:
        pool = self._pool()
        if pool is None:
            raise RuntimeError("PostgreSQL pool not open")
        return pool

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        await self.full_sync()
        self._task = asyncio.create_task(self._loop(), name="router-loop")
        self._relay_task = asyncio.create_task(self._relay_loop(), name="router-relay")

    async def stop(self) -> None:
        for task in (self._task, self._relay_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        with contextlib.suppress(Exception):
            await self.relay_outbox()

    def relay_soon(self) -> None:
        """Ask the relay task to publish the outbox now (events committed by the caller)."""
        self._relay_wanted.set()

    async def _relay_loop(self) -> None:
        while True:
            await self._relay_wanted.wait()
            self._relay_wanted.clear()
            try:
                while await self.relay_outbox() > 0:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox relay failed; retrying", error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.5)
                self._relay_wanted.set()

    def ready(self) -> bool:
        return self._synced and self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                now = self.clock()
                if now - self._last_full >= self.full_sync_s:
                    await self.full_sync()
                else:
                    await self.poll_changes()
                async with self.lock:
                    await self._execute(self.core.tick(now=now), now=now)
                await self.relay_outbox(older_than_s=2.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a server briefly away: the next round retries
                log.warning("router loop round failed", error=f"{type(exc).__name__}: {exc}")

    # --- keeping the core in step with the durable record -------------------------------

    async def full_sync(self) -> None:
        """Rebuild the view of every live agent and conversation (start-up, Redis loss, safety net)."""
        agents, convs, top = await pg.live_state(self.pool)
        now = self.clock()
        async with self.lock:
            decisions: list[Decision] = []
            for row in agents:
                decisions.extend(self._sync_agent(row, now=now))
            live = set()
            for row in convs:
                live.add(str(row["conversation_id"]))
                decisions.extend(self._sync_conversation(row, now=now))
            for cid in [*self.core.waiting.by_id, *self.core.held]:
                if cid not in live:
                    self.core.forget(cid)
            self._watermark = max(self._watermark, top)
            self._synced = True
            self._last_full = now
            await self._execute(decisions, now=now)
        self.metrics.waiting.set(len(self.core.waiting))

    async def poll_changes(self) -> None:
        # rows committed out of sequence order are caught by looking back a little each time
        agents, convs = await pg.changed_since(self.pool, max(0, self._watermark - 64))
        await self.apply_rows(agents, convs)

    async def apply_rows(self, agents: Iterable[asyncpg.Record], convs: Iterable[asyncpg.Record]) -> None:
        now = self.clock()
        async with self.lock:
            decisions: list[Decision] = []
            for row in agents:
                self._watermark = max(self._watermark, row["version"])
                decisions.extend(self._sync_agent(row, now=now))
            for row in convs:
                self._watermark = max(self._watermark, row["version"])
                decisions.extend(self._sync_conversation(row, now=now))
            await self._execute(decisions, now=now)
        self.metrics.waiting.set(len(self.core.waiting))

    def _sync_agent(self, row: asyncpg.Record, *, now: float) -> list[Decision]:
        profile = profile_from_row(row)
        decisions: list[Decision] = []
        known = self._profiles.get(profile.agent_id)
        if known is None or (known.skills, known.languages, known.capacity) != (
            profile.skills,
            profile.languages,
            profile.capacity,
        ):
            record = self.core.agents.agents.get(profile.agent_id)
            presence = record.presence if record is not None else Presence.OFFLINE
            decisions.extend(self.core.upsert_agent(replace(profile, presence=presence), now=now))
            self._profiles[profile.agent_id] = profile
        for group in GROUPS:
            decisions.extend(self.core.sync_load(profile.agent_id, group, row[pg.load_col(group)], now=now))
        decisions.extend(self.core.set_presence(profile.agent_id, profile.presence, now=now))
        return decisions

    def _sync_conversation(self, row: asyncpg.Record, *, now: float) -> list[Decision]:
        cid = str(row["conversation_id"])
        state = row["state"]
        mine = self.core.state_of(cid)
        if state in ("resolved", "abandoned"):
            self.core.forget(cid)
            return []
        if state == "waiting":
            if mine == "waiting":
                conv = self.core.waiting.by_id[cid]
                conv.declined.update(row["declined"] or ())
                if conv.queue != row["queue"]:
                    self.core.forget(cid)
                    return self.core.enqueue(request_from_row(row), now=now)
                due = ts(row["sla_due_at"])
                if (due is not None and due < conv.sla_due) or row["priority"] > conv.priority:
                    self.core.raise_urgency(
                        cid,
                        sla_due_at=due if due is not None else conv.sla_due,
                        priority_boost=max(0, row["priority"] - conv.priority),
                    )
                return []
            self.core.forget(cid)
            return [d for d in self.core.enqueue(request_from_row(row), now=now) if not isinstance(d, Queued)]
        offered = state == "offered"
        held = self.core.held.get(cid)
        if held is not None and held.agent_id == row["agent_id"]:
            held.offered = offered
            if offered and row["offer_expires_at"] is not None:
                held.expires_at = row["offer_expires_at"].timestamp()
            return []
        self.core.forget(cid)
        expires = ts(row["offer_expires_at"]) or 0.0
        self.core.restore_held(request_from_row(row), row["agent_id"], offered=offered, expires_at=expires)
        return []

    async def refresh(self, *, conversations: Iterable[Any] = (), agents: Iterable[str] = ()) -> None:
        """Re-read these rows now (after an API change) instead of waiting for the next poll."""
        convs = list(conversations)
        names = list(agents)
        async with self.pool.acquire() as conn:
            arows = await conn.fetch("select * from router_agents where agent_id = any($1::text[])", names)
            crows = await conn.fetch(
                "select * from router_conversations where conversation_id = any($1::uuid[])", convs
            )
        await self.apply_rows(arows, crows)

    # --- acting on decisions -----------------------------------------------------------

    async def _execute(self, decisions: list[Decision], *, now: float) -> None:
        """Persist and publish each decision; a lost race re-routes through the core (lock held)."""
        pending = list(decisions)
        while pending:
            if isinstance(pending[0], Assigned | Offered):
                # a run of claims goes to PostgreSQL as one batch (one claim per conversation per batch)
                run: list[Assigned | Offered] = []
                seen: set[str] = set()
                while pending and isinstance(pending[0], Assigned | Offered) and pending[0].conversation_id not in seen:
                    claim = pending.pop(0)
                    assert isinstance(claim, Assigned | Offered)
                    seen.add(claim.conversation_id)
                    run.append(claim)
                if len(run) == 1:
                    pending.extend(await self._claim(run[0], now=now))
                else:
                    pending.extend(await self._claim_many(run, now=now))
                continue
            d = pending.pop(0)
            if isinstance(d, OfferEnded):
                if not await self._expire_offer(d, now=now):
                    pending = [p for p in pending if getattr(p, "conversation_id", None) != d.conversation_id]
            elif isinstance(d, Queued) and d.why in ("widened", "overflow"):
                await self._widen(d)
        self.metrics.waiting.set(len(self.core.waiting))

    def _conversation_data(self, row: asyncpg.Record, **extra: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "conversation_id": str(row["conversation_id"]),
            "channel": row["channel"],
            "agent_id": row["agent_id"],
            "queue": row["queue"],
            "priority": row["priority"],
            "required_skills": dict(row["skills"] or {}) or None,
            "tier": row["tier"],
        }
        data.update(extra)
        return data

    def event(self, event_type: str, data: dict[str, Any]) -> CloudEvent:
        return self.publisher.new_event(event_type, data)

    async def _claim(self, d: Assigned | Offered, *, now: float) -> list[Decision]:
        offered = isinstance(d, Offered)
        reason = reason_dict(d.reason)
        expires = dt(d.expires_at) if isinstance(d, Offered) else None

        def events_for(row: asyncpg.Record) -> list[CloudEvent]:
            waited = max(0.0, now - row["enqueued_at"].timestamp())
            data = self._conversation_data(row, agent_id=d.agent_id, waited_seconds=waited, reason=reason)
            if isinstance(d, Offered):
                data["offer_expires_at"] = dt(d.expires_at).isoformat()
                return [self.event(C + "offered.v1", data)]
            return [self.event(C + "assigned.v1", data)]

        async with self.pool.acquire() as conn:
            result = await pg.try_claim(
                conn,
                conversation_id=uuid.UUID(d.conversation_id),
                agent_id=d.agent_id,
                group=d.group,
                offered=offered,
                offer_expires_at=expires,
                reason=reason,
                events_for=events_for,
            )
        if result.ok:
            self.metrics.decisions.labels("offered" if offered else "assigned").inc()
            self.relay_soon()
            return []
        self.metrics.claims_rejected.inc()
        agent = result.agent
        actual = agent[pg.load_col(d.group)] if agent is not None else None
        more = self.core.claim_rejected(d.conversation_id, now=now, actual_load=actual, requeue=result.still_waiting)
        if agent is not None and agent["presence"] != "available":
            more.extend(self.core.set_presence(d.agent_id, Presence(agent["presence"]), now=now))
        if not result.still_waiting:
            async with self.pool.acquire() as conn:
                row = await conn.fetchrow(
                    "select * from router_conversations where conversation_id = $1", uuid.UUID(d.conversation_id)
                )
            if row is not None:
                more.extend(self._sync_conversation(row, now=now))
        return more

    async def _claim_many(self, run: list[Assigned | Offered], *, now: float) -> list[Decision]:
        """Act on several claims in one transaction (`pg.claim_many`); losers re-route as in `_claim`."""
        specs = [
            pg.ClaimSpec(
                conversation_id=uuid.UUID(d.conversation_id),
                agent_id=d.agent_id,
                group=d.group,
                offered=isinstance(d, Offered),
                offer_expires_at=dt(d.expires_at) if isinstance(d, Offered) else None,
                reason=reason_dict(d.reason),
            )
            for d in run
        ]

        def events_for(row: asyncpg.Record, spec: pg.ClaimSpec) -> list[CloudEvent]:
            waited = max(0.0, now - row["enqueued_at"].timestamp())
            data = self._conversation_data(row, agent_id=spec.agent_id, waited_seconds=waited, reason=spec.reason)
            if spec.offered:
                data["offer_expires_at"] = spec.offer_expires_at.isoformat()
                return [self.event(C + "offered.v1", data)]
            return [self.event(C + "assigned.v1", data)]

        async with self.pool.acquire() as conn:
            results = await pg.claim_many(conn, specs, events_for=events_for)
        more: list[Decision] = []
        gone: list[uuid.UUID] = []
        for d, spec, result in zip(run, specs, results, strict=True):
            if result.ok:
                self.metrics.decisions.labels("offered" if spec.offered else "assigned").inc()
                continue
            self.metrics.claims_rejected.inc()
            agent = result.agent
            actual = agent[pg.load_col(d.group)] if agent is not None else None
            more.extend(
                self.core.claim_rejected(d.conversation_id, now=now, actual_load=actual, requeue=result.still_waiting)
            )
            if agent is not None and agent["presence"] != "available":
                more.extend(self.core.set_presence(d.agent_id, Presence(agent["presence"]), now=now))
            if not result.still_waiting:
                gone.append(spec.conversation_id)
        if len(gone) < len(run):
            self.relay_soon()
        if gone:
            async with self.pool.acquire() as conn:
                rows = await conn.fetch(
                    "select * from router_conversations where conversation_id = any($1::uuid[])", gone
                )
            for row in rows:
                more.extend(self._sync_conversation(row, now=now))
        return more

    async def _expire_offer(self, d: OfferEnded, *, now: float) -> bool:
        cid = uuid.UUID(d.conversation_id)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await pg.update_conversation(
                conn,
                cid,
                where="state = 'offered' and agent_id = $2 and offer_expires_at <= $3",
                args=(d.agent_id, dt(now)),
                state="waiting",
                agent_id=None,
                offer_expires_at=None,
                declined=await conn.fetchval(
                    "select array_append(declined, $2) from router_conversations where conversation_id = $1",
                    cid,
                    d.agent_id,
                ),
            )
            if row is None:
                expired_ok = False
            else:
                await pg.release_agent_slot(conn, d.agent_id, group_of(row["channel"]))
                await conn.execute(
                    "insert into router_assignments (conversation_id, agent_id, kind) values ($1, $2, 'expired')",
                    cid,
                    d.agent_id,
                )
                await pg.add_outbox(
                    conn,
                    [
                        self.event(C + "offer_expired.v1", self._conversation_data(row, agent_id=d.agent_id)),
                        self.event(
                            C + "queued.v1",
                            self._conversation_data(row, rule=row["rule"], widening_step=row["widening_step"]),
                        ),
                    ],
                )
                expired_ok = True
        if expired_ok:
            self.metrics.decisions.labels("offer_expired").inc()
            self.relay_soon()
            return True
        async with self.pool.acquire() as conn:
            fresh = await conn.fetchrow("select * from router_conversations where conversation_id = $1", cid)
            agent = await conn.fetchrow("select * from router_agents where agent_id = $1", d.agent_id)
        if agent is not None:
            self._sync_agent(agent, now=now)
        if fresh is not None:
            self.core.forget(d.conversation_id)
            self._sync_conversation(fresh, now=now)
        return False

    async def _widen(self, d: Queued) -> None:
        cid = uuid.UUID(d.conversation_id)
        conv = self.core.waiting.by_id.get(d.conversation_id)
        async with self.pool.acquire() as conn, conn.transaction():
            if d.why == "overflow":
                skills = dict(conv.request.skills) if conv is not None else {}
                row = await pg.update_conversation(
                    conn,
                    cid,
                    where="state = 'waiting' and queue <> $2",
                    args=(d.queue,),
                    queue=d.queue,
                    skills=skills,
                    optional_skills={},
                    widening_step=0,
                )
            else:
                row = await pg.update_conversation(
                    conn,
                    cid,
                    where="state = 'waiting' and widening_step < $2",
                    args=(d.widening_step,),
                    widening_step=d.widening_step,
                )
            if row is not None:
                await pg.add_outbox(
                    conn,
                    [
                        self.event(
                            C + "queued.v1",
                            self._conversation_data(
                                row,
                                rule=d.rule if d.why != "overflow" else "overflow",
                                widening_step=d.widening_step,
                                waited_seconds=max(0.0, self.clock() - row["enqueued_at"].timestamp()),
                            ),
                        )
                    ],
                )
        if row is not None:
            self.metrics.decisions.labels(d.why).inc()
            self.relay_soon()

    # --- the outbox --------------------------------------------------------------------

    async def relay_outbox(self, *, older_than_s: float = 0.0) -> int:
        """Publish outbox rows (oldest first) and delete them once Kafka acknowledged.

        One relay at a time across all replicas (a transaction-scoped advisory lock), so events
        leave in commit order and no row is published twice; a crash between publish and delete
        republishes with the same event id, which consumers deduplicate.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("select pg_advisory_xact_lock(hashtext('omni_router_outbox'))")
            rows = await conn.fetch(
                """select id, topic, key, value from router_outbox
                    where created_at <= now() - make_interval(secs => $1::float8)
                    order by id limit 500""",
                older_than_s,
            )
            if not rows:
                return 0
            events = [parse_event(bytes(r["value"]), topic=r["topic"], key=r["key"]) for r in rows]
            try:
                await self.publisher.publish_many(events)
            except KafkaUnavailable as exc:
                log.warning("outbox not published yet", error=str(exc), pending=len(rows))
                return 0
            await conn.execute("delete from router_outbox where id = any($1::bigint[])", [r["id"] for r in rows])
        return len(rows)

    # --- consumed events ---------------------------------------------------------------

    async def on_event(self, incoming: Incoming) -> None:
        """Consumer handler. Message events wait for `flush_messages` (end of the consumed batch,
        before its offsets are committed); any other event first flushes the ones before it."""
        event = incoming.event
        if event.type == "omni.message.received.v1":
            self._inbox.append(incoming)
            return
        await self.flush_messages()
        if event.type in ("omni.agent.updated.v1", "omni.agent.presence_changed.v1"):
            await self.on_agent_event(event)
        elif event.type == "omni.sla.warning.v1":
            await self.on_sla_warning(event)

    async def flush_messages(self) -> None:
        """Handle the buffered message events together (`on_messages`); the consumer's flush hook.

        A transient failure propagates (the consumer retries the flush; the batch is idempotent by
        event id). Any other failure falls back to one transaction per event, where an event that
        keeps failing is dead-lettered, as the consumer does for a failing handler.
        """
        if not self._inbox:
            return
        batch = list(self._inbox)
        try:
            await self.on_messages([incoming.event for incoming in batch])
        except Exception as exc:
            if is_transient(exc):
                raise
            log.warning("message batch failed; handling its events one by one", error=f"{type(exc).__name__}: {exc}")
            for incoming in batch:
                await self._one_message(incoming)
        del self._inbox[: len(batch)]

    async def _one_message(self, incoming: Incoming, attempts: int = 5) -> None:
        for attempt in range(1, attempts + 1):
            try:
                await self.on_message(incoming.event)
                return
            except Exception as exc:
                if is_transient(exc):
                    raise
                if attempt == attempts:
                    log.exception("message event failed repeatedly; dead-lettering", offset=incoming.offset)
                    await self.publisher.dead_letter(
                        incoming.value,
                        reason=f"handler failed {attempts} times",
                        error=f"{type(exc).__name__}: {exc}",
                        source_topic=incoming.topic,
                        source_partition=incoming.partition,
                        source_offset=incoming.offset,
                        key=incoming.key,
                        headers=incoming.headers,
                        category="handler",
                    )
                    return
                await asyncio.sleep(0.05 * attempt)

    async def on_messages(self, events: list[CloudEvent]) -> None:
        """Message events of one consumed batch, in order, in one transaction of a fixed number of
        statements: dedupe by event id, lock the threads' open (or recently resolved) conversations
        in conversation id order, resolve customers, open or reopen conversations, record the
        messages and write the outbox. Then route every opened conversation at once."""
        from omni_schemas import MessageReceived

        msgs: list[tuple[CloudEvent, MessageReceived]] = []
        for event in events:
            assert isinstance(event.data, MessageReceived)
            msgs.append((event, event.data))
        if not msgs:
            return
        touched: list[asyncpg.Record] = []
        async with self.pool.acquire() as conn, conn.transaction():
            fresh = await pg.mark_processed_many(conn, [e.id for e, _ in msgs])
            seen: set[Any] = set()
            todo = []
            for e, m in msgs:
                if e.id in fresh and e.id not in seen:
                    seen.add(e.id)
                    todo.append(m)
            if not todo:
                return
            now = datetime.now(UTC)
            rows = await pg.threads_for_update(
                conn,
                sorted({m.thread_key for m in todo}),
                resolved_after=dt(self.clock() - self.config.reopen_window_s),
            )
            live: dict[str, asyncpg.Record] = {}
            resolved: dict[str, asyncpg.Record] = {}
            for row in rows:
                if row["state"] in pg.LIVE:
                    live[row["thread_key"]] = row
                elif row["state"] == "resolved":
                    best = resolved.get(row["thread_key"])
                    if best is None or row["resolved_at"] > best["resolved_at"]:
                        resolved[row["thread_key"]] = row
            # decide, message by message, in order (a thread opened earlier in the batch is open later in it)
            plan: list[tuple[MessageReceived, str, Any]] = []  # (message, kind, thread key or row)
            opening: dict[str, MessageReceived] = {}
            reopening: dict[str, asyncpg.Record] = {}
            for m in todo:
                key = m.thread_key
                if key in live or key in opening or key in reopening:
                    plan.append((m, "replied" if not m.auto_reply else "quiet", key))
                elif m.auto_reply:
                    plan.append((m, "none", key))
                elif key in resolved:
                    reopening[key] = resolved[key]
                    plan.append((m, "reopened", key))
                else:
                    opening[key] = m
                    plan.append((m, "opened", key))
            opened_events: dict[str, list[CloudEvent]] = {}
            for key, prev in reopening.items():
                row, evs = await self._reopen(
                    conn, prev, reopening_message=next(m for m, k, t in plan if t == key and k == "reopened")
                )
                live[key] = row
                touched.append(row)
                opened_events[key] = evs
            if opening:
                new_rows, new_events = await self._open_many(conn, list(opening.values()), now=now)
                for row in new_rows:
                    live[row["thread_key"]] = row
                    touched.append(row)
                opened_events.update(new_events)
            events_out: list[CloudEvent] = []
            for m, kind, key in plan:
                if kind in ("opened", "reopened"):
                    events_out.extend(opened_events.pop(key, []))
                elif kind == "replied":
                    events_out.append(
                        self.event(
                            C + "customer_replied.v1", self._conversation_data(live[key], message_id=str(m.message_id))
                        )
                    )
            await conn.execute(
                """insert into router_messages (message_id, conversation_id, thread_key, auto_reply, received_at)
                   select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::bool[], $5::timestamptz[])
                   on conflict do nothing""",
                [m.message_id for m, _, _ in plan],
                [live[key]["conversation_id"] if kind != "none" else None for _, kind, key in plan],
                [m.thread_key for m, _, _ in plan],
                [m.auto_reply for m, _, _ in plan],
                [m.received_at for m, _, _ in plan],
            )
            await pg.add_outbox(conn, events_out)
        try:
            if touched:
                await self.apply_rows((), touched)
        finally:
            self.relay_soon()  # once, after the claims: opened, queued and assigned leave together
        if touched:
            await self._cache_threads({row["thread_key"]: row["conversation_id"] for row in touched})

    async def _reopen(
        self, conn: asyncpg.Connection, prev: asyncpg.Record, *, reopening_message: Any
    ) -> tuple[asyncpg.Record, list[CloudEvent]]:
        m = reopening_message
        row = await pg.update_conversation(
            conn,
            prev["conversation_id"],
            state="waiting",
            last_agent_id=prev["agent_id"] or prev["last_agent_id"],
            agent_id=None,
            declined=[],
            offer_expires_at=None,
            reason=None,
            widening_step=0,
            sla_due_at=None,
            enqueued_at=datetime.now(UTC),
            resolved_at=None,
        )
        assert row is not None
        return row, [
            self.event(C + "reopened.v1", self._conversation_data(row, agent_id=None, message_id=str(m.message_id))),
            self.event(C + "queued.v1", self._conversation_data(row, agent_id=None, rule=row["rule"], widening_step=0)),
        ]

    async def _open_many(
        self, conn: asyncpg.Connection, msgs: list[Any], *, now: datetime
    ) -> tuple[list[asyncpg.Record], dict[str, list[CloudEvent]]]:
        """Open one conversation per message (distinct threads): customers, last agents, rows, events."""
        proposed = {_identity_of(m): f"cust-{uuid.uuid4()}" for m in msgs}
        customers = await pg.resolve_customers(conn, proposed)
        known = sorted({c for a, c in customers.items() if c != proposed[a]})  # new customers have no last agent
        last_agents = await pg.last_agents_of_customers(conn, known) if known else {}
        values = []
        for m in msgs:
            outcome = self.config.classify(
                Message(channel=m.channel.value, text=m.text, subject=m.subject, language=m.language, tier=m.tier)
            )
            customer_id = customers[_identity_of(m)]
            values.append(
                (
                    uuid.uuid4(),
                    m.thread_key,
                    customer_id,
                    m.channel.value,
                    outcome.queue,
                    outcome.priority,
                    json.dumps(dict(outcome.skills)),
                    json.dumps(dict(outcome.optional_skills)),
                    outcome.language,
                    m.tier,
                    outcome.rule,
                    last_agents.get(customer_id),
                    m.message_id,
                )
            )
        rows = await pg.insert_conversations(conn, values, now=now)
        by_thread = {m.thread_key: m for m in msgs}
        events: dict[str, list[CloudEvent]] = {}
        for row in rows:
            m = by_thread[row["thread_key"]]
            events[row["thread_key"]] = [
                self.event(
                    C + "opened.v1",
                    self._conversation_data(
                        row,
                        thread_key=m.thread_key,
                        customer_id=row["customer_id"],
                        first_message_id=str(m.message_id),
                        language=m.language,
                    ),
                ),
                self.event(C + "queued.v1", self._conversation_data(row, rule=row["rule"], widening_step=0)),
            ]
        return rows, events

    async def _cache_threads(self, conversations: dict[str, uuid.UUID]) -> None:
        client = self._redis()
        if client is None:
            return
        with contextlib.suppress(Exception):
            async with client.pipeline(transaction=False) as pipe:
                for thread_key, conversation_id in conversations.items():
                    pipe.set(f"omni:router:thread:{thread_key}", str(conversation_id), ex=7 * 86400)
                await pipe.execute()

    async def on_message(self, event: CloudEvent) -> None:
        from omni_schemas import MessageReceived

        m = event.data
        assert isinstance(m, MessageReceived)
        received = m.received_at
        touched: list[asyncpg.Record] = []
        async with self.pool.acquire() as conn, conn.transaction():
            if not await pg.mark_processed(conn, event.id):
                return
            events: list[CloudEvent] = []
            row = await pg.open_conversation_for_update(conn, m.thread_key)
            if row is not None:
                if not m.auto_reply:
                    events.append(
                        self.event(
                            C + "customer_replied.v1", self._conversation_data(row, message_id=str(m.message_id))
                        )
                    )
                cid = row["conversation_id"]
            elif m.auto_reply:
                cid = None
            else:
                cid, opened = await self._open_or_reopen(conn, m, received)
                events.extend(opened)
                touched.append(
                    await conn.fetchrow("select * from router_conversations where conversation_id = $1", cid)
                )
            await conn.execute(
                """insert into router_messages (message_id, conversation_id, thread_key, auto_reply, received_at)
                   values ($1, $2, $3, $4, $5) on conflict do nothing""",
                m.message_id,
                cid,
                m.thread_key,
                m.auto_reply,
                received,
            )
            await pg.add_outbox(conn, events)
        self.relay_soon()
        if touched:
            await self._cache_thread(m.thread_key, touched[0]["conversation_id"])
            await self.apply_rows((), touched)

    async def _open_or_reopen(
        self, conn: asyncpg.Connection, m: Any, received: datetime
    ) -> tuple[uuid.UUID, list[CloudEvent]]:
        now = datetime.now(UTC)
        window = self.config.reopen_window_s
        prev = await conn.fetchrow(
            """select * from router_conversations
                where thread_key = $1 and state = 'resolved' and resolved_at > $2
                order by resolved_at desc limit 1 for update""",
            m.thread_key,
            dt(self.clock() - window),
        )
        if prev is not None:
            row, events = await self._reopen(conn, prev, reopening_message=m)
            return row["conversation_id"], events
        customer_id = await pg.resolve_customer(conn, _identity_of(m), new_id=f"cust-{uuid.uuid4()}")
        last_agent = await pg.last_agent_of_customer(conn, customer_id)
        outcome = self.config.classify(
            Message(channel=m.channel.value, text=m.text, subject=m.subject, language=m.language, tier=m.tier)
        )
        cid = uuid.uuid4()
        row = await conn.fetchrow(
            """insert into router_conversations
                 (conversation_id, thread_key, customer_id, channel, state, queue, priority, skills, optional_skills,
                  language, tier, rule, last_agent_id, enqueued_at, opened_at, first_message_id)
               values ($1, $2, $3, $4, 'waiting', $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14)
               returning *""",
            cid,
            m.thread_key,
            customer_id,
            m.channel.value,
            outcome.queue,
            outcome.priority,
            dict(outcome.skills),
            dict(outcome.optional_skills),
            outcome.language,
            m.tier,
            outcome.rule,
            last_agent,
            now,
            m.message_id,
        )
        assert row is not None
        opened = self.event(
            C + "opened.v1",
            self._conversation_data(
                row,
                thread_key=m.thread_key,
                customer_id=customer_id,
                first_message_id=str(m.message_id),
                language=m.language,
            ),
        )
        queued = self.event(C + "queued.v1", self._conversation_data(row, rule=outcome.rule, widening_step=0))
        return cid, [opened, queued]

    async def _cache_thread(self, thread_key: str, conversation_id: uuid.UUID) -> None:
        client = self._redis()
        if client is None:
            return
        with contextlib.suppress(Exception):
            await client.set(f"omni:router:thread:{thread_key}", str(conversation_id), ex=7 * 86400)

    async def on_agent_event(self, event: CloudEvent) -> None:
        if event.source == self.publisher.source:
            return  # our own API published it after writing the row
        from omni_schemas import AgentPresenceChanged, AgentUpdated

        data = event.data
        async with self.pool.acquire() as conn, conn.transaction():
            if not await pg.mark_processed(conn, event.id):
                return
            if isinstance(data, AgentUpdated):
                await upsert_agent_row(
                    conn,
                    data.agent_id,
                    display_name=data.display_name,
                    skills=dict(data.skills),
                    languages=list(data.languages),
                    capacity={g.value: v for g, v in data.capacity.items()},
                )
            elif isinstance(data, AgentPresenceChanged):
                await conn.execute(
                    f"update router_agents set presence = $2, version = {pg._NEXT}, updated_at = now() where agent_id = $1",
                    data.agent_id,
                    data.status.value,
                )
        await self.refresh(agents=[data.agent_id])  # type: ignore[attr-defined]

    async def on_sla_warning(self, event: CloudEvent) -> None:
        from omni_schemas import SlaWarning

        data = event.data
        assert isinstance(data, SlaWarning)
        boost = self.config.sla_warning_priority_boost
        async with self.pool.acquire() as conn:
            row = await pg.update_conversation(
                conn,
                data.conversation_id,
                where="state = 'waiting'",
                sla_due_at=data.due_at,
            )
            if row is not None and boost:
                await conn.execute(
                    "update router_conversations set priority = least(100, priority + $2) where conversation_id = $1",
                    data.conversation_id,
                    boost,
                )
        if row is not None:
            await self.refresh(conversations=[data.conversation_id])


async def upsert_agent_row(
    conn: asyncpg.Connection,
    agent_id: str,
    *,
    display_name: str | None,
    skills: dict[str, int],
    languages: list[str],
    capacity: dict[str, int],
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""insert into router_agents (agent_id, display_name, skills, languages, cap_email, cap_chat, cap_sms, cap_social)
            values ($1, $2, $3, $4, $5, $6, $7, $8)
            on conflict (agent_id) do update set
              display_name = excluded.display_name, skills = excluded.skills, languages = excluded.languages,
              cap_email = excluded.cap_email, cap_chat = excluded.cap_chat, cap_sms = excluded.cap_sms,
              cap_social = excluded.cap_social, version = {pg._NEXT}, updated_at = now()
            returning *""",
        agent_id,
        display_name,
        skills,
        languages,
        capacity.get("email", 0),
        capacity.get("chat", 0),
        capacity.get("sms", 0),
        capacity.get("social", 0),
    )
    assert row is not None
    return row
