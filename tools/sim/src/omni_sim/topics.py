"""Reading omni's topics: positions at a run's start, a live tail, and a bounded read for checks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from omni_schemas import CloudEvent, EventValidationError, parse_event

Positions = dict[TopicPartition, int]


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    for _ in range(100):
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return [TopicPartition(topic, p) for p in sorted(parts)]
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} does not exist (run `make topics`)")


async def end_positions(bootstrap: str, topics: list[str]) -> Positions:
    """The current end offset of every partition of `topics`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        tps = [tp for topic in topics for tp in await _partitions(consumer, topic)]
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


def _decode(record: object) -> CloudEvent | None:
    try:
        return parse_event(record.value)  # type: ignore[attr-defined]
    except EventValidationError:
        return None


async def read_since(bootstrap: str, start: Positions, *, timeout_s: float = 60.0) -> dict[str, list[CloudEvent]]:
    """Every event from `start` up to the end offsets of now, by topic, in partition order."""
    out: dict[str, list[CloudEvent]] = {tp.topic: [] for tp in start}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        tps = list(start)
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        todo = {tp for tp in tps if ends[tp] > start[tp]}
        for tp in tps:
            consumer.seek(tp, start[tp])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while todo and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue
                    event = _decode(record)
                    if event is not None:
                        out[tp.topic].append(event)
                if records and records[-1].offset >= ends[tp] - 1:
                    todo.discard(tp)
            for tp in list(todo):
                if await consumer.position(tp) >= ends[tp]:
                    todo.discard(tp)
        if todo:
            raise TimeoutError(f"could not read {sorted(str(t) for t in todo)} to the end in {timeout_s}s")
        return out
    finally:
        await consumer.stop()


class Tail:
    """A live reader of topics from given positions; calls `handler(topic, event)` for each event."""

    def __init__(self, bootstrap: str, start: Positions, handler: Callable[[str, CloudEvent], Awaitable[None]]) -> None:
        self.bootstrap = bootstrap
        self.start_positions = start
        self.handler = handler
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            group_id=None,
            isolation_level="read_committed",
            request_timeout_ms=15000,
        )
        await self._consumer.start()
        self._consumer.assign(list(self.start_positions))
        for tp, offset in self.start_positions.items():
            self._consumer.seek(tp, offset)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=200, max_records=2000)
            except KafkaError:
                await asyncio.sleep(0.5)  # the broker is restarting; the consumer reconnects itself
                continue
            for tp, records in batch.items():
                for record in records:
                    event = _decode(record)
                    if event is not None:
                        await self.handler(tp.topic, event)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        if self._consumer is not None:
            await self._consumer.stop()
