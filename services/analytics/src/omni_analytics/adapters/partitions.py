"""Every partition of the consumed topics, assigned by hand and positioned from the checkpoint.

KPIs are global (the oldest wait of a queue, a ratio over all channels), so one process folds
every partition: no consumer group, no Kafka-committed offsets. The checkpoint in PostgreSQL
holds the offsets, saved in the same row as the state they produced.
"""

from __future__ import annotations

import contextlib
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from omni_service.kafka import start_with_retry

log = structlog.get_logger(__name__)


class PartitionReader:
    """Reads all partitions of `topics` (contract names) from given offsets, or from the beginning."""

    def __init__(
        self, *, bootstrap: str, topics: list[str], suffix: str = "", client_id: str = "omni-analytics"
    ) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.suffix = suffix
        self.client_id = client_id
        self.consumer: AIOKafkaConsumer | None = None
        self.assigned: set[TopicPartition] = set()

    def contract_name(self, real: str) -> str:
        return real[: len(real) - len(self.suffix)] if self.suffix and real.endswith(self.suffix) else real

    async def connect(self) -> None:
        """Connect, retrying while Kafka is away."""
        self.consumer = await start_with_retry(
            lambda: AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                client_id=self.client_id,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                isolation_level="read_committed",
                fetch_max_wait_ms=100,
                max_partition_fetch_bytes=2 * 1024 * 1024,
            ),
            what="kafka consumer",
        )

    async def partitions(self) -> set[TopicPartition]:
        assert self.consumer is not None
        found: set[TopicPartition] = set()
        for topic in self.topics:
            real = topic + self.suffix
            parts = self.consumer.partitions_for_topic(real)
            if not parts:
                await self.consumer._client.force_metadata_update()  # topics created after we started
                parts = self.consumer.partitions_for_topic(real)
            found |= {TopicPartition(real, p) for p in parts or ()}
        return found

    async def assign(self, offsets: dict[tuple[str, int], int]) -> set[tuple[str, int]]:
        """Assign every partition known now (new ones too); position new ones at `offsets` or the beginning."""
        assert self.consumer is not None
        parts = await self.partitions()
        new = parts - self.assigned
        if not new:
            return set()
        self.assigned = parts
        self.consumer.assign(sorted(parts))
        for tp in new:
            saved = offsets.get((self.contract_name(tp.topic), tp.partition))
            if saved is None:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, saved)
        return {(self.contract_name(tp.topic), tp.partition) for tp in new}

    async def end_offsets(self) -> dict[tuple[str, int], int]:
        assert self.consumer is not None
        ends = await self.consumer.end_offsets(sorted(self.assigned))
        return {(self.contract_name(tp.topic), tp.partition): off for tp, off in ends.items()}

    async def fetch(self, *, max_records: int, timeout_ms: int = 200) -> dict[TopicPartition, list[Any]]:
        assert self.consumer is not None
        return await self.consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)

    async def position(self, key: tuple[str, int]) -> int:
        """The next offset this reader will fetch from the partition (contract topic, partition)."""
        assert self.consumer is not None
        return int(await self.consumer.position(TopicPartition(key[0] + self.suffix, key[1])))

    def highwater(self, tp: TopicPartition) -> int | None:
        assert self.consumer is not None
        return self.consumer.highwater(tp)

    async def close(self) -> None:
        if self.consumer is not None:
            with contextlib.suppress(Exception):
                await self.consumer.stop()
            self.consumer = None
