"""Scripted omni events with known outcomes, for tests, benchmarks and demos.

`Script` builds valid CloudEvents at chosen instants (seconds after `start`); `synthetic_stream`
yields a long, realistic stream of many short conversations for benchmarks.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from omni_schemas import CloudEvent, new_event

_C = "omni.conversation."
_CONVERSATION_DEFAULTS: dict[str, Any] = {
    "agent_id": None,
    "queue": None,
    "waited_seconds": None,
    "occurred_at": None,
    "to_queue": None,
    "to_agent_id": None,
}
SOURCE = "/omni/analytics-script"


def conversation_uuid(name: str) -> uuid.UUID:
    """A stable conversation id for a scripted name."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"omni-script:{name}")


class Script:
    """Builds events of scripted conversations and agents; `events` keeps them in creation order."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.events: list[CloudEvent] = []

    def at(self, seconds: float) -> datetime:
        return self.start + timedelta(seconds=seconds)

    def _emit(self, event_type: str, data: dict[str, Any], t: float) -> CloudEvent:
        event = new_event(event_type, data, source=SOURCE, time=self.at(t))
        self.events.append(event)
        return event

    def conv(self, kind: str, name: str, channel: str, t: float, **fields: Any) -> CloudEvent:
        data: dict[str, Any] = {"conversation_id": str(conversation_uuid(name)), "channel": channel, **fields}
        if kind == "opened":
            data.setdefault("thread_key", f"thread-{name}")
            data.setdefault("customer_id", f"customer-{name}")
            data.setdefault("first_message_id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"msg:{name}")))
        if kind in {"offered", "assigned"}:
            data.setdefault("reason", {"summary": "scripted", "strategy": "longest-idle", "candidates": 1})
        if kind == "offered":
            data.setdefault("offer_expires_at", self.at(t + 30).isoformat())
        if kind == "customer_replied":
            data.setdefault("message_id", str(uuid.uuid4()))
        return self._emit(f"{_C}{kind}.v1", data, t)

    def agent(self, agent_id: str, t: float, *, capacity: dict[str, int] | None = None) -> CloudEvent:
        return self._emit(
            "omni.agent.updated.v1",
            {"agent_id": agent_id, "display_name": agent_id, "capacity": capacity or {}},
            t,
        )

    def presence(self, agent_id: str, status: str, t: float) -> CloudEvent:
        return self._emit("omni.agent.presence_changed.v1", {"agent_id": agent_id, "status": status}, t)

    def sla(self, kind: str, name: str, metric: str, t: float, *, channel: str | None = None) -> CloudEvent:
        data: dict[str, Any] = {
            "conversation_id": str(conversation_uuid(name)),
            "policy": "scripted",
            "metric": metric,
            "due_at": self.at(t).isoformat(),
            "channel": channel,
        }
        if kind == "breached":
            data["breached_at"] = self.at(t).isoformat()
        elif kind == "met":
            data["met_at"] = self.at(t).isoformat()
            data["remaining_seconds"] = 1.0
        else:
            data["remaining_seconds"] = 10.0
        return self._emit(f"omni.sla.{kind}.v1", data, t)


CHANNELS = ("email", "chat", "sms", "messenger", "instagram", "whatsapp", "line", "x", "telegram")
QUEUES = ("general", "billing", "tech", "vip")


def synthetic_stream(
    count: int,
    *,
    start: datetime | None = None,
    open_at_once: int = 500,
    agents: int = 50,
    seed: int = 7,
    validate: bool = True,
) -> Iterator[CloudEvent]:
    """About `count` events of short conversations, at most `open_at_once` open at a time.

    With `validate=False` (benchmarks of the fold alone) the events are light stand-ins carrying
    the attributes the fold reads, built without pydantic's validation cost.
    """
    rng = random.Random(seed)
    start = start or datetime.now(UTC) - timedelta(hours=2)
    script = Script(start)
    t = 0.0
    for i in range(agents):
        script.agent(f"agent-{i}", t, capacity={"chat": 3, "email": 2})
        script.presence(f"agent-{i}", rng.choice(["available", "available", "busy", "away"]), t)
    yield from script.events
    produced = len(script.events)
    live: list[tuple[uuid.UUID, str, list[tuple[str, dict[str, Any]]]]] = []
    n = 0
    while produced < count:
        while len(live) < open_at_once:
            n += 1
            cid = conversation_uuid(f"syn-{seed}-{n}")
            channel = rng.choice(CHANNELS)
            queue = rng.choice(QUEUES)
            agent = f"agent-{rng.randrange(agents)}"
            steps: list[tuple[str, dict[str, Any]]] = [("opened", {}), ("queued", {"queue": queue})]
            if rng.random() < 0.1:
                steps.append(("abandoned", {}))
            else:
                steps += [("assigned", {"agent_id": agent}), ("agent_replied", {"agent_id": agent}), ("resolved", {})]
                if rng.random() < 0.3:
                    steps.append(("csat_submitted", {"score": rng.randint(1, 5)}))
            live.append((cid, channel, steps[::-1]))
        idx = rng.randrange(len(live))
        cid, channel, steps = live[idx]
        kind, fields = steps.pop()
        t += rng.random() * 0.5
        if validate:
            script.events.clear()
            yield script.conv(kind, str(cid), channel, t, **fields)
        else:
            yield cast(
                CloudEvent,
                SimpleNamespace(
                    id=uuid.UUID(int=rng.getrandbits(128)),
                    type=f"{_C}{kind}.v1",
                    time=start + timedelta(seconds=t),
                    data=SimpleNamespace(
                        **{**_CONVERSATION_DEFAULTS, "conversation_id": cid, "channel": channel, **fields}
                    ),
                ),
            )
        produced += 1
        if not steps:
            live[idx] = live[-1]
            live.pop()
