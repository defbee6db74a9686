"""`python -m omni_service.topics`: create the contract's topics where missing."""

from __future__ import annotations

import asyncio
import os

from omni_service.kafka import ensure_topics

if __name__ == "__main__":
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    created = asyncio.run(ensure_topics(bootstrap, suffix=os.environ.get("OMNI_TOPIC_SUFFIX", "")))
    print(f"topics created: {', '.join(created) if created else 'none (all present)'}")
