"""A bounded set of recently seen event ids: the idempotency memory of the fold."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from uuid import UUID

_MASK = (1 << 62) - 1


def short_id(event_id: UUID) -> int:
    """62 bits of a UUID: a small int instead of a UUID object; collisions are negligible in a bounded set."""
    return event_id.int & _MASK


class BoundedIdSet:
    """A set that forgets its oldest member beyond `capacity` (FIFO eviction, O(1) per add)."""

    __slots__ = ("_ids", "_order", "capacity")

    def __init__(self, capacity: int, ids: Iterable[int] = ()) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._ids: set[int] = set()
        self._order: deque[int] = deque()
        for i in ids:
            self.add(i)

    def __contains__(self, item: int) -> bool:
        return item in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, item: int) -> bool:
        """Remember `item`; False when it was already known (a redelivery)."""
        ids = self._ids
        if item in ids:
            return False
        ids.add(item)
        self._order.append(item)
        if len(self._order) > self.capacity:
            ids.discard(self._order.popleft())
        return True

    def to_list(self) -> list[int]:
        return list(self._order)
