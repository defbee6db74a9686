"""Composition root of the router: settings -> routing rules, stores, core -> consumer and the agent/admin API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, FastAPI
from pydantic import AfterValidator, BaseModel, Field

from omni_router.adapters import postgres as pg
from omni_router.customers import add_customer_routes
from omni_router.domain.classification import RoutingConfig, RoutingConfigError, parse_routing_config
from omni_router.domain.model import GROUPS, Presence, group_of
from omni_router.handlers import Router, RouterMetrics, upsert_agent_row
from omni_router.settings import Settings
from omni_schemas import AssignmentReason
from omni_schemas.topics import AGENTS, MESSAGES, SLA
from omni_service.db import migrate, repo_root
from omni_service.http import ApiError, bearer_token_checker
from omni_service.runtime import ServiceRuntime

DESCRIPTION = (
    "Owns conversations: opens them from omni.messages.v1, classifies them with config/routing.yaml, "
    "assigns them to agents by skill, language, load and availability (atomic claims across replicas), "
    "and publishes omni.conversations.v1. Also the agent and admin API (bearer token)."
)
C = "omni.conversation."


def read_routing_config(path_text: str) -> RoutingConfig:
    path = Path(path_text)
    if not path.is_absolute():
        path = repo_root() / path
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutingConfigError(f"{path}: cannot read the routing rules: {exc}") from exc
    return parse_routing_config(text, source=str(path))


Text = Annotated[str, AfterValidator(pg.storable_text)]
"""A string the router may store or compare in PostgreSQL: NUL or an unpaired surrogate is a 400, not a 500."""


class AgentBody(BaseModel):
    display_name: Text | None = Field(default=None, max_length=512)
    skills: dict[Text, Annotated[int, Field(ge=1, le=10)]] = Field(default_factory=dict)
    languages: list[Text] = Field(default_factory=list, max_length=50)
    capacity: dict[str, Annotated[int, Field(ge=0, le=1000)]] = Field(
        default_factory=dict, description="Slots per channel group: email, chat, sms, social."
    )


class PresenceBody(BaseModel):
    status: str = Field(description="available, busy, away or offline")


class AgentAction(BaseModel):
    agent_id: Text = Field(min_length=1, max_length=512)


class ReplyBody(AgentAction):
    text: Text = Field(min_length=1, max_length=64 * 1024)
    message_id: uuid.UUID | None = Field(
        default=None,
        description="Chosen by the client to make a retry safe: a reply with a message id already sent on this "
        "conversation answers as the first did and is not sent again. Without one, the router picks it.",
    )


class TransferBody(BaseModel):
    agent_id: Text | None = Field(default=None, description="The agent who holds it now (checked when given).")
    to_queue: Text | None = None
    to_agent_id: Text | None = None


class CsatBody(BaseModel):
    score: int = Field(ge=1, le=5)
    comment: Text | None = Field(default=None, max_length=4096)


class AbandonBody(BaseModel):
    reason: Text | None = Field(default=None, max_length=200)


def _agent_doc(row: asyncpg.Record, conversations: list[asyncpg.Record] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "agent_id": row["agent_id"],
        "display_name": row["display_name"],
        "skills": dict(row["skills"] or {}),
        "languages": list(row["languages"] or ()),
        "capacity": {g: row[pg.cap_col(g)] for g in GROUPS},
        "load": {g: row[pg.load_col(g)] for g in GROUPS},
        "status": row["presence"],
    }
    if conversations is not None:
        doc["conversations"] = [
            {"conversation_id": str(c["conversation_id"]), "state": c["state"], "channel": c["channel"]}
            for c in conversations
        ]
    return doc


def _conversation_doc(row: asyncpg.Record) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "conversation_id": str(row["conversation_id"]),
        "thread_key": row["thread_key"],
        "customer_id": row["customer_id"],
        "channel": row["channel"],
        "state": row["state"],
        "queue": row["queue"],
        "priority": row["priority"],
        "required_skills": dict(row["skills"] or {}),
        "optional_skills": dict(row["optional_skills"] or {}),
        "language": row["language"],
        "tier": row["tier"],
        "rule": row["rule"],
        "agent_id": row["agent_id"],
        "last_agent_id": row["last_agent_id"],
        "declined_by": list(row["declined"] or ()),
        "offer_expires_at": iso(row["offer_expires_at"]),
        "reason": row["reason"],
        "widening_step": row["widening_step"],
        "sla_due_at": iso(row["sla_due_at"]),
        "enqueued_at": iso(row["enqueued_at"]),
        "opened_at": iso(row["opened_at"]),
        "assigned_at": iso(row["assigned_at"]),
        "resolved_at": iso(row["resolved_at"]),
        "csat_score": row["csat_score"],
    }


def create_app(settings: Settings, *, config: RoutingConfig | None = None) -> FastAPI:
    """Build the service; `config` overrides the routing file (tests)."""
    if config is None:
        config = read_routing_config(settings.omni_routing_config)
    runtime = ServiceRuntime(settings, service="router", redis=True)
    state: dict[str, asyncpg.Pool | None] = {"pool": None}
    router = Router(
        config=config,
        pool=lambda: state["pool"],
        publisher=runtime.publisher,
        redis=lambda: runtime.redis,
        metrics=RouterMetrics(runtime.metrics.registry),
        tick_s=settings.router_tick_s,
        full_sync_s=settings.router_full_sync_s,
    )

    async def open_pool() -> None:
        pool = await asyncpg.create_pool(
            settings.database_url, min_size=1, max_size=10, command_timeout=30, init=pg.init_connection
        )
        assert pool is not None
        await migrate(pool, service="router", package="omni_router")
        state["pool"] = pool

        async def pg_ready() -> bool:
            return bool(await pool.fetchval("select 1") == 1)

        runtime.ready_checks["postgres"] = pg_ready
        await router.start()

    async def close_pool() -> None:
        await router.stop()
        pool = state["pool"]
        if pool is not None:
            await pool.close()

    runtime.on_startup.append(open_pool)
    runtime.on_shutdown.append(close_pool)
    runtime.ready_checks["routing"] = router.ready
    runtime.add_consumer(
        topics=[MESSAGES, AGENTS, SLA], group="omni.router", handler=router.on_event, flush=router.flush_messages
    )
    app = runtime.http_app(description=DESCRIPTION)
    app.state.router = router
    app.state.runtime = runtime
    auth = Depends(bearer_token_checker(settings.omni_api_token.get_secret_value()))

    def pool() -> asyncpg.Pool:
        p = state["pool"]
        if p is None:
            raise ApiError(503, "not_ready", "the router is starting")
        return p

    async def finish(*, conversations: list[Any] = (), agents: list[str] = ()) -> None:  # type: ignore[assignment]
        router.relay_soon()
        await router.refresh(conversations=conversations, agents=agents)

    def conversation_data(row: asyncpg.Record, **extra: Any) -> dict[str, Any]:
        return router._conversation_data(row, **extra)

    async def locked_conversation(conn: asyncpg.Connection, conversation_id: uuid.UUID) -> asyncpg.Record:
        row = await pg.conversation_for_update(conn, conversation_id)
        if row is None:
            raise ApiError(404, "unknown_conversation", f"no conversation {conversation_id}")
        return row

    def require_offered(row: asyncpg.Record, agent_id: str) -> None:
        if row["state"] != "offered" or row["agent_id"] != agent_id:
            raise ApiError(409, "not_offered", f"conversation {row['conversation_id']} is not offered to {agent_id}")

    async def known_agent(conn: asyncpg.Connection, agent_id: str) -> asyncpg.Record:
        row = await conn.fetchrow("select * from router_agents where agent_id = $1", agent_id)
        if row is None:
            raise ApiError(404, "unknown_agent", f"no agent {agent_id!r}; create it with PUT /v1/agents/{agent_id}")
        return row

    add_customer_routes(app, pool=pool, auth=auth)

    # --- agents --------------------------------------------------------------------------

    @app.put("/v1/agents/{agent_id}", tags=["agents"], summary="Create or update an agent", dependencies=[auth])
    async def put_agent(agent_id: Text, body: AgentBody) -> dict[str, Any]:
        unknown = sorted(set(body.capacity) - set(GROUPS))
        if unknown:
            raise ApiError(400, "invalid_capacity", f"unknown channel group(s) {unknown}; use {list(GROUPS)}")
        if not agent_id or len(agent_id) > 512:
            raise ApiError(400, "invalid_agent_id", "agent id must be 1-512 characters")
        async with pool().acquire() as conn, conn.transaction():
            row = await upsert_agent_row(
                conn,
                agent_id,
                display_name=body.display_name,
                skills=dict(body.skills),
                languages=list(body.languages),
                capacity=dict(body.capacity),
            )
            event = router.event(
                "omni.agent.updated.v1",
                {
                    "agent_id": agent_id,
                    "display_name": body.display_name,
                    "skills": dict(body.skills),
                    "languages": list(body.languages),
                    "capacity": dict(body.capacity),
                },
            )
            await pg.add_outbox(conn, [event])
        await finish(agents=[agent_id])
        return _agent_doc(row)

    @app.get("/v1/agents/{agent_id}", tags=["agents"], summary="An agent with its current load", dependencies=[auth])
    async def get_agent(agent_id: Text) -> dict[str, Any]:
        async with pool().acquire() as conn:
            row = await known_agent(conn, agent_id)
            held = await conn.fetch(
                """select conversation_id, state, channel from router_conversations
                    where agent_id = $1 and state in ('offered', 'assigned') order by assigned_at nulls last""",
                agent_id,
            )
        return _agent_doc(row, list(held))

    @app.put("/v1/agents/{agent_id}/presence", tags=["agents"], summary="Set presence", dependencies=[auth])
    async def put_presence(agent_id: Text, body: PresenceBody) -> dict[str, Any]:
        try:
            status = Presence(body.status)
        except ValueError:
            raise ApiError(
                400, "invalid_presence", f"status must be one of {[p.value for p in Presence]}, got {body.status!r}"
            ) from None
        async with pool().acquire() as conn, conn.transaction():
            before = await conn.fetchrow("select * from router_agents where agent_id = $1 for update", agent_id)
            if before is None:
                raise ApiError(404, "unknown_agent", f"no agent {agent_id!r}")
            row = await conn.fetchrow(
                f"""update router_agents set presence = $2, version = {pg._NEXT}, updated_at = now()
                     where agent_id = $1 returning *""",
                agent_id,
                status.value,
            )
            await pg.add_outbox(
                conn,
                [
                    router.event(
                        "omni.agent.presence_changed.v1",
                        {"agent_id": agent_id, "status": status.value, "previous_status": before["presence"]},
                    )
                ],
            )
        await finish(agents=[agent_id])
        return _agent_doc(row)

    # --- conversations -----------------------------------------------------------------------

    @app.get(
        "/v1/conversations/{conversation_id}", tags=["conversations"], summary="A conversation", dependencies=[auth]
    )
    async def get_conversation(conversation_id: uuid.UUID) -> dict[str, Any]:
        row = await pool().fetchrow("select * from router_conversations where conversation_id = $1", conversation_id)
        if row is None:
            raise ApiError(404, "unknown_conversation", f"no conversation {conversation_id}")
        return _conversation_doc(row)

    @app.post(
        "/v1/conversations/{conversation_id}/accept",
        tags=["conversations"],
        summary="Accept an offer",
        dependencies=[auth],
    )
    async def accept(conversation_id: uuid.UUID, body: AgentAction) -> dict[str, Any]:
        async with pool().acquire() as conn, conn.transaction():
            row = await locked_conversation(conn, conversation_id)
            if row["state"] == "assigned" and row["agent_id"] == body.agent_id:
                return _conversation_doc(row)  # a retry (or it came by transfer): it is this agent's already
            require_offered(row, body.agent_id)
            row = await pg.update_conversation(
                conn, conversation_id, state="assigned", offer_expires_at=None, assigned_at=datetime.now(UTC)
            )
            assert row is not None
            await conn.execute(
                "insert into router_assignments (conversation_id, agent_id, kind, reason) values ($1, $2, 'accepted', $3)",
                conversation_id,
                body.agent_id,
                row["reason"],
            )
            reason = row["reason"] or AssignmentReason(summary="accepted offer", strategy="offer").model_dump(
                mode="json"
            )
            waited = max(0.0, datetime.now(UTC).timestamp() - row["enqueued_at"].timestamp())
            await pg.add_outbox(
                conn, [router.event(C + "assigned.v1", conversation_data(row, reason=reason, waited_seconds=waited))]
            )
        await finish(conversations=[conversation_id])
        return _conversation_doc(row)

    @app.post(
        "/v1/conversations/{conversation_id}/decline",
        tags=["conversations"],
        summary="Decline an offer",
        dependencies=[auth],
    )
    async def decline(conversation_id: uuid.UUID, body: AgentAction) -> dict[str, Any]:
        async with pool().acquire() as conn, conn.transaction():
            row = await locked_conversation(conn, conversation_id)
            if (
                body.agent_id in (row["declined"] or ())
                and await pg.last_assignment_kind(conn, conversation_id, body.agent_id) == "declined"
            ):
                return _conversation_doc(row)  # a retry: this agent's decline is done (and published) already
            require_offered(row, body.agent_id)
            row = await pg.update_conversation(
                conn,
                conversation_id,
                state="waiting",
                agent_id=None,
                offer_expires_at=None,
                declined=[*(row["declined"] or ()), body.agent_id],
            )
            assert row is not None
            await pg.release_agent_slot(conn, body.agent_id, group_of(row["channel"]))
            await conn.execute(
                "insert into router_assignments (conversation_id, agent_id, kind) values ($1, $2, 'declined')",
                conversation_id,
                body.agent_id,
            )
            await pg.add_outbox(
                conn,
                [
                    router.event(C + "offer_declined.v1", conversation_data(row, agent_id=body.agent_id)),
                    router.event(
                        C + "queued.v1", conversation_data(row, rule=row["rule"], widening_step=row["widening_step"])
                    ),
                ],
            )
        await finish(conversations=[conversation_id], agents=[body.agent_id])
        return _conversation_doc(row)

    def require_assigned(row: asyncpg.Record, agent_id: str | None) -> None:
        if row["state"] != "assigned":
            raise ApiError(
                409, "not_assigned", f"conversation {row['conversation_id']} is {row['state']}, not assigned"
            )
        if agent_id is not None and row["agent_id"] != agent_id:
            raise ApiError(
                409,
                "not_assigned",
                f"conversation {row['conversation_id']} is assigned to another agent, not {agent_id}",
            )

    @app.post(
        "/v1/conversations/{conversation_id}/reply",
        tags=["conversations"],
        summary="The agent replies",
        dependencies=[auth],
    )
    async def reply(conversation_id: uuid.UUID, body: ReplyBody) -> dict[str, Any]:
        message_id = body.message_id or uuid.uuid4()
        async with pool().acquire() as conn, conn.transaction():
            row = await locked_conversation(conn, conversation_id)
            if body.message_id is not None:
                sent_on = await pg.reply_sent_on(conn, body.message_id)
                if sent_on == conversation_id:  # a retry: sent already, answer as the first time did
                    return {"conversation_id": str(conversation_id), "message_id": str(message_id)}
                if sent_on is not None:
                    raise ApiError(
                        409, "message_id_reused", f"message {message_id} was sent on another conversation, {sent_on}"
                    )
            require_assigned(row, body.agent_id)
            if body.message_id is not None and not await pg.record_reply(
                conn, body.message_id, conversation_id=conversation_id, agent_id=body.agent_id
            ):
                raise ApiError(409, "message_id_reused", f"message {message_id} was sent on another conversation")
            await pg.add_outbox(
                conn,
                [
                    router.event(
                        C + "agent_replied.v1",
                        conversation_data(row, message_id=str(message_id), text=body.text),
                    )
                ],
            )
        router.relay_soon()
        return {"conversation_id": str(conversation_id), "message_id": str(message_id)}

    @app.post(
        "/v1/conversations/{conversation_id}/resolve", tags=["conversations"], summary="Resolve", dependencies=[auth]
    )
    async def resolve(conversation_id: uuid.UUID, body: AgentAction) -> dict[str, Any]:
        async with pool().acquire() as conn, conn.transaction():
            row = await locked_conversation(conn, conversation_id)
            if row["state"] == "resolved" and row["agent_id"] == body.agent_id:
                return _conversation_doc(row)  # a retry: this agent resolved it already
            require_assigned(row, body.agent_id)
            row = await pg.update_conversation(conn, conversation_id, state="resolved", resolved_at=datetime.now(UTC))
            assert row is not None
            await pg.release_agent_slot(conn, body.agent_id, group_of(row["channel"]))
            await conn.execute(
                "insert into router_assignments (conversation_id, agent_id, kind) values ($1, $2, 'resolved')",
                conversation_id,
                body.agent_id,
            )
            await pg.add_outbox(conn, [router.event(C + "resolved.v1", conversation_data(row))])
        await finish(conversations=[conversation_id], agents=[body.agent_id])
        return _conversation_doc(row)

    @app.post(
        "/v1/conversations/{conversation_id}/transfer",
        tags=["conversations"],
        summary="Transfer to a queue or to an agent",
        dependencies=[auth],
    )
    async def transfer(conversation_id: uuid.UUID, body: TransferBody) -> dict[str, Any]:
        if (body.to_queue is None) == (body.to_agent_id is None):
            raise ApiError(400, "invalid_transfer", "give exactly one of to_queue or to_agent_id")
        if body.to_queue is not None and body.to_queue not in config.queues:
            raise ApiError(400, "unknown_queue", f"no queue {body.to_queue!r}; queues: {sorted(config.queues)}")
        agents_touched: list[str] = []
        async with pool().acquire() as conn, conn.transaction():
            row = await locked_conversation(conn, conversation_id)
            if row["state"] not in ("waiting", "assigned"):
                raise ApiError(409, "not_transferable", f"conversation {conversation_id} is {row['state']}")
            # an agent's own transfer (agent_id given) needs it held by that agent: a retry, or a desktop
            # that missed a change, must not move a conversation that is no longer theirs
            if body.agent_id is not None and (row["state"] != "assigned" or row["agent_id"] != body.agent_id):
                raise ApiError(
                    409, "not_assigned", f"conversation {conversation_id} is not assigned to {body.agent_id}"
                )
            from_agent = row["agent_id"] if row["state"] == "assigned" else None
            group = group_of(row["channel"])
            events = []
            if body.to_agent_id is not None:
                target = await known_agent(conn, body.to_agent_id)
                if target["agent_id"] == from_agent:
                    raise ApiError(
                        409, "already_assigned", f"conversation {conversation_id} is already with {from_agent}"
                    )
                # both agent rows in id order, as every claim locks them, so two crossing transfers cannot deadlock
                await conn.execute(
                    "select 1 from router_agents where agent_id = any($1::text[]) order by agent_id for update",
                    [a for a in (body.to_agent_id, from_agent) if a is not None],
                )
                claimed = await conn.fetchrow(
                    f"""update router_agents set {pg.load_col(group)} = {pg.load_col(group)} + 1,
                               version = {pg._NEXT}, updated_at = now()
                         where agent_id = $1 and {pg.load_col(group)} < {pg.cap_col(group)} returning *""",
                    body.to_agent_id,
                )
                if claimed is None:
                    raise ApiError(409, "capacity_exceeded", f"agent {body.to_agent_id} has no spare {group} slot")
                if claimed["presence"] == "offline":  # nobody would see it; its clocks would run out unseen
                    raise ApiError(
                        409,
                        "agent_offline",
                        f"agent {body.to_agent_id} is offline; transfer to a queue or to a signed-in agent",
                    )
                if from_agent is not None:
                    await pg.release_agent_slot(conn, from_agent, group)
                reason = AssignmentReason(
                    summary=f"transferred to {body.to_agent_id} by request", strategy="transfer", rule=row["rule"]
                ).model_dump(mode="json")
                row = await pg.update_conversation(
                    conn,
                    conversation_id,
                    state="assigned",
                    agent_id=body.to_agent_id,
                    last_agent_id=from_agent or row["last_agent_id"],
                    reason=reason,
                    assigned_at=datetime.now(UTC),
                )
                assert row is not None
                events = [
                    router.event(
                        C + "transferred.v1",
                        conversation_data(row, from_agent_id=from_agent, to_agent_id=body.to_agent_id),
                    ),
                    router.event(C + "assigned.v1", conversation_data(row, reason=reason)),
                ]
                agents_touched.append(body.to_agent_id)
            else:
                assert body.to_queue is not None
                if from_agent is not None:
                    await pg.release_agent_slot(conn, from_agent, group)
                spec = config.queues[body.to_queue]
                row = await pg.update_conversation(
                    conn,
                    conversation_id,
                    state="waiting",
                    agent_id=None,
                    queue=body.to_queue,
                    skills=dict(spec.skills),
                    optional_skills={},
                    last_agent_id=None,
                    declined=[*(row["declined"] or ()), *([from_agent] if from_agent else [])],
                    widening_step=0,
                    enqueued_at=datetime.now(UTC),
                )
                assert row is not None
                events = [
                    router.event(
                        C + "transferred.v1",
                        conversation_data(row, from_agent_id=from_agent, to_queue=body.to_queue),
                    ),
                    router.event(C + "queued.v1", conversation_data(row, rule="transfer", widening_step=0)),
                ]
            if from_agent is not None:
                agents_touched.append(from_agent)
                await conn.execute(
                    "insert into router_assignments (conversation_id, agent_id, kind) values ($1, $2, 'transferred')",
                    conversation_id,
                    from_agent,
                )
            await pg.add_outbox(conn, events)
        await finish(conversations=[conversation_id], agents=agents_touched)
        return _conversation_doc(row)

    @app.post(
        "/v1/conversations/{conversation_id}/csat", tags=["conversations"], summary="Record CSAT", dependencies=[auth]
    )
    async def csat(conversation_id: uuid.UUID, body: CsatBody) -> dict[str, Any]:
        async with pool().acquire() as conn, conn.transaction():
            row = await locked_conversation(conn, conversation_id)
            row = await pg.update_conversation(conn, conversation_id, csat_score=body.score)
            assert row is not None
            await pg.add_outbox(
                conn,
                [router.event(C + "csat_submitted.v1", conversation_data(row, score=body.score, comment=body.comment))],
            )
        router.relay_soon()
        return _conversation_doc(row)

    @app.post(
        "/v1/conversations/by-thread/{thread_key:path}/abandon",
        tags=["conversations"],
        summary="The customer left: abandon the thread's open conversation unless an agent has it",
        dependencies=[auth],
    )
    async def abandon(thread_key: Text, body: AbandonBody | None = None) -> dict[str, Any]:
        # the path arrives percent-decoded already: decoding it again would change a key with a % in it
        async with pool().acquire() as conn, conn.transaction():
            row = await pg.open_conversation_for_update(conn, thread_key)
            if row is None:
                raise ApiError(404, "unknown_conversation", f"no open conversation for thread {thread_key!r}")
            if row["state"] == "assigned":
                raise ApiError(409, "already_assigned", f"conversation {row['conversation_id']} is with an agent")
            agent = row["agent_id"]
            if row["state"] == "offered" and agent is not None:
                await pg.release_agent_slot(conn, agent, group_of(row["channel"]))
            waited = max(0.0, datetime.now(UTC).timestamp() - row["enqueued_at"].timestamp())
            row = await pg.update_conversation(
                conn,
                row["conversation_id"],
                state="abandoned",
                agent_id=None,
                offer_expires_at=None,
                resolved_at=datetime.now(UTC),
            )
            assert row is not None
            await pg.add_outbox(conn, [router.event(C + "abandoned.v1", conversation_data(row, waited_seconds=waited))])
        await finish(conversations=[row["conversation_id"]], agents=[agent] if agent else [])
        return {"abandoned": True, "conversation_id": str(row["conversation_id"])}

    @app.get("/v1/queues", tags=["queues"], summary="Every queue with its waiting conversations", dependencies=[auth])
    async def queues() -> dict[str, Any]:
        rows = await pool().fetch(
            """select queue, channel, count(*) as depth, min(enqueued_at) as oldest
                 from router_conversations where state = 'waiting' group by queue, channel"""
        )
        now = datetime.now(UTC)
        out: dict[str, dict[str, Any]] = {
            name: {
                "queue": name,
                "strategy": spec.strategy.value,
                "offer_timeout_seconds": spec.offer_timeout_s,
                "overflow_to": spec.overflow_to,
                "waiting": 0,
                "oldest_wait_seconds": 0.0,
                "by_channel": {},
            }
            for name, spec in config.queues.items()
        }
        for r in rows:
            q = out.setdefault(
                r["queue"], {"queue": r["queue"], "waiting": 0, "oldest_wait_seconds": 0.0, "by_channel": {}}
            )
            wait = max(0.0, (now - r["oldest"]).total_seconds())
            q["waiting"] += r["depth"]
            q["oldest_wait_seconds"] = max(q["oldest_wait_seconds"], wait)
            q["by_channel"][r["channel"]] = {"waiting": r["depth"], "oldest_wait_seconds": wait}
        return {"default_queue": config.default_queue, "queues": sorted(out.values(), key=lambda q: q["queue"])}

    return app
