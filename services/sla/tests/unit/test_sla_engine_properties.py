"""Property tests of the SLA core driven like the service drives it, without servers.

`ShellModel` mirrors `handlers.SlaEngine` in memory: schema-valid conversation events go
through the Kafka wire form and `to_fact`, are applied under the offset check, timers are
replaced in a table and a `TimerWheel` with per-partition gates, and decisions land in an
outbox keyed like `sla_emitted` (slot 0 the warning, slot 1 the outcome; no warning after an
outcome). A restart drops the wheel and the gates, reloads the timers from the table and
redelivers the tail of each partition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from omni_schemas import CloudEvent, new_event, parse_event, to_record
from omni_schemas.examples import EXAMPLES
from omni_sla.domain.clocks import (
    Emission,
    Fact,
    Kind,
    Timer,
    TimerKey,
    apply,
    fire,
    pending_timers,
    state_from_dict,
    state_to_dict,
)
from omni_sla.domain.policies import Metric, SlaConfig, load_config
from omni_sla.handlers import to_fact
from omni_sla.timers import TimerWheel, pack_key, to_us, unpack

SETTLE_US = 200_000
CONVERSATION_TYPES = sorted(t for t in EXAMPLES if t.startswith("omni.conversation."))
CLOCK_TYPES = [
    f"omni.conversation.{f}.v1" for f in ("agent_replied", "customer_replied", "resolved", "reopened", "queued")
]
CONVERSATIONS = [UUID(int=0xC0FFEE00 + i) for i in range(3)]
PARTITION_OF = {c: i % 2 for i, c in enumerate(CONVERSATIONS)}
SLOT_OF = {Kind.WARNING: 0, Kind.BREACHED: 1, Kind.MET: 1}


def config(*, pause: bool) -> SlaConfig:
    return load_config(
        {
            "calendars": {
                "tokyo-office": {
                    "timezone": "Asia/Tokyo",
                    "holidays": "JP",
                    "hours": {d: "09:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")},
                    "closed": ["2026-12-31"],
                }
            },
            "policies": [
                {
                    "name": "billing-ja",
                    "match": {"queue": "billing-ja"},
                    "calendar": "tokyo-office",
                    "targets": {"first_response": "1h", "next_response": "2h", "resolution": "1d"},
                    "warn_before": "10m",
                    "pause_resolution_on_customer": True,
                },
                {
                    "name": "vip",
                    "match": {"tier": "vip"},
                    "targets": {"first_response": "30s", "resolution": "4h"},
                },
                {
                    "name": "chat-standard",
                    "match": {"channel": ["chat", "line", "sms"]},
                    "targets": {"first_response": "60s", "next_response": "2m", "resolution": "8h"},
                    "warn_at": 0.5,
                    "pause_resolution_on_customer": pause,
                },
            ],
        }
    )


CONFIGS = {pause: config(pause=pause) for pause in (False, True)}

# Tokyo office-hour edges around Japanese holidays, as UTC instants.
_JST = timezone(timedelta(hours=9))
ANCHORS = [
    datetime(2026, 11, 20, 9, 0, tzinfo=_JST),  # Fri before Labor Thanksgiving Day (Mon 23 Nov)
    datetime(2026, 11, 20, 17, 59, 30, tzinfo=_JST),
    datetime(2026, 11, 23, 12, 0, tzinfo=_JST),  # on the holiday
    datetime(2026, 12, 30, 17, 0, tzinfo=_JST),  # into the closed 31 Dec and New Year
    datetime(2026, 5, 1, 18, 0, tzinfo=_JST),  # into Golden Week, exactly at closing
    datetime(2026, 11, 24, 8, 59, 59, tzinfo=_JST),  # a second before opening
]
STEPS = [
    timedelta(0),
    timedelta(microseconds=1),
    timedelta(seconds=1),
    timedelta(seconds=29),
    timedelta(seconds=30),
    timedelta(seconds=60),
    timedelta(minutes=50),
    timedelta(hours=1),
    timedelta(hours=9),
    timedelta(days=1),
    timedelta(days=4),
]
FAR = [timedelta(days=-3650), timedelta(days=-1), timedelta(0), timedelta(days=1), timedelta(days=3650)]


@dataclass(frozen=True)
class Happen:
    conversation: int
    event_type: str
    queue: str | None
    tier: str | None
    step: timedelta
    """Ordered runs: the wall clock moves on by this much first; unordered runs: offset from the anchor."""
    far: timedelta = timedelta(0)
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class Redeliver:
    """The producer sent an earlier event again: same id, a new offset."""

    back: int


@dataclass(frozen=True)
class Tick:
    step: timedelta


@dataclass(frozen=True)
class Idle:
    """The consumer's fetch of a partition found nothing more: its gate moves to now."""

    partition: int


@dataclass(frozen=True)
class Restart:
    """Kill and start again: memory lost, the last `rewind` records of each partition read again."""

    rewind: int


Op = Happen | Redeliver | Tick | Idle | Restart


def happenings(*, ordered: bool) -> st.SearchStrategy[Happen]:
    occurred = st.none()
    far = st.just(timedelta(0))
    if not ordered:
        far = st.sampled_from(FAR)
        occurred = st.one_of(
            st.none(),
            st.datetimes(datetime(2016, 1, 1), datetime(2036, 12, 31), timezones=st.sampled_from([UTC, _JST])),
        )
    return st.builds(
        Happen,
        st.integers(0, len(CONVERSATIONS) - 1),
        st.one_of(st.sampled_from(CONVERSATION_TYPES), st.sampled_from(CLOCK_TYPES)),
        st.sampled_from([None, None, "billing-ja", "general"]),
        st.sampled_from([None, None, "vip"]),
        st.one_of(st.sampled_from(STEPS[:6]), st.sampled_from(STEPS)),
        far,
        occurred,
    )


def operations(*, ordered: bool) -> st.SearchStrategy[list[Op]]:
    op: st.SearchStrategy[Op] = st.one_of(
        happenings(ordered=ordered),
        happenings(ordered=ordered),
        happenings(ordered=ordered),
        st.builds(Redeliver, st.integers(1, 4)),
        st.builds(Tick, st.sampled_from(STEPS)),
        st.builds(Idle, st.integers(0, 1)),
        st.builds(Restart, st.integers(0, 5)),
    )
    return st.lists(op, max_size=30)


@dataclass
class Stored:
    partition: int
    last_offset: int
    state: dict[str, Any]


@dataclass
class ShellModel:
    """The service's shell in memory: the tables survive a restart, the wheel and gates do not."""

    cfg: SlaConfig
    now: datetime
    conversations: dict[UUID, Stored] = field(default_factory=dict)
    timers: dict[TimerKey, tuple[Timer, int]] = field(default_factory=dict)
    outbox: dict[tuple[UUID, Metric, int, int], Emission] = field(default_factory=dict)
    published: list[Emission] = field(default_factory=list)
    log: dict[int, list[bytes]] = field(default_factory=lambda: {0: [], 1: []})
    wheel: TimerWheel = field(default_factory=TimerWheel)
    gates: dict[int, int] = field(default_factory=lambda: {0: 0, 1: 0})
    fired: set[TimerKey] = field(default_factory=set)
    in_order: bool = True
    """Envelope times never go back and `occurred_at` is absent: a stop in time must be met."""
    violations: list[str] = field(default_factory=list)

    # --- the outbox -------------------------------------------------------------------
    def record(self, emission: Emission) -> None:
        key = emission.key
        slot = SLOT_OF[key.kind]
        if slot == 0 and (key.conversation_id, key.metric, key.cycle, 1) in self.outbox:
            return
        self.outbox.setdefault((key.conversation_id, key.metric, key.cycle, slot), emission)
        if self.outbox[(key.conversation_id, key.metric, key.cycle, slot)] is emission:
            self.published.append(emission)

    def outcome_of(self, key: TimerKey) -> Emission | None:
        return self.outbox.get((key.conversation_id, key.metric, key.cycle, 1))

    # --- the consumer -----------------------------------------------------------------
    def produce(self, event: CloudEvent) -> None:
        assert event.subject is not None
        partition = PARTITION_OF[UUID(event.subject)]
        self.log[partition].append(to_record(event).value)
        self.deliver(partition, len(self.log[partition]) - 1)

    def deliver(self, partition: int, offset: int) -> None:
        event = parse_event(self.log[partition][offset])
        self.apply(partition, offset, event)
        gate = to_us(event.time) - SETTLE_US
        if gate > self.gates[partition]:
            self.gates[partition] = gate

    def apply(self, partition: int, offset: int, event: CloudEvent) -> None:
        fact = to_fact(event)
        if fact is None:
            return
        stored = self.conversations.get(fact.conversation_id)
        if stored is not None and stored.partition == partition and offset <= stored.last_offset:
            return
        state = state_from_dict(stored.state) if stored is not None else None
        outcome = apply(state, fact, self.cfg)
        if outcome.state is None:
            return
        rescheduled = {t.key for t in outcome.schedule}
        # a re-match on queueing to a stricter target the clock has already used up breaches it at once,
        # before the old policy's due instant
        rematched: set[TimerKey] = set()
        if fact.fact is Fact.QUEUED and state is not None:
            before = {(c.metric, c.cycle): c for c in state.clocks}
            for c in outcome.state.clocks:
                old = before.get((c.metric, c.cycle))
                came_due = old is not None and old.due_at is not None and old.due_at <= fact.at
                if c.overdue and old is not None and not old.overdue and not came_due:
                    rematched.add(TimerKey(fact.conversation_id, c.metric, c.cycle, Kind.BREACHED))
        for key in outcome.cancel:
            pending = self.timers.get(key)
            if (
                self.in_order
                and key.kind is Kind.BREACHED
                and pending is not None
                and key not in rescheduled
                and key not in rematched
            ):
                self.check_stop(key, pending[0], fact.at, outcome.emit)
            self.timers.pop(key, None)
            self.wheel.cancel(pack_key(key, partition))
        for timer in outcome.schedule:
            self.timers[timer.key] = (timer, partition)
            self.wheel.add(pack_key(timer.key, partition), to_us(timer.due_at))
        for emission in outcome.emit:
            self.record(emission)
        self.conversations[fact.conversation_id] = Stored(partition, offset, state_to_dict(outcome.state))
        self.check_schedule(fact.conversation_id)

    def check_stop(self, key: TimerKey, pending: Timer, at: datetime, emitted: tuple[Emission, ...]) -> None:
        """A stretch of a clock ends at `at` while its breach is still pending."""
        outcome = self.outcome_of(key)
        if outcome is not None and outcome.key.kind is Kind.BREACHED and at < outcome.due_at:
            self.violations.append(f"{key} stopped at {at} but was breached at {outcome.due_at}")
        if at < pending.due_at and any(e.key.kind is Kind.BREACHED and e.key == key for e in emitted):
            self.violations.append(f"{key} stopped at {at} before its due {pending.due_at}; a breach was emitted")

    def check_schedule(self, conversation: UUID) -> None:
        """The timers kept incrementally are those a rebuild from the stored state wants, less the fired."""
        state = state_from_dict(self.conversations[conversation].state)
        wanted = {t.key: t for t in pending_timers(state)}
        kept = {k: t for k, (t, _) in self.timers.items() if k.conversation_id == conversation}
        for key, timer in kept.items():
            if wanted.get(key) != timer:
                self.violations.append(f"timer {key} kept as {timer}, the state wants {wanted.get(key)}")
        for key in wanted.keys() - kept.keys():
            if key not in self.fired:
                self.violations.append(f"the state wants timer {key}, none is pending and it never fired")

    # --- the fire loop ----------------------------------------------------------------
    def tick(self, *, gated: bool = True) -> None:
        due = self.wheel.pop_due(to_us(self.now), limit=10_000, gates=self.gates if gated else None)
        for packed, due_us in due:
            key = unpack(packed).key
            pending = self.timers.get(key)
            if pending is None or to_us(pending[0].due_at) != due_us:
                continue
            del self.timers[key]
            self.fired.add(key)
            self.record(fire(pending[0]))

    def restart(self, rewind: int) -> None:
        self.wheel = TimerWheel()
        self.gates = {0: 0, 1: 0}
        self.wheel.add_many((pack_key(k, part), to_us(t.due_at)) for k, (t, part) in self.timers.items())
        self.wheel.rebuild()
        for partition, records in self.log.items():
            for offset in range(max(0, len(records) - rewind), len(records)):
                self.deliver(partition, offset)


def event_of(h: Happen, at: datetime) -> CloudEvent:
    conversation = CONVERSATIONS[h.conversation]
    data = EXAMPLES[h.event_type] | {
        "conversation_id": str(conversation),
        "channel": "chat" if h.conversation != 2 else "line",
        "queue": h.queue,
        "tier": h.tier,
        "occurred_at": h.occurred_at.isoformat() if h.occurred_at else None,
    }
    return new_event(h.event_type, data, source="test/sla", time=at)


def opened(conversation: int, at: datetime) -> CloudEvent:
    return event_of(Happen(conversation, "omni.conversation.opened.v1", None, None, timedelta(0)), at)


def drive(ops: list[Op], *, anchor: datetime, pause: bool, ordered: bool) -> ShellModel:
    shell = ShellModel(CONFIGS[pause], anchor.astimezone(UTC), in_order=ordered)
    for i in range(len(CONVERSATIONS)):
        shell.produce(opened(i, shell.now))
    for op in ops:
        if isinstance(op, Happen):
            if ordered:
                shell.now += op.step
                at = shell.now
            else:
                at = anchor + op.far + op.step
            shell.produce(event_of(op, at))
        elif isinstance(op, Redeliver):
            records = shell.log[0]
            again = parse_event(records[max(0, len(records) - op.back)])
            if ordered:  # the copy is a new record: its envelope time must not go back
                shell.produce(again.model_copy(update={"time": max(again.time, shell.now)}))
            else:
                shell.produce(again)
        elif isinstance(op, Tick):
            shell.now += op.step
            shell.tick()
        elif isinstance(op, Idle):
            shell.gates[op.partition] = max(shell.gates[op.partition], to_us(shell.now) - SETTLE_US)
        else:
            shell.restart(op.rewind)
    return shell


def assert_every_decision_is_once_and_truthful(shell: ShellModel) -> None:
    assert shell.violations == []
    seen: dict[tuple[UUID, Metric, int], list[Kind]] = {}
    for e in shell.published:
        seen.setdefault((e.key.conversation_id, e.key.metric, e.key.cycle), []).append(e.key.kind)
        if e.key.kind is Kind.BREACHED:
            assert e.at == e.due_at
            assert e.remaining == timedelta(0)
        elif e.key.kind is Kind.MET:
            assert e.at < e.due_at
            assert e.remaining > timedelta(0)
        else:
            assert e.at < e.due_at
    for clock, kinds in seen.items():
        assert kinds in (
            [Kind.WARNING],
            [Kind.WARNING, Kind.BREACHED],
            [Kind.WARNING, Kind.MET],
            [Kind.BREACHED],
            [Kind.MET],
        ), (
            clock,
            kinds,
        )
    for (conversation, metric, cycle, slot), emission in shell.outbox.items():
        assert (emission.key.conversation_id, emission.key.metric, emission.key.cycle) == (conversation, metric, cycle)
        assert SLOT_OF[emission.key.kind] == slot


def assert_no_breach_is_lost(shell: ShellModel) -> None:
    """After the last tick, every clock that ran out has its breach; one that has none is not overdue."""
    shell.now = datetime(2100, 1, 1, tzinfo=UTC)
    shell.tick(gated=False)
    assert shell.violations == []
    for stored in shell.conversations.values():
        state = state_from_dict(stored.state)
        for clock in state.clocks:
            key = TimerKey(state.conversation_id, clock.metric, clock.cycle, Kind.BREACHED)
            if clock.overdue or (clock.running and clock.due_at is not None):
                outcome = shell.outcome_of(key)
                assert outcome is not None and outcome.key.kind is Kind.BREACHED, (clock, outcome)


@settings(max_examples=250, deadline=None)
@given(operations(ordered=True), st.sampled_from(ANCHORS), st.booleans())
def test_in_order_events_give_every_clock_one_true_outcome_across_restarts(
    ops: list[Op], anchor: datetime, pause: bool
) -> None:
    shell = drive(ops, anchor=anchor, pause=pause, ordered=True)
    assert_every_decision_is_once_and_truthful(shell)
    assert_no_breach_is_lost(shell)
    assert_every_decision_is_once_and_truthful(shell)


@settings(max_examples=150, deadline=None)
@given(operations(ordered=False), st.sampled_from(ANCHORS), st.booleans())
def test_any_schema_valid_history_decides_each_clock_at_most_once(ops: list[Op], anchor: datetime, pause: bool) -> None:
    shell = drive(ops, anchor=anchor, pause=pause, ordered=False)
    assert_every_decision_is_once_and_truthful(shell)
    shell.now = datetime(2100, 1, 1, tzinfo=UTC)
    shell.tick(gated=False)
    assert_every_decision_is_once_and_truthful(shell)
