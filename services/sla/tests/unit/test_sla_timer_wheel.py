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
