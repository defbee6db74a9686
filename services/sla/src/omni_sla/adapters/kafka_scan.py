"""Which of some event ids are already on a topic: read every partition from a time to its end."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition


async def published_ids(
    bootstrap: str, topic: str, *, since: datetime, wanted: set[UUID], margin: timedelta = timedelta(seconds=30)
) -> set[UUID]:
    """The ids in `wanted` found on `topic` in records appended since `since - margin`."""
    if not wanted:
        return set()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    found: set[UUID] = set()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return found
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.offsets_for_times({tp: int((since - margin).timestamp() * 1000) for tp in tps})
        remaining = set()
        for tp in tps:
            start = starts.get(tp)
            if start is None or start.offset >= ends[tp]:
                continue
            consumer.seek(tp, start.offset)
            remaining.add(tp)
        wanted_text = {str(u) for u in wanted}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    try:
                        event_id = orjson.loads(record.value).get("id")
                    except (orjson.JSONDecodeError, AttributeError):
                        continue
                    if event_id in wanted_text:
                        found.add(UUID(event_id))
                    if record.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return found
    finally:
        await consumer.stop()
