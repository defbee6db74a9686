"""The in-memory schedule of pending timers of the partitions this replica owns.

A binary heap of `(due_us, packed_key)` with lazy deletion, and a dict from packed key to
its current due instant. A timer is two Python ints and one tuple (about 200 bytes): the
key packs the conversation UUID, partition, cycle, metric and kind into one integer.
PostgreSQL is the durable copy; this is only what to wake up for.

A partition can be gated (its consumer is behind): its timers fire only up to the gate, the
instant up to which its events have been applied. A due timer past its partition's gate is
parked in a per-partition heap and fires once the gate passes it (or is lifted).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from omni_sla.domain.clocks import Kind, TimerKey
from omni_sla.domain.policies import Metric

METRICS = (Metric.FIRST_RESPONSE, Metric.NEXT_RESPONSE, Metric.RESOLUTION)
METRIC_CODE = {m: i for i, m in enumerate(METRICS)}
TIMER_KINDS = (Kind.WARNING, Kind.BREACHED)
KIND_CODE = {Kind.WARNING: 0, Kind.BREACHED: 1}
_CYCLE_BITS = 21
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def pack(conversation_id: UUID, metric_code: int, cycle: int, kind_code: int, partition: int) -> int:
    """One int for (conversation, metric, cycle, kind) and the partition that owns it."""
    if not 0 <= cycle < 1 << _CYCLE_BITS or not 0 <= partition < 1 << 16:
        raise ValueError(f"cycle {cycle} or partition {partition} out of range")
    return (((conversation_id.int << 16 | partition) << _CYCLE_BITS | cycle) << 2 | metric_code) << 1 | kind_code


@dataclass(frozen=True, slots=True)
class Unpacked:
    conversation_id: UUID
    metric_code: int
    cycle: int
    kind_code: int
    partition: int

    @property
    def key(self) -> TimerKey:
        return TimerKey(self.conversation_id, METRICS[self.metric_code], self.cycle, TIMER_KINDS[self.kind_code])


def unpack(packed: int) -> Unpacked:
    kind = packed & 1
    packed >>= 1
    metric = packed & 3
    packed >>= 2
    cycle = packed & ((1 << _CYCLE_BITS) - 1)
    packed >>= _CYCLE_BITS
    partition = packed & 0xFFFF
    return Unpacked(UUID(int=packed >> 16), metric, cycle, kind, partition)


def partition_of(packed: int) -> int:
    return (packed >> (1 + 2 + _CYCLE_BITS)) & 0xFFFF


def pack_key(key: TimerKey, partition: int) -> int:
    return pack(key.conversation_id, METRIC_CODE[key.metric], key.cycle, KIND_CODE[key.kind], partition)


class TimerWheel:
    """Pending timers ordered by due instant; adding a key again moves it, cancelling forgets it."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int]] = []
        self._due: dict[int, int] = {}
        self._parked: dict[int, list[tuple[int, int]]] = {}  # partition -> due timers held back by its gate

    def __len__(self) -> int:
        return len(self._due)

    def add(self, packed: int, due_us: int) -> None:
        if self._due.get(packed) == due_us:
            return
        self._due[packed] = due_us
        heapq.heappush(self._heap, (due_us, packed))
        if len(self._heap) > 64 and len(self._heap) > 2 * len(self._due):
            self._compact()

    def add_many(self, items: Iterable[tuple[int, int]]) -> None:
        """Bulk load (a reload after restart or rebalance): call `rebuild` once after the last batch."""
        self._due.update(items)

    def rebuild(self) -> None:
        """Order everything loaded with `add_many`: one heapify instead of n pushes."""
        self._compact()

    def cancel(self, packed: int) -> None:
        self._due.pop(packed, None)

    def next_due(self) -> int | None:
        heap, due = self._heap, self._due
        while heap:
            when, packed = heap[0]
            if due.get(packed) == when:
                return when
            heapq.heappop(heap)
        return None

    def pop_due(
        self, now_us: int, *, limit: int = 1000, gates: Mapping[int, int] | None = None
    ) -> list[tuple[int, int]]:
        """Timers due by `now_us` and, for a partition in `gates`, by its gate; removed from the wheel.

        Earliest first within the parked timers released and within the others. A due timer
        past its partition's gate is parked until a later call's gate passes it.
        """
        heap, due = self._heap, self._due
        out: list[tuple[int, int]] = []
        if self._parked:
            for part in list(self._parked):
                parked = self._parked[part]
                until = min(now_us, gates.get(part, now_us)) if gates else now_us
                while parked and len(out) < limit and parked[0][0] <= until:
                    when, packed = heapq.heappop(parked)
                    if due.get(packed) == when:
                        del due[packed]
                        out.append((packed, when))
                if not parked:
                    del self._parked[part]
        while heap and len(out) < limit and heap[0][0] <= now_us:
            when, packed = heapq.heappop(heap)
            if due.get(packed) != when:
                continue
            if gates:
                part = partition_of(packed)
                gate = gates.get(part)
                if gate is not None and when > gate:
                    heapq.heappush(self._parked.setdefault(part, []), (when, packed))
                    continue
            del due[packed]
            out.append((packed, when))
        return out

    def parked(self) -> int:
        """How many due timers wait for their partition's gate (stale entries included)."""
        return sum(len(p) for p in self._parked.values())

    def partitions(self) -> dict[int, int]:
        """How many pending timers each partition has."""
        counts: dict[int, int] = {}
        for packed in self._due:
            part = partition_of(packed)
            counts[part] = counts.get(part, 0) + 1
        return counts

    def drop_partitions(self, partitions: set[int]) -> int:
        """Forget every timer of these partitions (revoked); returns how many."""
        doomed = [p for p in self._due if partition_of(p) in partitions]
        for packed in doomed:
            del self._due[packed]
        for part in partitions:
            self._parked.pop(part, None)
        self._compact()
        return len(doomed)

    def _compact(self) -> None:
        self._heap = [(d, p) for p, d in self._due.items()]
        heapq.heapify(self._heap)
        self._parked = {}  # every pending timer is back in the heap
