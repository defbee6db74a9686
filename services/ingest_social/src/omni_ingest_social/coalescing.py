"""Group commit for concurrent deliveries: one Redis look-up, one Kafka produce, one Redis write per group.

Each delivery still answers only after Kafka acknowledged every one of its messages; when the
group's publish fails, every delivery in it gets the error (503) and the provider retries.
Under light load a group is a single delivery and nothing waits; under heavy load deliveries
arriving while a group is in flight form the next group, so the per-message cost of the Redis
and Kafka round trips falls as load rises.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from omni_service.ingest import Inbound, IngestPipeline, stable_id


@dataclass(frozen=True, slots=True)
class GroupOutcome:
    accepted: int
    duplicates: int


@dataclass(slots=True)
class _Waiter:
    items: Sequence[Inbound]
    started: float
    future: asyncio.Future[GroupOutcome]


class CoalescingAcceptor:
    """`accept` has the contract of IngestPipeline.accept for one delivery; calls are grouped per provider."""

    def __init__(self, pipeline: IngestPipeline, *, max_messages: int = 1000) -> None:
        self.pipeline = pipeline
        self.max_messages = max_messages
        self._pending: dict[str, list[_Waiter]] = {}
        self._draining: dict[str, asyncio.Task[None]] = {}

    async def accept(self, provider: str, items: Sequence[Inbound], *, started: float) -> GroupOutcome:
        future: asyncio.Future[GroupOutcome] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(provider, []).append(_Waiter(items, started, future))
        if provider not in self._draining:
            self._draining[provider] = asyncio.create_task(self._drain(provider), name=f"accept-{provider}")
        return await asyncio.shield(future)

    def _next_group(self, provider: str) -> list[_Waiter]:
        pending = self._pending.get(provider, [])
        group: list[_Waiter] = []
        size = 0
        while pending and (not group or size + len(pending[0].items) <= self.max_messages):
            waiter = pending.pop(0)
            group.append(waiter)
            size += len(waiter.items)
        return group

    async def _drain(self, provider: str) -> None:
        try:
            while group := self._next_group(provider):
                await self._accept_group(provider, group)
        finally:
            del self._draining[provider]
            if self._pending.get(provider):  # arrived after the last check: start again
                self._draining[provider] = asyncio.create_task(self._drain(provider), name=f"accept-{provider}")

    async def _accept_group(self, provider: str, group: list[_Waiter]) -> None:
        try:
            result = await self.pipeline.accept(provider, [i for w in group for i in w.items])
        except BaseException as exc:
            for waiter in group:
                if not waiter.future.done():
                    waiter.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        fresh = set(result.accepted)
        acked = time.perf_counter()
        for waiter in group:
            accepted = 0
            for item in waiter.items:
                message_id = stable_id(provider, item.dedupe_key) if item.dedupe_key else item.message.message_id
                if message_id in fresh:
                    fresh.discard(message_id)  # a message twice in one group is published once
                    accepted += 1
            self.pipeline.metrics.ack_seconds.labels(self.pipeline.service, provider).observe(acked - waiter.started)
            if not waiter.future.done():
                waiter.future.set_result(GroupOutcome(accepted=accepted, duplicates=len(waiter.items) - accepted))
