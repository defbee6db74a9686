"""Invariants checked after a run (and after each fault) against the simulator's ground truth.

Input is what the topics hold, already read: message events and conversation events of any age;
only this run's are considered (messages carrying this run's refs, conversations opened for them).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from omni_schemas import CloudEvent, channel_group
from omni_sim.domain.truth import GroundTruth, find_ref

_RELEASES = {
    "omni.conversation.resolved.v1",
    "omni.conversation.abandoned.v1",
    "omni.conversation.transferred.v1",
}
_ASSIGNED = "omni.conversation.assigned.v1"


@dataclass(slots=True)
class RunView:
    """This run's slice of the topics."""

    message_of_ref: dict[str, set[str]] = field(default_factory=dict)
    """ref -> distinct message ids carrying it (more than one is a duplicate)."""
    conversations_of_message: dict[str, set[str]] = field(default_factory=dict)
    conversation_events: dict[str, list[CloudEvent]] = field(default_factory=dict)
    thread_key_of_ref: dict[str, str] = field(default_factory=dict)
    window_counts: dict[str, int] = field(default_factory=dict)
    """Distinct conversation events of every run in the read window, by short type (`resolved`)."""

    def events_of(self, event_type: str) -> int:
        """Distinct events of this type (`opened`, `assigned`, ...) across this run's conversations."""
        suffix = f".{event_type}.v1"
        return sum(1 for events in self.conversation_events.values() for e in events if e.type.endswith(suffix))

    def count(self, event_type: str) -> int:
        """Conversations of this run with at least one event of this type."""
        suffix = f".{event_type}.v1"
        return sum(1 for events in self.conversation_events.values() if any(e.type.endswith(suffix) for e in events))


def _get(event: CloudEvent, name: str) -> Any:
    return getattr(event.data, name, None)


def build_view(truth: GroundTruth, messages: list[CloudEvent], conversations: list[CloudEvent]) -> RunView:
    view = RunView()
    seen_events: set[str] = set()
    run_messages: set[str] = set()
    for event in messages:
        if str(event.id) in seen_events:
            continue
        seen_events.add(str(event.id))
        ref = find_ref(_get(event, "text"))
        if ref is None or ref not in truth.sent:
            continue
        message_id = str(_get(event, "message_id"))
        view.message_of_ref.setdefault(ref, set()).add(message_id)
        view.thread_key_of_ref[ref] = str(_get(event, "thread_key"))
        run_messages.add(message_id)
    ours: set[str] = set()
    for event in conversations:
        if str(event.id) in seen_events:
            continue
        seen_events.add(str(event.id))
        short = event.type.removeprefix("omni.conversation.").removesuffix(".v1")
        view.window_counts[short] = view.window_counts.get(short, 0) + 1
        conv = str(_get(event, "conversation_id"))
        for attr in ("first_message_id", "message_id"):
            mid = _get(event, attr)
            if mid is not None and str(mid) in run_messages and event.type != "omni.conversation.agent_replied.v1":
                view.conversations_of_message.setdefault(str(mid), set()).add(conv)
                ours.add(conv)
        view.conversation_events.setdefault(conv, []).append(event)
    view.conversation_events = {c: evs for c, evs in view.conversation_events.items() if c in ours}
    return view


@dataclass(slots=True)
class CheckResult:
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations


def check_run(
    truth: GroundTruth,
    view: RunView,
    *,
    capacities: dict[str, dict[str, int]],
    analytics_delta: dict[str, float] | None = None,
    sla_events: list[CloudEvent] | None = None,
    now: datetime | None = None,
    sla_states: dict[str, dict[str, Any] | None] | None = None,
) -> CheckResult:
    """Every invariant of the fault suite; violations name the ref, conversation or agent.

    `sla_states` (conversation id -> the SLA service's `GET /v1/sla/conversations/{id}` answer,
    None for 404), with `sla_events` and `now` (when the topic was read), checks every deadline,
    warned or not: see `sla_deadlines`.
    """
    result = CheckResult()
    accepted = truth.accepted
    lost = sorted(ref for ref in accepted if ref not in view.message_of_ref)
    dup = sorted(ref for ref, ids in view.message_of_ref.items() if len(ids) > 1)
    if lost:
        result.violations.append(f"{len(lost)} accepted message(s) missing from omni.messages.v1: {lost[:5]}")
    if dup:
        result.violations.append(f"{len(dup)} message(s) published under more than one message id: {dup[:5]}")
    unrouted = []
    multi = []
    for ref in accepted:
        for mid in view.message_of_ref.get(ref, ()):
            convs = view.conversations_of_message.get(mid, set())
            if not convs:
                unrouted.append(ref)
            elif len(convs) > 1:
                multi.append(ref)
    if unrouted:
        result.violations.append(f"{len(unrouted)} message(s) in no conversation: {sorted(unrouted)[:5]}")
    if multi:
        result.violations.append(f"{len(multi)} message(s) in more than one conversation: {sorted(multi)[:5]}")

    double, repeats = _double_assignments(view)
    result.violations += double
    if repeats:
        result.notes.append(f"{repeats} repeated assigned event(s) for the agent already holding the conversation")
    result.violations += _capacity(view, capacities)
    if sla_events is not None:
        result.violations += _sla_outcomes(view, sla_events, now=now, states=sla_states)
        if sla_states is not None and now is not None:
            result.violations += sla_deadlines(view, sla_events, sla_states, read_at=now)

    counts = {
        "messages": float(sum(1 for ref in accepted if ref in view.message_of_ref)),
        "conversations": float(len(view.conversation_events)),
        "opened": float(view.count("opened")),
        "assigned": float(view.count("assigned")),
        "resolved": float(view.count("resolved")),
        "abandoned": float(view.count("abandoned")),
    }
    if sla_events is not None:
        ours = set(view.conversation_events)
        for kind in ("warning", "breached", "met"):
            counts[f"sla_{kind}"] = float(
                len(
                    {
                        str(e.id)
                        for e in sla_events
                        if e.type == f"omni.sla.{kind}.v1" and str(_get(e, "conversation_id")) in ours
                    }
                )
            )
    result.counts = counts
    expected = truth.expected()
    if counts["opened"] != expected["conversations"]:
        result.violations.append(
            f"{counts['opened']:.0f} conversations opened for {expected['conversations']:.0f} threads the simulator started"
        )
    if counts["resolved"] < expected["resolved"]:
        result.violations.append(
            f"{counts['resolved']:.0f} resolved events for {expected['resolved']:.0f} resolves answered 2xx"
        )
    if counts["abandoned"] < expected["abandoned"]:
        result.violations.append(
            f"{counts['abandoned']:.0f} abandoned events for {expected['abandoned']:.0f} abandons answered 2xx"
        )
    if analytics_delta is not None:
        # analytics counts every event of the window, this run's and any stragglers of earlier ones
        for name in ("opened", "assigned", "resolved", "abandoned"):
            events = view.window_counts.get(name, 0)
            if name in analytics_delta and analytics_delta[name] != events:
                result.violations.append(
                    f"analytics counted {analytics_delta[name]:.0f} {name} events, the topic holds {events}"
                )
    return result


def _ordered(events: list[CloudEvent]) -> list[CloudEvent]:
    return sorted(events, key=lambda e: e.time)


def _double_assignments(view: RunView) -> tuple[list[str], int]:
    violations = []
    repeats = 0
    for conv, events in view.conversation_events.items():
        holder: str | None = None
        for event in _ordered(events):
            if event.type == _ASSIGNED:
                agent = str(_get(event, "agent_id"))
                if holder is not None and holder != agent:
                    violations.append(f"conversation {conv} assigned to {agent} while {holder} held it")
                elif holder == agent:
                    repeats += 1
                holder = agent
            elif event.type in _RELEASES:
                holder = None
    return violations, repeats


def _capacity(view: RunView, capacities: dict[str, dict[str, int]]) -> list[str]:
    """Replay holds across this run's conversations in time order; count per agent and group."""
    timeline = sorted(
        (
            e
            for events in view.conversation_events.values()
            for e in events
            if e.type == _ASSIGNED or e.type in _RELEASES
        ),
        key=lambda e: e.time,
    )
    holder: dict[str, tuple[str, str]] = {}
    load: dict[tuple[str, str], int] = defaultdict(int)
    worst: dict[tuple[str, str], int] = {}
    for event in timeline:
        conv = str(_get(event, "conversation_id"))
        if conv in holder:
            load[holder.pop(conv)] -= 1
        if event.type == _ASSIGNED:
            group = channel_group(_get(event, "channel")).value
            slot = (str(_get(event, "agent_id")), group)
            holder[conv] = slot
            load[slot] += 1
            worst[slot] = max(worst.get(slot, 0), load[slot])
    violations = []
    for (agent, group), peak in sorted(worst.items()):
        limit = capacities.get(agent, {}).get(group)
        if limit is not None and peak > limit:
            violations.append(f"agent {agent} held {peak} {group} conversations at once, capacity {limit}")
    return violations


def _fact_at(event: CloudEvent) -> datetime:
    """The instant of a conversation fact, as the SLA service takes it: `occurred_at`, else `time`."""
    at: datetime = _get(event, "occurred_at") or event.time
    return at


def _first_at(events: list[CloudEvent], *kinds: str) -> datetime | None:
    types = {f"omni.conversation.{k}.v1" for k in kinds}
    instants = [_fact_at(e) for e in events if e.type in types]
    return min(instants) if instants else None


# A fact this close before a deadline may still be on its way to the broker when the SLA service
# decides (it waits a settle window of 200 ms by default): not counted against it.
_IN_FLIGHT = timedelta(seconds=1)


def _stopped_before(
    events: list[CloudEvent], metric: str, cycle: int, due: datetime, *, margin: timedelta = timedelta(0)
) -> str | None:
    """What stopped this clock at least `margin` before its due instant, as the topic tells it, or
    None if nothing did (or the conversation was reopened, where cycles make it less direct)."""
    if _first_at(events, "reopened") is not None:
        return None
    if metric == "first_response" and cycle == 1:
        replied = _first_at(events, "agent_replied")
        if replied is not None and replied < due - margin:
            return f"the first agent reply at {replied.isoformat()}"
    ended = _first_at(events, "resolved", "abandoned")
    if ended is not None and ended < due - margin:
        return f"the conversation ended at {ended.isoformat()}"
    return None


def _recorded_outcomes(states: dict[str, dict[str, Any] | None] | None) -> set[tuple[str, str, int]]:
    """(conversation, metric, cycle) of every breach or met the SLA service recorded."""
    out: set[tuple[str, str, int]] = set()
    for conv, state in (states or {}).items():
        for row in (state or {}).get("emitted", []):
            if row.get("kind") in ("breached", "met"):
                out.add((conv, str(row["metric"]), int(row["cycle"])))
    return out


def _sla_outcomes(
    view: RunView,
    sla_events: list[CloudEvent],
    *,
    now: datetime | None,
    states: dict[str, dict[str, Any] | None] | None = None,
) -> list[str]:
    """Each deadline of this run's conversations ends at most once (one breach or one met); no
    breach comes for a clock the conversation's own events stopped before the due instant (a
    first reply in time, a resolution or an abandonment; by more than a second, the time such a
    fact may take to reach the broker); and, with `now`, a warned deadline that passed (by a 5 s
    margin) with its clock still running was breached. An outcome the SLA service recorded (in
    `states`, read after the topic) but published after the topic was read counts: that it
    reaches the topic is `sla_deadlines`' check."""
    outcomes: dict[tuple[str, str, int], list[str]] = defaultdict(list)
    warned: dict[tuple[str, str, int], datetime] = {}
    breached: dict[tuple[str, str, int], datetime] = {}
    seen: set[str] = set()
    for event in sla_events:
        conv = str(_get(event, "conversation_id"))
        if conv not in view.conversation_events or str(event.id) in seen:
            continue
        seen.add(str(event.id))
        kind = event.type.removeprefix("omni.sla.").removesuffix(".v1")
        key = (conv, str(_get(event, "metric")), int(_get(event, "cycle") or 1))
        if kind in ("breached", "met"):
            outcomes[key].append(kind)
            if kind == "breached":
                breached[key] = _get(event, "due_at")
        elif kind == "warning":
            warned[key] = _get(event, "due_at")
    violations = []
    for (conv, metric, cycle), kinds in sorted(outcomes.items()):
        if len(kinds) > 1:
            violations.append(f"conversation {conv} {metric} (cycle {cycle}) ended {len(kinds)} times: {kinds}")
    for (conv, metric, cycle), due in sorted(breached.items()):
        stopped = _stopped_before(view.conversation_events[conv], metric, cycle, due, margin=_IN_FLIGHT)
        if stopped is not None:
            violations.append(
                f"conversation {conv} {metric} (cycle {cycle}) breached at {due.isoformat()} although {stopped}"
            )
    if now is not None:
        recorded = _recorded_outcomes(states)
        for (conv, metric, cycle), due in sorted(warned.items()):
            if (
                due < now - timedelta(seconds=5)
                and not outcomes.get((conv, metric, cycle))
                and (conv, metric, cycle) not in recorded
                and _stopped_before(view.conversation_events[conv], metric, cycle, due) is None
            ):
                violations.append(f"conversation {conv} {metric} (cycle {cycle}) passed its deadline with no breach")
    return violations


_MARGIN = timedelta(seconds=5)


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def sla_deadlines(
    view: RunView,
    sla_events: list[CloudEvent],
    states: dict[str, dict[str, Any] | None],
    *,
    read_at: datetime,
) -> list[str]:
    """Every deadline that passed produced its breach, and every SLA decision reached the topic.

    From the SLA service's own record of each conversation of this run (its API), against the
    topic read at `read_at`:
    - the service knows every conversation of the run (it consumed each `opened`);
    - a clock still running whose due instant passed (by a 5 s margin) before the read, or a
      paused clock whose spent time reached its target, has a breach on the topic;
    - every warning, breach or met the service decided and marked published before the read is
      on the topic, under its event id (so nothing it emitted was lost on the way to Kafka).
    A clock that stopped late is covered by the last point: its breach is decided when it stops.
    """
    on_topic: set[str] = {str(e.id) for e in sla_events}
    breached: set[tuple[str, str, int]] = set()
    for event in sla_events:
        if event.type == "omni.sla.breached.v1":
            breached.add(
                (str(_get(event, "conversation_id")), str(_get(event, "metric")), int(_get(event, "cycle") or 1))
            )
    violations: list[str] = []
    for conv in sorted(view.conversation_events):
        if conv not in states:
            continue
        state = states[conv]
        if state is None:
            violations.append(f"conversation {conv}: the SLA service holds no clocks for it")
            continue
        for clock in state.get("clocks", []):
            key = (conv, str(clock["metric"]), int(clock["cycle"]))
            due = _time(clock.get("due_at"))
            passed = (clock.get("running") and due is not None and due < read_at - _MARGIN) or (
                not clock.get("running")
                and float(clock.get("elapsed_seconds_before_running", 0)) >= float(clock["target_seconds"])
            )
            if passed and key not in breached:
                violations.append(f"conversation {conv} {key[1]} (cycle {key[2]}) passed its deadline with no breach")
        for row in state.get("emitted", []):
            published = _time(row.get("published_at"))
            if published is not None and published < read_at - timedelta(seconds=1) and row["event_id"] not in on_topic:
                violations.append(
                    f"conversation {conv} {row['metric']} (cycle {row['cycle']}) {row['kind']} "
                    f"{row['event_id']} marked published but not on the topic"
                )
    return violations


def timeline(view: RunView, sla_events: list[CloudEvent], conversation_id: str) -> str:
    """One conversation's conversation and SLA events in order, one line each (for failure reports)."""
    rows: list[tuple[datetime, str]] = []
    for event in view.conversation_events.get(conversation_id, []):
        rows.append((_fact_at(event), event.type.removeprefix("omni.conversation.").removesuffix(".v1")))
    for event in sla_events:
        if str(_get(event, "conversation_id")) == conversation_id:
            kind = event.type.removeprefix("omni.sla.").removesuffix(".v1")
            due = _get(event, "due_at")
            rows.append((event.time, f"sla {kind} {_get(event, 'metric')} due {due.isoformat() if due else '-'}"))
    return "\n".join(f"  {at.isoformat()} {what}" for at, what in sorted(rows, key=lambda r: r[0]))
