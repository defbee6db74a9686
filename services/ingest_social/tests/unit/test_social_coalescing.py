"""The group commit in front of the shared ingest pipeline, over a stand-in pipeline (no servers)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from social_samples import dumps, line_event

from omni_ingest_social.coalescing import CoalescingAcceptor
from omni_ingest_social.domain import detect_language, parse_line
from omni_service.ingest import AcceptResult, Inbound, stable_id
from omni_service.kafka import KafkaUnavailable
from omni_service.metrics import ServiceMetrics


class StandInPipeline:
    """Records each group; the first `fail` groups raise KafkaUnavailable; remembers published keys."""

    def __init__(self, *, fail: int = 0) -> None:
        from omni_service.ingest import IngestMetrics

        self.groups: list[list[str]] = []
        self.fail = fail
        self.seen: set[str] = set()
        self.service = "test"
        self.metrics = IngestMetrics(ServiceMetrics("test"))

    async def accept(self, provider: str, items: Sequence[Inbound], **_: Any) -> AcceptResult:
        await asyncio.sleep(0.01)  # an in-flight produce, so concurrent callers queue up
        self.groups.append([str(i.dedupe_key) for i in items])
        if len(self.groups) <= self.fail:
            raise KafkaUnavailable("broker away")
        result = AcceptResult()
        for item in items:
            key = str(item.dedupe_key)
            if key in self.seen:
                result.duplicates += 1
            else:
                self.seen.add(key)
                result.accepted.append(stable_id(provider, key))
        return result


def _items(*keys: str) -> list[Inbound]:
    body = dumps({"events": [line_event("hello", event_id=k) for k in keys]})
    parsed = parse_line(body, received_at=datetime(2026, 1, 1, tzinfo=UTC), detect=detect_language)
    return [Inbound(message=r.message, dedupe_key=r.dedupe_key) for r in parsed.routed]


async def test_deliveries_arriving_during_a_produce_form_the_next_group() -> None:
    pipeline = StandInPipeline()
    acceptor = CoalescingAcceptor(pipeline)  # type: ignore[arg-type]
    first = asyncio.create_task(acceptor.accept("line", _items("k0"), started=0.0))
    await asyncio.sleep(0.001)  # its produce is in flight
    later = await asyncio.gather(*(acceptor.accept("line", _items(f"k{i}"), started=0.0) for i in range(1, 5)))
    outcomes = [await first, *later]
    assert [(o.accepted, o.duplicates) for o in outcomes] == [(1, 0)] * 5
    assert pipeline.groups == [["k0"], ["k1", "k2", "k3", "k4"]]


async def test_a_message_twice_in_one_group_counts_once_and_redelivery_is_a_duplicate() -> None:
    pipeline = StandInPipeline()
    acceptor = CoalescingAcceptor(pipeline)  # type: ignore[arg-type]
    first = await acceptor.accept("line", _items("a"), started=0.0)
    outcomes = await asyncio.gather(
        *(acceptor.accept("line", _items(*keys), started=0.0) for keys in (["b"], ["c", "a"], ["c"]))
    )
    assert (first.accepted, first.duplicates) == (1, 0)
    assert sum(o.accepted for o in outcomes) == 2
    assert sum(o.duplicates for o in outcomes) == 2


async def test_a_failed_produce_fails_every_delivery_of_its_group_and_the_retry_succeeds() -> None:
    pipeline = StandInPipeline(fail=1)
    acceptor = CoalescingAcceptor(pipeline)  # type: ignore[arg-type]
    results = await asyncio.gather(
        *(acceptor.accept("line", _items(f"k{i}"), started=0.0) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, KafkaUnavailable) for r in results)
    assert pipeline.groups == [["k0", "k1", "k2"]]
    retried = await acceptor.accept("line", _items("k0", "k1", "k2"), started=0.0)
    assert (retried.accepted, retried.duplicates) == (3, 0)


async def test_a_group_never_exceeds_the_message_limit() -> None:
    pipeline = StandInPipeline()
    acceptor = CoalescingAcceptor(pipeline, max_messages=3)  # type: ignore[arg-type]
    await asyncio.gather(*(acceptor.accept("line", _items(f"a{i}", f"b{i}"), started=0.0) for i in range(4)))
    assert [len(g) for g in pipeline.groups] == [2, 2, 2, 2]


@pytest.mark.parametrize("provider", ["line", "meta"])
async def test_providers_are_grouped_separately(provider: str) -> None:
    pipeline = StandInPipeline()
    acceptor = CoalescingAcceptor(pipeline)  # type: ignore[arg-type]
    await asyncio.gather(
        acceptor.accept(provider, _items("x"), started=0.0), acceptor.accept("telegram", _items("y"), started=0.0)
    )
    assert sorted(pipeline.groups) == [["x"], ["y"]]
