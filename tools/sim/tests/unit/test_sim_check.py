"""The fault suite's invariants catch loss, duplicates, double assignment and over-capacity."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from omni_schemas import CloudEvent, new_event
from omni_sim.domain.check import build_view, check_run
from omni_sim.domain.truth import GroundTruth

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
REASON = {"summary": "s", "strategy": "longest_idle"}


def _msg(ref: str, thread_key: str, *, message_id: uuid.UUID | None = None) -> CloudEvent:
    return new_event(
        "omni.message.received.v1",
        {
            "message_id": str(message_id or uuid.uuid4()),
            "channel": "chat",
            "provider": "webchat",
            "provider_message_id": ref,
            "thread_key": thread_key,
            "customer": {"address": "v1"},
            "text": f"hello (ref {ref})",
            "received_at": T0.isoformat(),
        },
        source="/t",
        time=T0,
    )


def _conv(kind: str, conv: str, at: int, **data: object) -> CloudEvent:
    return new_event(
        f"omni.conversation.{kind}.v1",
        {"conversation_id": conv, "channel": "chat", **data},
        source="/t",
        time=T0 + timedelta(seconds=at),
    )


def _truth(*refs: str) -> GroundTruth:
    truth = GroundTruth(run_id="r1")
    for i, ref in enumerate(refs):
        truth.record_send(ref, thread=f"t{i}", channel="chat", status=202, at=0.0)
    return truth


def _opened(conv: str, message: CloudEvent, at: int = 1) -> CloudEvent:
    d = message.data
    return _conv("opened", conv, at, thread_key=d.thread_key, customer_id="c", first_message_id=str(d.message_id))  # type: ignore[attr-defined]


def test_clean_run_has_no_violations() -> None:
    truth = _truth("r1-00001")
    m = _msg("r1-00001", "chat:a")
    c = str(uuid.uuid4())
    convs = [
        _opened(c, m),
        _conv("assigned", c, 2, agent_id="a1", reason=REASON),
        _conv("resolved", c, 3, agent_id="a1"),
    ]
    truth.resolved.add(c)
    result = check_run(truth, build_view(truth, [m], convs), capacities={"a1": {"chat": 1}})
    assert result.ok, result.violations
    assert result.counts["opened"] == 1


def test_accepted_message_missing_from_topic_is_lost() -> None:
    truth = _truth("r1-00001", "r1-00002")
    m = _msg("r1-00001", "chat:a")
    c = str(uuid.uuid4())
    result = check_run(truth, build_view(truth, [m], [_opened(c, m)]), capacities={})
    assert any("missing from omni.messages.v1" in v and "r1-00002" in v for v in result.violations)


def test_message_republished_under_new_id_is_a_duplicate_and_redelivery_is_not() -> None:
    truth = _truth("r1-00001")
    m = _msg("r1-00001", "chat:a")
    again = _msg("r1-00001", "chat:a")
    c = str(uuid.uuid4())
    assert check_run(truth, build_view(truth, [m, m], [_opened(c, m)]), capacities={}).ok
    result = check_run(truth, build_view(truth, [m, again], [_opened(c, m)]), capacities={})
    assert any("more than one message id" in v for v in result.violations)


def test_message_in_two_conversations_and_in_none() -> None:
    truth = _truth("r1-00001", "r1-00002")
    m1, m2 = _msg("r1-00001", "chat:a"), _msg("r1-00002", "chat:b")
    c1, c2 = str(uuid.uuid4()), str(uuid.uuid4())
    result = check_run(truth, build_view(truth, [m1, m2], [_opened(c1, m1), _opened(c2, m1)]), capacities={})
    assert any("more than one conversation" in v for v in result.violations)
    assert any("in no conversation" in v and "r1-00002" in v for v in result.violations)


def test_second_agent_while_first_holds_is_double_assignment_but_transfer_is_not() -> None:
    truth = _truth("r1-00001")
    m = _msg("r1-00001", "chat:a")
    c = str(uuid.uuid4())
    double = [
        _opened(c, m),
        _conv("assigned", c, 2, agent_id="a1", reason=REASON),
        _conv("assigned", c, 3, agent_id="a2", reason=REASON),
    ]
    result = check_run(truth, build_view(truth, [m], double), capacities={})
    assert any("while a1 held it" in v for v in result.violations)
    moved = [
        *double[:2],
        _conv("transferred", c, 3, agent_id="a1", to_agent_id="a2"),
        _conv("assigned", c, 4, agent_id="a2", reason=REASON),
    ]
    assert check_run(truth, build_view(truth, [m], moved), capacities={}).ok


def test_agent_over_capacity_is_reported() -> None:
    truth = _truth("r1-00001", "r1-00002")
    m1, m2 = _msg("r1-00001", "chat:a"), _msg("r1-00002", "chat:b")
    c1, c2 = str(uuid.uuid4()), str(uuid.uuid4())
    convs = [
        _opened(c1, m1),
        _opened(c2, m2),
        _conv("assigned", c1, 2, agent_id="a1", reason=REASON),
        _conv("assigned", c2, 3, agent_id="a1", reason=REASON),
    ]
    result = check_run(truth, build_view(truth, [m1, m2], convs), capacities={"a1": {"chat": 1}})
    assert any("capacity 1" in v for v in result.violations)
    sequential = [
        *convs[:3],
        _conv("resolved", c1, 3, agent_id="a1"),
        _conv("assigned", c2, 4, agent_id="a1", reason=REASON),
    ]
    assert check_run(truth, build_view(truth, [m1, m2], sequential), capacities={"a1": {"chat": 1}}).ok


def test_analytics_totals_must_equal_the_topic() -> None:
    truth = _truth("r1-00001")
    m = _msg("r1-00001", "chat:a")
    c = str(uuid.uuid4())
    view = build_view(truth, [m], [_opened(c, m)])
    assert check_run(truth, view, capacities={}, analytics_delta={"opened": 1}).ok
    result = check_run(truth, view, capacities={}, analytics_delta={"opened": 2})
    assert any("analytics counted 2" in v for v in result.violations)


def test_a_deadline_that_both_breached_and_met_is_reported() -> None:
    truth = _truth("r1-00001")
    m = _msg("r1-00001", "chat:a")
    c = str(uuid.uuid4())
    view = build_view(truth, [m], [_opened(c, m)])
    base = {"conversation_id": c, "policy": "p", "metric": "first_response", "due_at": T0.isoformat()}
    breach = new_event("omni.sla.breached.v1", {**base, "breached_at": T0.isoformat()}, source="/t")
    met = new_event("omni.sla.met.v1", {**base, "met_at": T0.isoformat(), "remaining_seconds": 0}, source="/t")
    assert check_run(truth, view, capacities={}, sla_events=[breach, breach]).ok
    result = check_run(truth, view, capacities={}, sla_events=[breach, met])
    assert any("ended 2 times" in v for v in result.violations)


def test_a_warned_deadline_that_passed_unmet_must_have_breached() -> None:
    truth = _truth("r1-00001")
    m = _msg("r1-00001", "chat:a")
    c = str(uuid.uuid4())
    view = build_view(truth, [m], [_opened(c, m)])
    base = {"conversation_id": c, "policy": "p", "metric": "first_response", "due_at": T0.isoformat()}
    warning = new_event("omni.sla.warning.v1", {**base, "remaining_seconds": 12}, source="/t")
    breach = new_event("omni.sla.breached.v1", {**base, "breached_at": T0.isoformat()}, source="/t")
    later = T0 + timedelta(minutes=1)
    assert check_run(truth, view, capacities={}, sla_events=[warning], now=T0).ok
    result = check_run(truth, view, capacities={}, sla_events=[warning], now=later)
    assert any("no breach" in v for v in result.violations)
    assert check_run(truth, view, capacities={}, sla_events=[warning, breach], now=later).ok


def _sla_state(
    conv: str, *, clocks: list[dict[str, object]], emitted: list[dict[str, object]] | None = None
) -> dict[str, object]:
    return {
        "conversation_id": conv,
        "policy": "p",
        "status": "open",
        "cycle": 1,
        "clocks": clocks,
        "emitted": emitted or [],
    }


def _clock(*, running: bool, due: datetime | None, elapsed: float = 0.0, target: float = 60.0) -> dict[str, object]:
    return {
        "metric": "first_response",
        "cycle": 1,
        "target_seconds": target,
        "elapsed_seconds_before_running": elapsed,
        "running": running,
        "due_at": None if due is None else due.isoformat(),
    }


def test_an_unwarned_deadline_that_passed_must_have_breached() -> None:
    truth = _truth("r1-00001")
    m = _msg("r1-00001", "chat:a")
    c = str(uuid.uuid4())
    view = build_view(truth, [m], [_opened(c, m)])
    later = T0 + timedelta(minutes=5)
    running_late = {c: _sla_state(c, clocks=[_clock(running=True, due=T0)])}
    result = check_run(truth, view, capacities={}, sla_events=[], now=later, sla_states=running_late)
    assert any("passed its deadline with no breach" in v for v in result.violations)
    # due within the margin of the read: not yet owed
    assert check_run(
        truth, view, capacities={}, sla_events=[], now=T0 + timedelta(seconds=2), sla_states=running_late
    ).ok
    base = {"conversation_id": c, "policy": "p", "metric": "first_response", "due_at": T0.isoformat()}
    breach = new_event("omni.sla.breached.v1", {**base, "breached_at": T0.isoformat()}, source="/t")
    assert check_run(truth, view, capacities={}, sla_events=[breach], now=later, sla_states=running_late).ok
    # a paused clock that already spent its target owes a breach too
    paused = {c: _sla_state(c, clocks=[_clock(running=False, due=None, elapsed=61.0)])}
    assert not check_run(truth, view, capacities={}, sla_events=[], now=later, sla_states=paused).ok
    paused_in_time = {c: _sla_state(c, clocks=[_clock(running=False, due=None, elapsed=30.0)])}
    assert check_run(truth, view, capacities={}, sla_events=[], now=later, sla_states=paused_in_time).ok


def test_sla_decisions_marked_published_must_be_on_the_topic_and_every_conversation_known() -> None:
    truth = _truth("r1-00001")
    m = _msg("r1-00001", "chat:a")
    c = str(uuid.uuid4())
    view = build_view(truth, [m], [_opened(c, m)])
    later = T0 + timedelta(minutes=5)
    base = {"conversation_id": c, "policy": "p", "metric": "first_response", "due_at": T0.isoformat()}
    met = new_event("omni.sla.met.v1", {**base, "met_at": T0.isoformat(), "remaining_seconds": 3}, source="/t")
    row = {
        "metric": "first_response",
        "cycle": 1,
        "kind": "met",
        "event_id": str(met.id),
        "published_at": T0.isoformat(),
    }
    states = {c: _sla_state(c, clocks=[], emitted=[row])}
    assert check_run(truth, view, capacities={}, sla_events=[met], now=later, sla_states=states).ok
    result = check_run(truth, view, capacities={}, sla_events=[], now=later, sla_states=states)
    assert any("marked published but not on the topic" in v for v in result.violations)
    # not yet published: the relay may still be on its way, nothing owed
    pending = {c: _sla_state(c, clocks=[], emitted=[{**row, "published_at": None}])}
    assert check_run(truth, view, capacities={}, sla_events=[], now=later, sla_states=pending).ok
    result = check_run(truth, view, capacities={}, sla_events=[], now=later, sla_states={c: None})
    assert any("holds no clocks" in v for v in result.violations)


def test_a_breach_of_a_clock_the_conversation_stopped_in_time_is_reported() -> None:
    truth = _truth("r1-00001")
    m = _msg("r1-00001", "chat:a")
    c = str(uuid.uuid4())
    view = build_view(truth, [m], [_opened(c, m, at=0), _conv("agent_replied", c, 1, agent_id="a1")])

    def breach(metric: str, due_s: int) -> CloudEvent:
        due = (T0 + timedelta(seconds=due_s)).isoformat()
        data = {"conversation_id": c, "policy": "p", "metric": metric, "due_at": due, "breached_at": due}
        return new_event("omni.sla.breached.v1", data, source="/t")

    result = check_run(truth, view, capacities={}, sla_events=[breach("first_response", 3)])
    assert any("although the first agent reply" in v for v in result.violations), result.violations
    assert check_run(truth, view, capacities={}, sla_events=[breach("first_response", 1)]).ok  # replied late
    # a reply a second or less before the deadline may still have been on its way to the broker
    assert check_run(truth, view, capacities={}, sla_events=[breach("first_response", 2)]).ok
    resolved = build_view(truth, [m], [_opened(c, m, at=0), _conv("resolved", c, 5)])
    result = check_run(truth, resolved, capacities={}, sla_events=[breach("resolution", 9)])
    assert any("although the conversation ended" in v for v in result.violations), result.violations
    assert check_run(truth, resolved, capacities={}, sla_events=[breach("resolution", 4)]).ok
    assert check_run(truth, resolved, capacities={}, sla_events=[breach("resolution", 6)]).ok


def test_a_warned_response_clock_that_a_resolution_stopped_needs_no_outcome() -> None:
    truth = _truth("r1-00001")
    m = _msg("r1-00001", "chat:a")
    c = str(uuid.uuid4())
    base = {"conversation_id": c, "policy": "p", "metric": "next_response", "cycle": 1}
    warning = new_event(
        "omni.sla.warning.v1",
        {**base, "due_at": (T0 + timedelta(seconds=10)).isoformat(), "remaining_seconds": 2},
        source="/t",
    )
    later = T0 + timedelta(minutes=1)
    resolved_in_time = build_view(truth, [m], [_opened(c, m, at=0), _conv("resolved", c, 9)])
    assert check_run(truth, resolved_in_time, capacities={}, sla_events=[warning], now=later).ok
    resolved_late = build_view(truth, [m], [_opened(c, m, at=0), _conv("resolved", c, 11)])
    result = check_run(truth, resolved_late, capacities={}, sla_events=[warning], now=later)
    assert any("no breach" in v for v in result.violations)


def test_a_breach_recorded_by_the_service_but_published_after_the_topic_was_read_counts() -> None:
    truth = _truth("r1-00001")
    m = _msg("r1-00001", "chat:a")
    c = str(uuid.uuid4())
    view = build_view(truth, [m], [_opened(c, m, at=0), _conv("agent_replied", c, 30, agent_id="a1")])
    base = {"conversation_id": c, "policy": "p", "metric": "first_response", "due_at": T0.isoformat()}
    warning = new_event("omni.sla.warning.v1", {**base, "remaining_seconds": 12}, source="/t")
    later = T0 + timedelta(minutes=1)
    row = {"metric": "first_response", "cycle": 1, "kind": "breached", "event_id": str(uuid.uuid4())}
    published_after_the_read = {c: _sla_state(c, clocks=[], emitted=[{**row, "published_at": later.isoformat()}])}
    ok = check_run(truth, view, capacities={}, sla_events=[warning], now=later, sla_states=published_after_the_read)
    assert ok.ok, ok.violations
    nothing_recorded = {c: _sla_state(c, clocks=[])}
    result = check_run(truth, view, capacities={}, sla_events=[warning], now=later, sla_states=nothing_recorded)
    assert any("no breach" in v for v in result.violations)
