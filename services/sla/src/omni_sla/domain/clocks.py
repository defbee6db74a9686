"""The SLA clocks of one conversation, as a pure state machine.

- first response: from opened to the first agent reply;
- next response: from each customer reply that follows an agent reply to the next agent reply;
- resolution: from opened (or reopened) to resolved, paused while waiting on the customer
  when the policy says so;
- a reopen starts a new cycle (a new resolution clock and a next-response clock); a
  transfer changes nothing.

`apply` takes the state, one conversation fact and the config, and returns the new state,
the timers to schedule (a warning and a breach per running clock), the timers to cancel and
what to emit now. Everything is keyed by (conversation, metric, cycle, kind), so the shell
can make each emission happen once. Anything that came due by the fact's time (a warning or
breach passed while the service was away) is emitted with its true due instant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from omni_sla.domain.business_hours import BusinessCalendar, add_business_time, business_time_between
from omni_sla.domain.policies import Metric, Policy, SlaConfig

_ZERO = timedelta(0)


class Kind(StrEnum):
    WARNING = "warning"
    BREACHED = "breached"
    MET = "met"


class Fact(StrEnum):
    OPENED = "opened"
    CUSTOMER_REPLIED = "customer_replied"
    QUEUED = "queued"
    ASSIGNED = "assigned"
    AGENT_REPLIED = "agent_replied"
    TRANSFERRED = "transferred"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    ABANDONED = "abandoned"
    OTHER = "other"


class Status(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    ABANDONED = "abandoned"


@dataclass(frozen=True, slots=True)
class ConversationFact:
    """What happened to a conversation, at which instant, with its routing attributes."""

    fact: Fact
    conversation_id: UUID
    at: datetime
    channel: str | None = None
    queue: str | None = None
    priority: int | None = None
    tier: str | None = None


@dataclass(frozen=True, slots=True, order=True)
class TimerKey:
    """The idempotency key of a warning, breach or met decision."""

    conversation_id: UUID
    metric: Metric
    cycle: int
    kind: Kind


@dataclass(frozen=True, slots=True)
class Timer:
    """A warning or breach due at `due_at`; `clock_due_at` is the clock's breach instant."""

    key: TimerKey
    due_at: datetime
    clock_due_at: datetime
    remaining: timedelta


@dataclass(frozen=True, slots=True)
class Emission:
    """A decision to publish: `at` is the warning instant, the breach instant or when the clock was met."""

    key: TimerKey
    due_at: datetime
    at: datetime
    remaining: timedelta


@dataclass(frozen=True, slots=True)
class Clock:
    metric: Metric
    cycle: int
    target: timedelta
    warn_after: timedelta | None
    elapsed: timedelta = _ZERO
    """Business time spent before `running_since` (in earlier running stretches)."""
    running_since: datetime | None = None
    due_at: datetime | None = None
    warn_due_at: datetime | None = None

    @property
    def running(self) -> bool:
        return self.running_since is not None

    @property
    def overdue(self) -> bool:
        """Breached during an earlier running stretch."""
        return self.elapsed >= self.target


@dataclass(frozen=True, slots=True)
class ConversationClocks:
    conversation_id: UUID
    policy: str | None
    channel: str | None = None
    queue: str | None = None
    priority: int | None = None
    tier: str | None = None
    cycle: int = 1
    next_response_cycle: int = 0
    status: Status = Status.OPEN
    waiting_on: str = "agent"
    clocks: tuple[Clock, ...] = ()
    opened_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    state: ConversationClocks | None
    schedule: tuple[Timer, ...] = ()
    cancel: tuple[TimerKey, ...] = ()
    emit: tuple[Emission, ...] = ()
    reason: str = ""


def fire(timer: Timer) -> Emission:
    """The emission of a timer that came due."""
    return Emission(timer.key, timer.clock_due_at, timer.due_at, timer.remaining)


# --- clock steps --------------------------------------------------------------------------


def _run(clock: Clock, since: datetime, calendar: BusinessCalendar | None) -> Clock:
    due = add_business_time(since, max(clock.target - clock.elapsed, _ZERO), calendar)
    warn = None
    if clock.warn_after is not None and clock.warn_after > clock.elapsed:
        warn = add_business_time(since, clock.warn_after - clock.elapsed, calendar)
    return replace(clock, running_since=since, due_at=due, warn_due_at=warn)


def _start(metric: Metric, cycle: int, at: datetime, policy: Policy) -> Clock | None:
    target = policy.targets.get(metric)
    if target is None:
        return None
    return _run(Clock(metric, cycle, target, policy.warn_after(metric)), at, policy.calendar)


def _key(state: ConversationClocks, clock: Clock, kind: Kind) -> TimerKey:
    return TimerKey(state.conversation_id, clock.metric, clock.cycle, kind)


def _timers(state: ConversationClocks, clock: Clock) -> list[Timer]:
    if not clock.running or clock.overdue or clock.due_at is None:
        return []
    timers = []
    if clock.warn_due_at is not None and clock.warn_after is not None:
        timers.append(
            Timer(_key(state, clock, Kind.WARNING), clock.warn_due_at, clock.due_at, clock.target - clock.warn_after)
        )
    timers.append(Timer(_key(state, clock, Kind.BREACHED), clock.due_at, clock.due_at, _ZERO))
    return timers


def _cancels(state: ConversationClocks, clock: Clock) -> list[TimerKey]:
    return [_key(state, clock, Kind.WARNING), _key(state, clock, Kind.BREACHED)]


def _passed(state: ConversationClocks, clock: Clock, at: datetime) -> list[Emission]:
    """Warnings and breaches of a running clock that came due by `at`."""
    if not clock.running or clock.overdue or clock.due_at is None:
        return []
    out = []
    if clock.warn_due_at is not None and clock.warn_after is not None and at >= clock.warn_due_at:
        out.append(
            Emission(_key(state, clock, Kind.WARNING), clock.due_at, clock.warn_due_at, clock.target - clock.warn_after)
        )
    if at >= clock.due_at:
        out.append(Emission(_key(state, clock, Kind.BREACHED), clock.due_at, clock.due_at, _ZERO))
    return out


def _stop(
    state: ConversationClocks, clock: Clock, at: datetime, calendar: BusinessCalendar | None, *, met: bool
) -> tuple[list[Emission], list[TimerKey]]:
    """Stop a clock at `at`: what came due by then, and `met` if it stopped in time and `met` is wanted."""
    if clock.running_since is not None:
        at = max(at, clock.running_since)
    emissions = _passed(state, clock, at)
    if met and not clock.overdue:
        if clock.running and clock.due_at is not None and at < clock.due_at:
            emissions.append(
                Emission(
                    _key(state, clock, Kind.MET), clock.due_at, at, business_time_between(at, clock.due_at, calendar)
                )
            )
        elif not clock.running:
            left = clock.target - clock.elapsed
            emissions.append(Emission(_key(state, clock, Kind.MET), add_business_time(at, left, calendar), at, left))
    return emissions, _cancels(state, clock)


def _pause(
    state: ConversationClocks,
    clock: Clock,
    at: datetime,
    calendar: BusinessCalendar | None,
) -> tuple[Clock, list[Emission], list[TimerKey]]:
    if clock.running_since is None:
        return clock, [], []
    at = max(at, clock.running_since)
    emissions = _passed(state, clock, at)
    spent = clock.elapsed + business_time_between(clock.running_since, at, calendar)
    paused = replace(clock, elapsed=spent, running_since=None, due_at=None, warn_due_at=None)
    return paused, emissions, _cancels(state, clock)


# --- the state machine ---------------------------------------------------------------------


def _policy_of(state: ConversationClocks, config: SlaConfig) -> Policy | None:
    return config.by_name.get(state.policy) if state.policy else None


def _attributes(state: ConversationClocks, fact: ConversationFact) -> ConversationClocks:
    return replace(
        state,
        channel=fact.channel or state.channel,
        queue=fact.queue if fact.queue is not None else state.queue,
        priority=fact.priority if fact.priority is not None else state.priority,
        tier=fact.tier if fact.tier is not None else state.tier,
    )


class _Builder:
    """Collects what one fact does to the clocks."""

    def __init__(self, state: ConversationClocks, calendar: BusinessCalendar | None) -> None:
        self.state = state
        self.calendar = calendar
        self.kept: list[Clock] = []
        self.emit: list[Emission] = []
        self.cancel: list[TimerKey] = []
        self.schedule: list[Timer] = []

    def stop(self, clock: Clock, at: datetime, *, met: bool) -> None:
        emissions, cancels = _stop(self.state, clock, at, self.calendar, met=met)
        self.emit += emissions
        self.cancel += cancels

    def pause(self, clock: Clock, at: datetime) -> None:
        paused, emissions, cancels = _pause(self.state, clock, at, self.calendar)
        self.emit += emissions
        self.cancel += cancels
        self.kept.append(paused)

    def keep(self, clock: Clock) -> None:
        self.kept.append(clock)

    def run(self, clock: Clock | None) -> None:
        if clock is not None:
            self.kept.append(clock)
            self.schedule += _timers(self.state, clock)

    def outcome(self, state: ConversationClocks, reason: str) -> Outcome:
        final = replace(state, clocks=tuple(sorted(self.kept, key=lambda c: (list(Metric).index(c.metric), c.cycle))))
        return Outcome(final, tuple(self.schedule), tuple(self.cancel), tuple(self.emit), reason)


def apply(state: ConversationClocks | None, fact: ConversationFact, config: SlaConfig) -> Outcome:
    """What one conversation fact does to the clocks. Pure: time comes from `fact.at`."""
    if fact.fact is Fact.OPENED:
        if state is not None:
            return Outcome(state, reason="already opened; ignored")
        return _opened(fact, config)
    if state is None:
        return Outcome(None, reason=f"{fact.fact.value} of a conversation never seen opened; no clocks")
    state = _attributes(state, fact)
    policy = _policy_of(state, config)
    if policy is None:
        return Outcome(state, reason="no policy applies")
    handler = _HANDLERS.get(fact.fact)
    if handler is None:
        return Outcome(state, reason=f"{fact.fact.value} does not move clocks")
    return handler(state, fact, policy, config)


def _opened(fact: ConversationFact, config: SlaConfig) -> Outcome:
    choice = config.match(channel=fact.channel, queue=fact.queue, priority=fact.priority, tier=fact.tier)
    state = ConversationClocks(
        fact.conversation_id,
        choice.policy.name if choice else None,
        fact.channel,
        fact.queue,
        fact.priority,
        fact.tier,
        opened_at=fact.at,
    )
    if choice is None:
        return Outcome(state, reason="no policy matches")
    b = _Builder(state, choice.policy.calendar)
    b.run(_start(Metric.FIRST_RESPONSE, 1, fact.at, choice.policy))
    b.run(_start(Metric.RESOLUTION, 1, fact.at, choice.policy))
    return b.outcome(state, choice.reason)


def _queued(state: ConversationClocks, fact: ConversationFact, policy: Policy, config: SlaConfig) -> Outcome:
    """Queueing classifies the conversation: a different policy may now match; clocks keep their start."""
    if state.status is not Status.OPEN:
        return Outcome(state, reason="not open")
    choice = config.match(channel=state.channel, queue=state.queue, priority=state.priority, tier=state.tier)
    if choice is None or choice.policy.name == policy.name:
        return Outcome(state, reason="policy unchanged")
    new = choice.policy
    state = replace(state, policy=new.name)
    b = _Builder(state, new.calendar)
    for clock in state.clocks:
        target = new.targets.get(clock.metric)
        if target is None:
            b.stop(clock, fact.at, met=False)
            continue
        # what came due under the old policy stays decided, as with every other fact
        passed = _passed(state, clock, max(fact.at, clock.running_since or fact.at))
        b.emit += passed
        b.cancel += _cancels(state, clock)
        spent = clock.elapsed
        if clock.running_since is not None:
            spent += business_time_between(clock.running_since, max(fact.at, clock.running_since), policy.calendar)
        moved = replace(clock, target=target, warn_after=new.warn_after(clock.metric), elapsed=spent)
        breach = _key(state, clock, Kind.BREACHED)
        if moved.overdue and not clock.overdue and all(e.key != breach for e in passed):
            # a stricter target the clock has already used up: breached, at the instant its time reached
            # the new target (in an earlier stretch of a paused clock: unknown, so the re-match instant)
            reached = fact.at
            if clock.running_since is not None and target > clock.elapsed:
                reached = add_business_time(clock.running_since, target - clock.elapsed, policy.calendar)
            b.emit.append(Emission(breach, reached, reached, _ZERO))
        if clock.running:
            b.run(_run(moved, max(fact.at, clock.running_since or fact.at), new.calendar))
        else:
            b.keep(moved)
    return b.outcome(state, f"re-matched on queueing: {choice.reason}")


def _agent_replied(state: ConversationClocks, fact: ConversationFact, policy: Policy, _: SlaConfig) -> Outcome:
    if state.status is not Status.OPEN:
        return Outcome(state, reason="not open")
    b = _Builder(state, policy.calendar)
    for clock in state.clocks:
        if clock.metric in (Metric.FIRST_RESPONSE, Metric.NEXT_RESPONSE):
            b.stop(clock, fact.at, met=True)
        elif clock.metric is Metric.RESOLUTION and policy.pause_resolution_on_customer and clock.running:
            b.pause(clock, fact.at)
        else:
            b.keep(clock)
    return b.outcome(replace(state, waiting_on="customer"), "agent replied")


def _customer_replied(state: ConversationClocks, fact: ConversationFact, policy: Policy, _: SlaConfig) -> Outcome:
    if state.status is not Status.OPEN:
        return Outcome(state, reason="not open")
    if state.waiting_on != "customer":
        return Outcome(state, reason="customer wrote again before an agent reply; clocks keep running")
    state = replace(state, waiting_on="agent", next_response_cycle=state.next_response_cycle + 1)
    b = _Builder(state, policy.calendar)
    for clock in state.clocks:
        if clock.metric is Metric.RESOLUTION and not clock.running:
            b.run(_run(clock, fact.at, policy.calendar))
        elif clock.metric is Metric.NEXT_RESPONSE:
            b.stop(clock, fact.at, met=False)  # cannot happen: an agent reply stopped it
        else:
            b.keep(clock)
    b.run(_start(Metric.NEXT_RESPONSE, state.next_response_cycle, fact.at, policy))
    return b.outcome(state, "customer replied after an agent reply")


def _resolved(state: ConversationClocks, fact: ConversationFact, policy: Policy, _: SlaConfig) -> Outcome:
    if state.status is not Status.OPEN:
        return Outcome(state, reason="not open")
    b = _Builder(state, policy.calendar)
    for clock in state.clocks:
        b.stop(clock, fact.at, met=clock.metric is Metric.RESOLUTION)
    return b.outcome(replace(state, status=Status.RESOLVED), "resolved")


def _reopened(state: ConversationClocks, fact: ConversationFact, policy: Policy, _: SlaConfig) -> Outcome:
    if state.status is Status.OPEN:
        return Outcome(state, reason="already open")
    state = replace(
        state,
        status=Status.OPEN,
        waiting_on="agent",
        cycle=state.cycle + 1,
        next_response_cycle=state.next_response_cycle + 1,
    )
    b = _Builder(state, policy.calendar)
    for clock in state.clocks:
        b.stop(clock, fact.at, met=False)
    b.run(_start(Metric.NEXT_RESPONSE, state.next_response_cycle, fact.at, policy))
    b.run(_start(Metric.RESOLUTION, state.cycle, fact.at, policy))
    return b.outcome(state, f"reopened: cycle {state.cycle}")


def _abandoned(state: ConversationClocks, fact: ConversationFact, policy: Policy, _: SlaConfig) -> Outcome:
    if state.status is not Status.OPEN:
        return Outcome(state, reason="not open")
    b = _Builder(state, policy.calendar)
    for clock in state.clocks:
        b.stop(clock, fact.at, met=False)
    return b.outcome(replace(state, status=Status.ABANDONED), "abandoned")


_HANDLERS = {
    Fact.QUEUED: _queued,
    Fact.AGENT_REPLIED: _agent_replied,
    Fact.CUSTOMER_REPLIED: _customer_replied,
    Fact.RESOLVED: _resolved,
    Fact.REOPENED: _reopened,
    Fact.ABANDONED: _abandoned,
}


def pending_timers(state: ConversationClocks) -> list[Timer]:
    """Every timer the running clocks of a state want (for rebuilding a schedule)."""
    return [t for clock in state.clocks for t in _timers(state, clock)]


# --- a JSON form of the state, for the shell to persist -------------------------------------


def _us(value: timedelta) -> int:
    return (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def state_to_dict(state: ConversationClocks) -> dict[str, Any]:
    return {
        "conversation_id": str(state.conversation_id),
        "policy": state.policy,
        "channel": state.channel,
        "queue": state.queue,
        "priority": state.priority,
        "tier": state.tier,
        "cycle": state.cycle,
        "next_response_cycle": state.next_response_cycle,
        "status": state.status.value,
        "waiting_on": state.waiting_on,
        "opened_at": _time(state.opened_at),
        "clocks": [
            {
                "metric": c.metric.value,
                "cycle": c.cycle,
                "target_us": _us(c.target),
                "warn_after_us": None if c.warn_after is None else _us(c.warn_after),
                "elapsed_us": _us(c.elapsed),
                "running_since": _time(c.running_since),
                "due_at": _time(c.due_at),
                "warn_due_at": _time(c.warn_due_at),
            }
            for c in state.clocks
        ],
    }


def state_from_dict(doc: Mapping[str, Any]) -> ConversationClocks:
    clocks = tuple(
        Clock(
            Metric(c["metric"]),
            int(c["cycle"]),
            timedelta(microseconds=c["target_us"]),
            None if c["warn_after_us"] is None else timedelta(microseconds=c["warn_after_us"]),
            timedelta(microseconds=c["elapsed_us"]),
            _parse_time(c["running_since"]),
            _parse_time(c["due_at"]),
            _parse_time(c["warn_due_at"]),
        )
        for c in doc["clocks"]
    )
    return ConversationClocks(
        UUID(doc["conversation_id"]),
        doc["policy"],
        doc["channel"],
        doc["queue"],
        doc["priority"],
        doc["tier"],
        int(doc["cycle"]),
        int(doc["next_response_cycle"]),
        Status(doc["status"]),
        doc["waiting_on"],
        clocks,
        _parse_time(doc.get("opened_at")),
    )


def keys_of(timers: Iterable[Timer]) -> list[TimerKey]:
    return [t.key for t in timers]
