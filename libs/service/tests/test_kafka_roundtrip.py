"""Every contract event type through the real broker, and the consumer's poison handling."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable

import pytest
from faststream.kafka import KafkaBroker

from omni_schemas import EVENT_TYPES, new_event, to_record
from omni_schemas.envelope import MAX_EVENT_BYTES
from omni_schemas.examples import EXAMPLES
from omni_schemas.sizing import EventTooLarge
from omni_service.kafka import DEADLETTER_PAYLOAD_BYTES, EventConsumer, EventPublisher, Incoming, PoisonMessage
from omni_service.metrics import ServiceMetrics
from omni_service.testing import read_events

pytestmark = pytest.mark.integration


async def _consume_agents(
    publisher: EventPublisher,
    handler: Callable[[Incoming], Awaitable[None]],
    *,
    until: Callable[[], bool],
    timeout_s: float = 20.0,
) -> None:
    """Run a consumer of omni.agents.v1 (a fresh group) with `handler` until `until()` or the timeout;
    then stop it and `publisher` (its dead-letter publisher)."""
    consumer = EventConsumer(
        bootstrap=publisher.bootstrap,
        topics=["omni.agents.v1"],
        group_id="g" + publisher.topic_suffix,
        handler=handler,
        publisher=publisher,
        metrics=publisher.metrics,
        topic_suffix=publisher.topic_suffix,
    )
    await consumer.start()
    try:
        for _ in range(int(timeout_s * 10)):
            if until():
                break
            await asyncio.sleep(0.1)
    finally:
        await consumer.stop()
        await publisher.stop()


async def test_every_event_type_round_trips_through_kafka_via_faststream(
    kafka_bootstrap: str, topic_suffix: str
) -> None:
    sent = {t: new_event(t, EXAMPLES[t], source="/omni/test") for t in EVENT_TYPES}
    async with KafkaBroker(kafka_bootstrap, enable_idempotence=True) as broker:
        for event in sent.values():
            record = to_record(event)
            await broker.publish(
                record.value,
                topic=record.topic + topic_suffix,
                key=record.key,
                headers={k: v.decode() for k, v in record.headers},
            )
    received = {}
    for topic in {e.topic for e in sent.values()}:
        expected = sum(1 for e in sent.values() if e.topic == topic)
        for event in await read_events(kafka_bootstrap, topic + topic_suffix, count=expected):
            received[event.type] = event
    assert received == sent


async def test_consumer_dead_letters_poison_and_keeps_going(kafka_bootstrap: str, topic_suffix: str) -> None:
    metrics = ServiceMetrics("test")
    publisher = EventPublisher(bootstrap=kafka_bootstrap, service="test", metrics=metrics, topic_suffix=topic_suffix)
    await publisher.start(wait=True)
    good = [
        new_event("omni.agent.presence_changed.v1", {"agent_id": f"a{i}", "status": "available"}, source="/t")
        for i in range(3)
    ]
    topic = "omni.agents.v1" + topic_suffix
    await publisher.publish(good[0])
    await publisher._producer.send_and_wait(topic, b"{not json", key=b"a9")  # type: ignore[union-attr]
    await publisher.publish(good[1])
    await publisher.publish(
        new_event("omni.agent.presence_changed.v1", {"agent_id": "refuse-me", "status": "away"}, source="/t")
    )
    await publisher.publish(good[2])

    handled: list[str] = []

    async def handler(msg: Incoming) -> None:
        agent = msg.event.data.agent_id  # type: ignore[attr-defined]
        if agent == "refuse-me":
            raise PoisonMessage("unknown agent refuse-me")
        handled.append(agent)

    await _consume_agents(publisher, handler, until=lambda: len(handled) >= 3)
    assert sorted(handled) == ["a0", "a1", "a2"]
    dead = await read_events(kafka_bootstrap, "omni.deadletter.v1" + topic_suffix, count=2)
    reasons = sorted(d.data.reason for d in dead)  # type: ignore[attr-defined]
    assert reasons[0].startswith("event is not JSON")
    assert reasons[1] == "unknown agent refuse-me"
    assert sorted(d.data.key for d in dead) == ["a9", "refuse-me"]  # type: ignore[attr-defined]
    places = {(d.data.source_partition, d.data.source_offset) for d in dead}  # type: ignore[attr-defined]
    assert len(places) == 2
    assert b"{not json" in {__import__("base64").b64decode(d.data.payload_base64) for d in dead}  # type: ignore[attr-defined]


async def test_a_poison_record_of_a_megabyte_is_dead_lettered_cut_and_the_consumer_goes_on(
    kafka_bootstrap: str, topic_suffix: str
) -> None:
    # before: its dead letter (base64, 1.3 MB) was refused by the broker and retried forever, so the
    # partition never moved again
    metrics = ServiceMetrics("test")
    publisher = EventPublisher(bootstrap=kafka_bootstrap, service="test", metrics=metrics, topic_suffix=topic_suffix)
    await publisher.start(wait=True)
    topic = "omni.agents.v1" + topic_suffix
    poison = b"{" + b"x" * 1_000_000
    long_key = b"k" * 10_000
    assert publisher._producer is not None
    await publisher._producer.send_and_wait(topic, poison, key=long_key)
    await publisher.publish(
        new_event("omni.agent.presence_changed.v1", {"agent_id": "after", "status": "away"}, source="/t")
    )
    handled: list[str] = []

    async def handler(msg: Incoming) -> None:
        handled.append(msg.event.data.agent_id)  # type: ignore[attr-defined]

    await _consume_agents(publisher, handler, until=lambda: bool(handled), timeout_s=30)
    assert handled == ["after"]
    (dead,) = await read_events(kafka_bootstrap, "omni.deadletter.v1" + topic_suffix, count=1)
    data = dead.data
    kept = base64.b64decode(data.payload_base64)  # type: ignore[attr-defined]
    assert (len(kept), data.payload_size) == (DEADLETTER_PAYLOAD_BYTES, len(poison))  # type: ignore[attr-defined]
    assert poison.startswith(kept)
    assert f"first {DEADLETTER_PAYLOAD_BYTES} of {len(poison)} bytes kept" in data.reason  # type: ignore[attr-defined]
    assert data.key == "k" * 4096  # type: ignore[attr-defined]


async def test_an_event_larger_than_consumers_read_is_refused_at_once_not_retried(
    kafka_bootstrap: str, topic_suffix: str
) -> None:
    publisher = EventPublisher(
        bootstrap=kafka_bootstrap, service="test", metrics=ServiceMetrics("test"), topic_suffix=topic_suffix
    )
    await publisher.start(wait=True)
    huge = new_event(
        "omni.deadletter.v1",
        {"payload_base64": "A" * (MAX_EVENT_BYTES + 1), "reason": "r", "failed_at": "2026-11-30T00:00:00Z"},
        source="/t",
    )
    try:
        with pytest.raises(EventTooLarge, match="over the"):
            await publisher.publish(huge)
    finally:
        await publisher.stop()


async def test_offsets_are_committed_only_after_handling(kafka_bootstrap: str, topic_suffix: str) -> None:
    metrics = ServiceMetrics("test")
    publisher = EventPublisher(bootstrap=kafka_bootstrap, service="test", metrics=metrics, topic_suffix=topic_suffix)
    await publisher.start(wait=True)
    await publisher.publish_many(
        [
            new_event("omni.agent.presence_changed.v1", {"agent_id": "x", "status": s}, source="/t")
            for s in ("available", "busy", "away")
        ]
    )
    seen: list[str] = []
    fail_first = True

    async def flaky(msg: Incoming) -> None:
        nonlocal fail_first
        if fail_first:
            fail_first = False
            raise ConnectionError("database away")  # transient: retried, never skipped
        seen.append(msg.event.data.status.value)  # type: ignore[attr-defined]

    group = "g" + topic_suffix
    consumer = EventConsumer(
        bootstrap=kafka_bootstrap,
        topics=["omni.agents.v1"],
        group_id=group,
        handler=flaky,
        publisher=publisher,
        metrics=metrics,
        topic_suffix=topic_suffix,
    )
    await consumer.start()
    for _ in range(200):
        if len(seen) >= 3:
            break
        await asyncio.sleep(0.1)
    await consumer.stop()
    assert seen == ["available", "busy", "away"]

    again: list[str] = []

    async def record(msg: Incoming) -> None:
        again.append(msg.event.type)

    second = EventConsumer(
        bootstrap=kafka_bootstrap,
        topics=["omni.agents.v1"],
        group_id=group,
        handler=record,
        publisher=publisher,
        metrics=metrics,
        topic_suffix=topic_suffix,
    )
    await second.start()
    await asyncio.sleep(3)
    await second.stop()
    await publisher.stop()
    assert again == []  # the same group resumes after the committed offsets
