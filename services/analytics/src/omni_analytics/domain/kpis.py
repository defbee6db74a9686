"""KPI state folded from omni events: queues, agents, counters, histograms and rolling windows.

`KpiState.apply(event, now=...)` folds one event; `KpiState.view(now)` reads the gauges.
Definitions and formulas: docs/kpis.md. Properties the fold keeps:

- Idempotent on the CloudEvents `id`: each conversation remembers the ids of its own events
  (conversation and SLA topics, up to `conversation_ids`) for as long as it is open or among the
  `closed_conversations` most recently closed; agent and message events, and SLA events of a
  conversation not seen yet, go through a FIFO of the last `recent_ids` ids. A redelivery comes
  from the uncommitted tail of a partition or a producer retry, far inside both.
- Memory is bounded by open conversations, agents and the `closed_conversations` most recently
  closed ones (kept so that late CSAT, SLA and reopen events find their conversation), never by
  events seen: counters and histograms are per channel, windows are time buckets.
- Order across partitions is not guaranteed (agents, SLA and conversations are different
  topics). A state transition older than the last one applied to the same conversation or agent
  is counted but does not move the state back, so no gauge goes negative or sticks.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, cast
from uuid import UUID

from omni_analytics.domain.histogram import HistogramCounts
from omni_analytics.domain.ids import BoundedIdSet
from omni_analytics.domain.window import (
    ABANDONED,
    ANSWERED,
    ANSWERED_IN_SL,
    CSAT_COUNT,
    CSAT_SUM,
    FCR,
    RESOLVED_FIRST,
    SLA_FIELD,
    SLA_METRICS,
    RollingWindow,
    WindowTotals,
)
from omni_schemas import CloudEvent, MessageReceived

PRESENCES = ("available", "busy", "away", "offline")
LOGGED_IN = frozenset({"available", "busy", "away"})
UNKNOWN_CHANNEL = "unknown"
DEFAULT_QUEUE = "default"
HISTOGRAMS = ("time_to_assign", "first_response", "handle", "resolution")
_NEG_INF = float("-inf")
_C = "omni.conversation."
_SLA_BREACHED = "omni.sla.breached.v1"
_ID_MASK = (1 << 62) - 1  # the idempotency memory keeps 62 bits of each event id
_SLA_MET = "omni.sla.met.v1"
_SLA_COUNTED = frozenset({_SLA_BREACHED, _SLA_MET})


@dataclass(frozen=True, slots=True)
class KpiConfig:
    """How the fold measures: window length, service-level thresholds, memory bounds."""

    window_s: float = 3600.0
    service_level_s: Mapping[str, float] = field(default_factory=dict)
    """Queue -> answer threshold in seconds (a conversation answered within it is in service level)."""
    default_service_level_s: float = 60.0
    conversation_ids: int = 256
    closed_conversations: int = 20_000
    recent_ids: int = 100_000
    sla_channel_wait_s: float = 300.0
    """How long an SLA event without a channel waits for its conversation before it counts as `unknown`."""
    pending_sla: int = 10_000

    def threshold(self, queue: str | None) -> float:
        if queue is not None and queue in self.service_level_s:
            return float(self.service_level_s[queue])
        return self.default_service_level_s


@dataclass(slots=True)
class Conversation:
    channel: str
    seen: dict[int, None]
    """Ids of this conversation's events (insertion-ordered, the oldest forgotten past the cap)."""
    queue: str | None = None
    opened_at: float | None = None
    cycle_start: float | None = None
    wait_start: float | None = None
    wait_key: tuple[str, str] | None = None
    handle_start: float | None = None
    agent_id: str | None = None
    responded: bool = False
    status_t: float = _NEG_INF
    closed: bool = False
    reopened: bool = False
    transferred: bool = False
    first_resolved: bool = False
    fcr_bucket: int | None = None
    csat_bucket: int | None = None
    csat_score: int = 0


@dataclass(slots=True)
class Agent:
    status: str | None = None
    status_t: float = _NEG_INF
    capacity: int = 0
    load: int = 0
    known: bool = False


@dataclass(frozen=True, slots=True)
class KpiView:
    """The gauges at one instant; ratios appear only for channels with a non-zero denominator."""

    queue_depth: dict[tuple[str, str], int]
    oldest_wait_s: dict[tuple[str, str], float]
    agents: dict[str, int]
    occupancy: float | None
    service_level: dict[str, float]
    abandonment: dict[str, float]
    fcr: dict[str, float]
    csat: dict[str, float]
    sla_breach: dict[tuple[str, str], float]
    """(SLA metric, channel) -> breached / (breached + met) of the clocks stopped in the window."""
    window: dict[str, WindowTotals]


def event_time(event: CloudEvent) -> float:
    """When it happened: `data.occurred_at` if the producer set it, else the envelope `time`."""
    occurred: datetime | None = getattr(event.data, "occurred_at", None)
    return (occurred or event.time).timestamp()


def _str(value: Any) -> str:
    """The text of an enum member (its value) or of a plain value."""
    if isinstance(value, Enum):  # `_value_` is what the `value` property returns, without its descriptor cost
        return str(value._value_)
    return str(getattr(value, "value", value))


class KpiState:
    """The whole KPI state of one analytics process; fold events in with `apply`."""

    def __init__(self, config: KpiConfig | None = None) -> None:
        self.config = config or KpiConfig()
        self.open: dict[int, Conversation] = {}
        self.closed: OrderedDict[int, Conversation] = OrderedDict()
        self.waiting: dict[tuple[str, str], dict[int, float]] = {}
        self.agents: dict[str, Agent] = {}
        self.opened: dict[str, int] = {}
        self.assigned: dict[str, int] = {}
        self.resolved: dict[str, int] = {}
        self.abandoned: dict[str, int] = {}
        self.messages: dict[str, int] = {}
        self.sla_breaches: dict[tuple[str, str], int] = {}
        self.sla_met: dict[tuple[str, str], int] = {}
        self.histograms: dict[str, dict[str, HistogramCounts]] = {name: {} for name in HISTOGRAMS}
        self.window = RollingWindow(self.config.window_s)
        self._thresholds = dict(self.config.service_level_s)
        self._default_threshold = self.config.default_service_level_s
        self._conversation_ids = self.config.conversation_ids
        self.recent = BoundedIdSet(self.config.recent_ids)
        self.pending_sla: OrderedDict[int, list[tuple[str, str, float, int]]] = OrderedDict()
        """Conversation -> SLA events (type, metric, event time, id) waiting to learn its channel."""
        self.duplicates = 0
        self.applied = 0
        self._handlers: dict[str, Callable[[Conversation, int, Any, float, float], None]] = {
            _C + "opened.v1": self._opened,
            _C + "queued.v1": self._queued,
            _C + "assigned.v1": self._assigned,
            _C + "agent_replied.v1": self._agent_replied,
            _C + "transferred.v1": self._transferred,
            _C + "resolved.v1": self._resolved,
            _C + "reopened.v1": self._reopened,
            _C + "abandoned.v1": self._abandoned,
            _C + "csat_submitted.v1": self._csat,
            _C + "customer_replied.v1": self._no_change,
            _C + "offered.v1": self._no_change,
            _C + "offer_declined.v1": self._no_change,
            _C + "offer_expired.v1": self._no_change,
        }

    # --- folding -------------------------------------------------------------------

    def apply(self, event: CloudEvent, *, now: float) -> bool:
        """Fold one event; False when it is a redelivery (already applied) and was ignored."""
        etype = event.type
        sid = event.id.int & _ID_MASK
        handler = self._handlers.get(etype)
        if handler is None:
            return self._apply_other(event, etype, sid, now)
        # conversation events, most of the stream: inlined for speed
        data: Any = event.data
        cid: int = data.conversation_id.int
        conv = self.open.get(cid)
        if conv is None:
            conv = self.closed.get(cid)
        if conv is None:
            conv = self._new_conversation(cid, data, now)
        elif sid in conv.seen:
            self.duplicates += 1
            return False
        seen = conv.seen
        seen[sid] = None
        if len(seen) > self._conversation_ids:
            del seen[next(iter(seen))]
        queue = data.queue
        if queue and conv.queue is None:
            conv.queue = queue
        occurred = data.occurred_at
        handler(conv, cid, data, (occurred or event.time).timestamp(), now)
        self.applied = applied = self.applied + 1
        if applied % 10_000 == 0:
            self._housekeeping(now)
        return True

    def _apply_other(self, event: CloudEvent, etype: str, sid: int, now: float) -> bool:
        """`apply` for the events other than a conversation's own: SLA, agents, messages."""
        if etype.startswith("omni.sla."):
            applied = self._sla_event(event, sid, now)
        elif etype.startswith("omni.agent."):
            applied = self._agent_event(event, sid)
        elif etype == "omni.message.received.v1":
            applied = self.recent.add(sid)
            if applied:
                ch = _str(cast(MessageReceived, event.data).channel)
                self.messages[ch] = self.messages.get(ch, 0) + 1
        else:
            return True  # dead letters and unknown types carry no KPI
        if applied:
            self.applied += 1
            if self.applied % 10_000 == 0:
                self._housekeeping(now)
        else:
            self.duplicates += 1
        return applied

    def _housekeeping(self, now: float) -> None:
        """Every 10,000 events: drop the window's old buckets, count the SLA events that waited long enough."""
        self.window.prune(now)
        self.flush_pending_sla(now)

    def _no_change(self, conv: Conversation, cid: int, data: Any, t: float, now: float) -> None:
        """Offers and customer replies move no KPI (the wait goes on)."""

    def _lookup(self, cid: int) -> Conversation | None:
        conv = self.open.get(cid)
        return conv if conv is not None else self.closed.get(cid)

    def _new_conversation(self, cid: int, data: Any, now: float) -> Conversation:
        conv = Conversation(_str(data.channel), {})
        self.open[cid] = conv
        if self.pending_sla:
            pending = self.pending_sla.pop(cid, None)
            if pending:  # SLA events that came first: count them now, remember their ids here
                self._count_pending(pending, conv.channel, now)
                for item in pending:
                    conv.seen[item[3]] = None
        return conv

    @staticmethod
    def _inc(counter: dict[str, int], channel: str) -> None:
        counter[channel] = counter.get(channel, 0) + 1

    def _observe(self, name: str, channel: str, seconds: float) -> None:
        per = self.histograms[name]
        hist = per.get(channel)
        if hist is None:
            hist = per[channel] = HistogramCounts()
        if seconds < 0.0:  # skewed clocks never make a negative duration
            seconds = 0.0
        hist.counts[bisect_left(hist.bounds, seconds)] += 1
        hist.sum += seconds
        hist.count += 1

    def _fresh(self, conv: Conversation, t: float) -> bool:
        """True (and the conversation's clock advanced) when `t` is not older than its last transition."""
        if t < conv.status_t:
            return False
        conv.status_t = t
        return True

    def _start_wait(self, conv: Conversation, cid: int, queue: str | None, t: float) -> None:
        key = (queue or conv.queue or DEFAULT_QUEUE, conv.channel)
        wait_key = conv.wait_key
        if wait_key == key:
            return
        if wait_key is not None:
            self.waiting[wait_key].pop(cid, None)  # moved between queues: the wait goes on
        else:
            conv.wait_start = t
        conv.wait_key = key
        members = self.waiting.get(key)
        if members is None:
            members = self.waiting[key] = {}
        members[cid] = conv.wait_start if conv.wait_start is not None else t

    def _stop_wait(self, conv: Conversation, cid: int) -> None:
        if conv.wait_key is not None:
            self.waiting[conv.wait_key].pop(cid, None)
            conv.wait_key = None
            conv.wait_start = None

    def _take(self, conv: Conversation, agent_id: str) -> None:
        if conv.agent_id == agent_id:
            return
        if conv.agent_id is not None:
            self._release(conv)
        agent = self.agents.get(agent_id)
        if agent is None:
            agent = self.agents[agent_id] = Agent()
        agent.load += 1
        conv.agent_id = agent_id

    def _release(self, conv: Conversation) -> None:
        if conv.agent_id is None:
            return
        agent = self.agents.get(conv.agent_id)
        if agent is not None:
            load = agent.load - 1
            agent.load = load = load if load > 0 else 0
            if load == 0 and not agent.known:
                del self.agents[conv.agent_id]
        conv.agent_id = None

    def _close(self, conv: Conversation, cid: int) -> None:
        conv.closed = True
        self.open.pop(cid, None)
        closed = self.closed
        closed[cid] = conv
        closed.move_to_end(cid)
        while len(closed) > self.config.closed_conversations:
            closed.popitem(last=False)

    def _revive(self, conv: Conversation, cid: int) -> None:
        """A transition later than the close: the conversation is evidently live again."""
        if conv.closed:
            conv.closed = False
            self.closed.pop(cid, None)
            self.open[cid] = conv

    def _opened(self, conv: Conversation, cid: int, data: Any, t: float, now: float) -> None:
        counts = self.opened
        channel = conv.channel
        counts[channel] = counts.get(channel, 0) + 1
        if conv.opened_at is None or t < conv.opened_at:
            conv.opened_at = t
        if conv.cycle_start is None or (not conv.reopened and t < conv.cycle_start):
            conv.cycle_start = t
        if t >= conv.status_t:
            conv.status_t = t

    def _queued(self, conv: Conversation, cid: int, data: Any, t: float, now: float) -> None:
        queue = data.queue
        if queue:
            conv.queue = queue
        if t >= conv.status_t:
            conv.status_t = t
            if conv.closed:
                self._revive(conv, cid)
            if conv.cycle_start is None:
                conv.cycle_start = t
            self._start_wait(conv, cid, queue, t)

    def _assigned(self, conv: Conversation, cid: int, data: Any, t: float, now: float) -> None:
        channel = conv.channel
        counts = self.assigned
        counts[channel] = counts.get(channel, 0) + 1
        fresh = t >= conv.status_t
        wait: float | None = None
        queue = data.queue or conv.queue
        if fresh:
            conv.status_t = t
            if conv.closed:
                self._revive(conv, cid)
            wait_key = conv.wait_key
            if wait_key is not None and conv.wait_start is not None:
                wait = t - conv.wait_start
                if not wait > 0.0:  # as max(0.0, wait), without the call
                    wait = 0.0
                queue = wait_key[0]
                self._stop_wait(conv, cid)
        if wait is None and data.waited_seconds is not None:
            wait = float(data.waited_seconds)
        if wait is not None:
            self._answer(channel, queue, wait, t, now)
        if fresh:
            self._take(conv, data.agent_id)
            if conv.handle_start is None:
                conv.handle_start = t

    def _answer(self, channel: str, queue: str | None, wait: float, t: float, now: float) -> None:
        """A wait ended by an agent taking the conversation: ASA and service level."""
        self._observe("time_to_assign", channel, wait)
        threshold = self._thresholds.get(queue, self._default_threshold) if queue else self._default_threshold
        self.window.add(channel, t, now, ANSWERED, 1, ANSWERED_IN_SL, 1 if wait <= threshold else 0)

    def _agent_replied(self, conv: Conversation, cid: int, data: Any, t: float, now: float) -> None:
        if not conv.responded:
            conv.responded = True
            if conv.opened_at is not None:
                self._observe("first_response", conv.channel, t - conv.opened_at)

    def _transferred(self, conv: Conversation, cid: int, data: Any, t: float, now: float) -> None:
        conv.transferred = True
        if not self._fresh(conv, t):
            return
        self._revive(conv, cid)
        if data.to_queue:
            self._release(conv)
            conv.queue = data.to_queue
            self._start_wait(conv, cid, data.to_queue, t)
        elif data.to_agent_id:
            if conv.wait_key is not None and conv.wait_start is not None:
                # handed straight from the queue to an agent: answered here, as the router's
                # `assigned.v1` that follows a transfer carries no wait
                self._answer(conv.channel, conv.wait_key[0], max(0.0, t - conv.wait_start), t, now)
            self._stop_wait(conv, cid)
            self._take(conv, data.to_agent_id)

    def _resolved(self, conv: Conversation, cid: int, data: Any, t: float, now: float) -> None:
        channel = conv.channel
        counts = self.resolved
        counts[channel] = counts.get(channel, 0) + 1
        if conv.cycle_start is not None:
            self._observe("resolution", channel, t - conv.cycle_start)
        if conv.handle_start is not None:
            self._observe("handle", channel, t - conv.handle_start)
        if not conv.first_resolved:
            conv.first_resolved = True
            fcr = 0 if (conv.transferred or conv.reopened) else 1
            bucket = self.window.add(channel, t, now, RESOLVED_FIRST, 1, FCR, fcr)
            if fcr and bucket is not None:
                conv.fcr_bucket = bucket
        if self._fresh(conv, t):
            if conv.wait_key is not None:
                self._stop_wait(conv, cid)
            if conv.agent_id is not None:
                self._release(conv)
            conv.handle_start = None
            self._close(conv, cid)

    def _reopened(self, conv: Conversation, cid: int, data: Any, t: float, now: float) -> None:
        conv.reopened = True
        if conv.fcr_bucket is not None:
            self.window.retract(conv.channel, conv.fcr_bucket, now, FCR, 1)
            conv.fcr_bucket = None
        if self._fresh(conv, t):
            conv.cycle_start = t
            conv.handle_start = None
            self._revive(conv, cid)

    def _abandoned(self, conv: Conversation, cid: int, data: Any, t: float, now: float) -> None:
        self._inc(self.abandoned, conv.channel)
        self.window.add(conv.channel, t, now, ABANDONED, 1)
        if self._fresh(conv, t):
            self._stop_wait(conv, cid)
            self._release(conv)
            self._close(conv, cid)

    def _csat(self, conv: Conversation, cid: int, data: Any, t: float, now: float) -> None:
        if conv.csat_bucket is not None:  # one rating per conversation: the latest replaces the earlier
            self.window.retract(conv.channel, conv.csat_bucket, now, CSAT_SUM, conv.csat_score, CSAT_COUNT, 1)
        conv.csat_bucket = self.window.add(conv.channel, t, now, CSAT_SUM, data.score, CSAT_COUNT, 1)
        conv.csat_score = data.score
        if conv.status_t == _NEG_INF and not conv.closed:
            # known from this rating alone (closed before this process's memory of it): keep it
            # with the recently closed, not as an open conversation nothing would ever close
            self._close(conv, cid)

    def _sla_event(self, event: CloudEvent, sid: int, now: float) -> bool:
        data: Any = event.data
        cid: int = data.conversation_id.int
        conv = self._lookup(cid)
        if conv is not None and sid in conv.seen:
            return False
        if not self.recent.add(sid):
            return False
        metric = _str(data.metric)
        if conv is not None:
            conv.seen[sid] = None
            if event.type in _SLA_COUNTED:
                channel = _str(data.channel) if data.channel is not None else conv.channel
                self._count_sla(event.type, metric, channel, event.time.timestamp(), now)
        elif data.channel is not None:
            if event.type in _SLA_COUNTED:
                self._count_sla(event.type, metric, _str(data.channel), event.time.timestamp(), now)
        else:  # the conversation's own events are on another topic and may come later
            self.pending_sla.setdefault(cid, []).append((event.type, metric, event.time.timestamp(), sid))
            while len(self.pending_sla) > self.config.pending_sla:
                _, oldest = self.pending_sla.popitem(last=False)
                self._count_pending(oldest, UNKNOWN_CHANNEL, now)
        return True

    def _count_pending(self, items: list[tuple[str, str, float, int]], channel: str, now: float) -> None:
        for kind, metric, t, _ in items:
            if kind in _SLA_COUNTED:
                self._count_sla(kind, metric, channel, t, now)

    def _count_sla(self, kind: str, metric: str, channel: str, t: float, now: float) -> None:
        breached = kind == _SLA_BREACHED
        counter = self.sla_breaches if breached else self.sla_met
        key = (metric, channel)
        counter[key] = counter.get(key, 0) + 1
        field = SLA_FIELD.get(("breached" if breached else "met", metric))
        if field is not None:
            self.window.add(channel, t, now, field, 1)

    def flush_pending_sla(self, now: float) -> None:
        """Count as channel `unknown` the SLA outcomes whose conversation did not show up in time."""
        horizon = now - self.config.sla_channel_wait_s
        for cid in [c for c, items in self.pending_sla.items() if max(item[2] for item in items) <= horizon]:
            self._count_pending(self.pending_sla.pop(cid), UNKNOWN_CHANNEL, now)

    def _agent_event(self, event: CloudEvent, sid: int) -> bool:
        if not self.recent.add(sid):
            return False
        data: Any = event.data
        agent = self.agents.get(data.agent_id)
        if agent is None:
            agent = self.agents[data.agent_id] = Agent()
        agent.known = True
        if event.type == "omni.agent.updated.v1":
            agent.capacity = sum(int(v) for v in data.capacity.values())
        elif event.type == "omni.agent.presence_changed.v1":
            t = event.time.timestamp()
            if t >= agent.status_t:
                agent.status = _str(data.status)
                agent.status_t = t
        return True

    # --- reading -------------------------------------------------------------------

    def view(self, now: float) -> KpiView:
        """Every gauge at `now` (seconds since the epoch)."""
        depth: dict[tuple[str, str], int] = {}
        oldest: dict[tuple[str, str], float] = {}
        for key, members in self.waiting.items():
            depth[key] = len(members)
            oldest[key] = max(0.0, now - min(members.values())) if members else 0.0
        agents = dict.fromkeys(PRESENCES, 0)
        load = capacity = 0
        for agent in self.agents.values():
            if not agent.known:
                continue
            status = agent.status or "offline"
            agents[status] = agents.get(status, 0) + 1
            if status in LOGGED_IN:
                load += agent.load
                capacity += agent.capacity
        self.window.prune(now)
        self.flush_pending_sla(now)
        totals = self.window.totals(now)
        sl: dict[str, float] = {}
        ab: dict[str, float] = {}
        fcr: dict[str, float] = {}
        csat: dict[str, float] = {}
        sla_breach: dict[tuple[str, str], float] = {}
        for channel, w in totals.items():
            offered = w.answered + w.abandoned
            if offered:
                sl[channel] = w.answered_in_sl / offered
                ab[channel] = w.abandoned / offered
            if w.resolved_first:
                fcr[channel] = w.fcr / w.resolved_first
            if w.csat_count:
                csat[channel] = w.csat_sum / w.csat_count
            values = w.to_list()
            for metric in SLA_METRICS:
                breached = values[SLA_FIELD[("breached", metric)]]
                stopped = breached + values[SLA_FIELD[("met", metric)]]
                if stopped:
                    sla_breach[(metric, channel)] = breached / stopped
        return KpiView(
            queue_depth=depth,
            oldest_wait_s=oldest,
            agents=agents,
            occupancy=load / capacity if capacity else None,
            service_level=sl,
            abandonment=ab,
            fcr=fcr,
            csat=csat,
            sla_breach=sla_breach,
            window=totals,
        )

    # --- persistence ---------------------------------------------------------------

    def to_dict(self, now: float) -> dict[str, Any]:
        """A JSON-able snapshot; `KpiState.from_dict` gives back an equal state."""
        self.window.prune(now)

        def conv_row(cid: int, c: Conversation) -> list[Any]:
            return [
                str(UUID(int=cid)),
                c.channel,
                list(c.seen),
                c.queue,
                c.opened_at,
                c.cycle_start,
                c.wait_start,
                list(c.wait_key) if c.wait_key else None,
                c.handle_start,
                c.agent_id,
                c.responded,
                c.status_t if c.status_t != _NEG_INF else None,
                c.closed,
                c.reopened,
                c.transferred,
                c.first_resolved,
                c.fcr_bucket,
                c.csat_bucket,
                c.csat_score,
            ]

        return {
            "version": 1,
            "open": [conv_row(cid, c) for cid, c in self.open.items()],
            "closed": [conv_row(cid, c) for cid, c in self.closed.items()],
            "queues": [list(key) for key in self.waiting],
            "agents": [
                [a_id, a.status, a.status_t if a.status_t != _NEG_INF else None, a.capacity, a.load, a.known]
                for a_id, a in self.agents.items()
            ],
            "counters": {
                "opened": self.opened,
                "assigned": self.assigned,
                "resolved": self.resolved,
                "abandoned": self.abandoned,
                "messages": self.messages,
            },
            "sla_breaches": [[m, ch, n] for (m, ch), n in self.sla_breaches.items()],
            "sla_met": [[m, ch, n] for (m, ch), n in self.sla_met.items()],
            "pending_sla": [
                [str(UUID(int=cid)), [list(item) for item in items]] for cid, items in self.pending_sla.items()
            ],
            "histograms": {name: {ch: h.to_dict() for ch, h in per.items()} for name, per in self.histograms.items()},
            "window": self.window.to_dict(),
            "recent": self.recent.to_list(),
            "duplicates": self.duplicates,
            "applied": self.applied,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any], config: KpiConfig | None = None) -> KpiState:
        state = cls(config)
        cap = state.config.conversation_ids

        def conv_of(row: list[Any]) -> tuple[int, Conversation]:
            (cid, channel, seen, queue, opened_at, cycle_start, wait_start, wait_key, handle_start, agent_id) = row[:10]
            (responded, status_t, closed, reopened, transferred, first_resolved) = row[10:16]
            fcr_bucket, csat_bucket, csat_score = row[16:19]
            return UUID(cid).int, Conversation(
                channel=channel,
                seen=dict.fromkeys(seen[-cap:]),
                queue=queue,
                opened_at=opened_at,
                cycle_start=cycle_start,
                wait_start=wait_start,
                wait_key=(wait_key[0], wait_key[1]) if wait_key else None,
                handle_start=handle_start,
                agent_id=agent_id,
                responded=responded,
                status_t=_NEG_INF if status_t is None else status_t,
                closed=closed,
                reopened=reopened,
                transferred=transferred,
                first_resolved=first_resolved,
                fcr_bucket=fcr_bucket,
                csat_bucket=csat_bucket,
                csat_score=csat_score,
            )

        for queue, channel in doc.get("queues", []):
            state.waiting[(queue, channel)] = {}
        for row in doc.get("open", []):
            cid, conv = conv_of(row)
            state.open[cid] = conv
            if conv.wait_key is not None and conv.wait_start is not None:
                state.waiting.setdefault(conv.wait_key, {})[cid] = conv.wait_start
        for row in doc.get("closed", []):
            cid, conv = conv_of(row)
            state.closed[cid] = conv
        while len(state.closed) > state.config.closed_conversations:
            state.closed.popitem(last=False)
        for a_id, status, status_t, capacity, load, known in doc.get("agents", []):
            state.agents[a_id] = Agent(status, _NEG_INF if status_t is None else status_t, capacity, load, known)
        counters = doc.get("counters", {})
        for name in ("opened", "assigned", "resolved", "abandoned", "messages"):
            getattr(state, name).update({k: int(v) for k, v in counters.get(name, {}).items()})
        state.sla_breaches = {(m, ch): int(n) for m, ch, n in doc.get("sla_breaches", [])}
        state.sla_met = {(m, ch): int(n) for m, ch, n in doc.get("sla_met", [])}
        for cid, items in doc.get("pending_sla", []):
            state.pending_sla[UUID(cid).int] = [(k, m, float(t), int(i)) for k, m, t, i in items]
        for name, per in doc.get("histograms", {}).items():
            if name in state.histograms:
                state.histograms[name] = {ch: HistogramCounts.from_dict(h) for ch, h in per.items()}
        state.window.load(doc.get("window", {}))
        state.recent = BoundedIdSet(state.config.recent_ids, doc.get("recent", []))
        state.duplicates = int(doc.get("duplicates", 0))
        state.applied = int(doc.get("applied", 0))
        return state
