"""Composition root of the SLA service: settings -> config, runtime, engine -> consumer and routes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import orjson
from fastapi import FastAPI

from omni_schemas.topics import CONVERSATIONS, SLA
from omni_service.db import repo_root
from omni_service.http import ApiError
from omni_service.runtime import ServiceRuntime
from omni_sla.adapters.config_file import read_sla_config, resolve_path
from omni_sla.domain.clocks import state_from_dict
from omni_sla.domain.policies import SlaConfig
from omni_sla.handlers import SlaEngine, SlaMetrics
from omni_sla.settings import Settings

DESCRIPTION = (
    "SLA clocks (first response, next response, resolution) in business hours. Consumes "
    "omni.conversations.v1 and publishes omni.sla.warning.v1, omni.sla.breached.v1 and omni.sla.met.v1 "
    "on omni.sla.v1, each once per conversation, metric, cycle and kind."
)


def create_app(
    settings: Settings,
    *,
    config: SlaConfig | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """Build the service; `config` and `clock` are overrides for tests."""
    if config is None:
        config = read_sla_config(resolve_path(settings.omni_sla_config, root=repo_root()))
    runtime = ServiceRuntime(settings, service="sla", postgres=True, migrations="omni_sla")
    engine = SlaEngine(
        config=config,
        pool=lambda: runtime.pool,
        publisher=runtime.publisher,
        metrics=SlaMetrics(runtime.metrics.registry),
        bootstrap=settings.kafka_bootstrap_servers,
        sla_topic=settings.topic(SLA),
        clock=clock or (lambda: datetime.now(UTC)),
        fire_batch=settings.sla_fire_batch,
        settle=timedelta(milliseconds=settings.sla_settle_ms),
    )
    runtime.on_startup.append(engine.start)
    runtime.on_shutdown.append(engine.stop)
    runtime.ready_checks["timers"] = engine.ready
    runtime.add_consumer(
        topics=[CONVERSATIONS],
        group="sla",
        handler=engine.on_conversation,
        on_assigned=engine.on_assigned,
        on_revoked=engine.on_revoked,
        on_progress=engine.on_progress,
        poll_timeout_ms=100,
    )
    app = runtime.http_app(description=DESCRIPTION)
    app.state.engine = engine
    app.state.runtime = runtime

    @app.get(
        "/v1/sla/conversations/{conversation_id}",
        tags=["sla"],
        summary="The SLA clocks and pending timers of one conversation",
    )
    async def conversation_clocks(conversation_id: UUID) -> dict[str, Any]:
        pool = engine.pool
        row = await pool.fetchrow("select state from sla_conversations where conversation_id = $1", conversation_id)
        if row is None:
            raise ApiError(404, "not_found", f"no SLA clocks for conversation {conversation_id}")
        timers = await pool.fetch(
            """select metric, cycle, kind, due_at, clock_due_at from sla_timers
               where conversation_id = $1 order by due_at""",
            conversation_id,
        )
        emitted = await pool.fetch(
            """select metric, cycle, kind, event_id, created_at, published_at from sla_emitted
               where conversation_id = $1 order by created_at""",
            conversation_id,
        )
        state = state_from_dict(orjson.loads(row["state"]))
        metrics = ("first_response", "next_response", "resolution")
        return {
            "conversation_id": str(conversation_id),
            "policy": state.policy,
            "status": state.status.value,
            "cycle": state.cycle,
            "clocks": [
                {
                    "metric": c.metric.value,
                    "cycle": c.cycle,
                    "target_seconds": c.target.total_seconds(),
                    "elapsed_seconds_before_running": c.elapsed.total_seconds(),
                    "running": c.running,
                    "due_at": c.due_at,
                    "warn_at": c.warn_due_at,
                }
                for c in state.clocks
            ],
            "pending_timers": [
                {
                    "metric": metrics[t["metric"]],
                    "cycle": t["cycle"],
                    "kind": ("warning", "breached")[t["kind"]],
                    "due_at": t["due_at"],
                }
                for t in timers
            ],
            "emitted": [
                {
                    "metric": metrics[e["metric"]],
                    "cycle": e["cycle"],
                    "kind": e["kind"],
                    "event_id": str(e["event_id"]),
                    "published": e["published_at"] is not None,
                    "created_at": e["created_at"],
                    "published_at": e["published_at"],
                }
                for e in emitted
            ],
        }

    return app
