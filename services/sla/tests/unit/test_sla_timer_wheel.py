import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from omni_sla.domain.clocks import Kind, TimerKey
from omni_sla.domain.policies import Metric
from omni_sla.timers import TimerWheel, pack, pack_key, partition_of, unpack


@given(st.uuids(), st.integers(0, 2), st.integers(1, 2**21 - 1), st.integers(0, 1), st.integers(0, 2**16 - 1))
def test_a_packed_key_unpacks_to_itself(conv: uuid.UUID, metric: int, cycle: int, kind: int, partition: int) -> None:
    packed = pack(conv, metric, cycle, kind, partition)
    u = unpack(packed)
    assert (u.conversation_id, u.metric_code, u.cycle, u.kind_code, u.partition) == (
        conv,
        metric,
        cycle,
        kind,
        partition,
    )
    assert partition_of(packed) == partition


def test_pack_key_names_the_timer() -> None:
    key = TimerKey(uuid.uuid4(), Metric.RESOLUTION, 3, Kind.BREACHED)
    assert unpack(pack_key(key, 7)).key == key


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 1000), st.booleans()), max_size=60), st.integers(0, 1000))
def test_the_wheel_pops_exactly_the_live_due_timers_in_order(ops: list[tuple[int, int, bool]], now: int) -> None:
    wheel = TimerWheel()
    model: dict[int, int] = {}
    for key, due, cancel in ops:
        if cancel:
            wheel.cancel(key)
            model.pop(key, None)
        else:
            wheel.add(key, due)
            model[key] = due
    popped = wheel.pop_due(now, limit=10_000)
    assert [d for _, d in popped] == sorted(d for _, d in popped)
    assert dict(popped) == {k: d for k, d in model.items() if d <= now}
    assert len(wheel) == len([d for d in model.values() if d > now])
    later = {k: d for k, d in model.items() if d > now}
    assert wheel.next_due() == (min(later.values()) if later else None)


def test_dropping_partitions_forgets_only_their_timers() -> None:
    wheel = TimerWheel()
    keys = {p: pack(uuid.uuid4(), 0, 1, 1, p) for p in range(4)}
    wheel.add_many((k, 100 + p) for p, k in keys.items())
    wheel.rebuild()
    assert wheel.drop_partitions({1, 3}) == 2
    assert sorted(d for _, d in wheel.pop_due(10**9)) == [100, 102]


def test_a_moved_timer_fires_once_at_its_new_instant() -> None:
    wheel = TimerWheel()
    wheel.add(1, 50)
    wheel.add(1, 80)
    assert wheel.pop_due(60) == []
    assert wheel.pop_due(90) == [(1, 80)]
    assert wheel.pop_due(10**9) == []


_KEYS = [pack(uuid.UUID(int=i), i % 3, 1, i % 2, i % 4) for i in range(24)]  # 24 timers over partitions 0-3
_GATES = st.dictionaries(st.integers(0, 3), st.integers(0, 1000), max_size=4)
_OPS = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(_KEYS), st.integers(0, 1000)),
    st.tuples(st.just("cancel"), st.sampled_from(_KEYS), st.just(0)),
    st.tuples(st.just("pop"), _GATES, st.integers(0, 1000)),
    st.tuples(st.just("drop"), st.integers(0, 3), st.just(0)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_OPS, max_size=80))
def test_a_gated_partition_fires_only_up_to_its_gate_and_nothing_is_lost_or_fired_twice(
    ops: list[tuple[str, object, int]],
) -> None:
    wheel = TimerWheel()
    model: dict[int, int] = {}
    for op, arg, value in ops:
        if op == "add":
            assert isinstance(arg, int)
            wheel.add(arg, value)
            model[arg] = value
        elif op == "cancel":
            assert isinstance(arg, int)
            wheel.cancel(arg)
            model.pop(arg, None)
        elif op == "drop":
            assert isinstance(arg, int)
            wheel.drop_partitions({arg})
            model = {k: d for k, d in model.items() if partition_of(k) != arg}
        else:
            assert isinstance(arg, dict)
            popped = wheel.pop_due(value, limit=1000, gates=arg)
            expected = {
                k: d
                for k, d in model.items()
                if d <= value and (partition_of(k) not in arg or d <= arg[partition_of(k)])
            }
            assert dict(popped) == expected
            assert len(popped) == len(expected)
            for key in expected:
                del model[key]
        assert len(wheel) == len(model)
    assert dict(wheel.pop_due(2000)) == model  # gates lifted: every timer still pending fires, once


def test_a_parked_timer_fires_when_the_gate_passes_it_and_not_after_a_cancel() -> None:
    wheel = TimerWheel()
    early, late, other, cancelled = (pack(uuid.uuid4(), 0, 1, 1, part) for part in (1, 1, 2, 1))
    wheel.add(early, 100)
    wheel.add(late, 300)
    wheel.add(other, 300)
    wheel.add(cancelled, 150)
    assert wheel.pop_due(500, gates={1: 120}) == [(early, 100), (other, 300)]
    assert wheel.parked() == 2  # late and cancelled wait for partition 1's gate
    wheel.cancel(cancelled)
    assert wheel.pop_due(500, gates={1: 200}) == []
    assert wheel.pop_due(500, gates={}) == [(late, 300)]
    assert len(wheel) == 0
