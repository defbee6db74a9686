"""ingest_social tests: this directory is on sys.path, so tests import `social_samples`."""

from __future__ import annotations

import pytest
from social_samples import SECRETS

from omni_ingest_social.settings import Settings


@pytest.fixture
def social_settings(infra: dict[str, str], topic_suffix: str, redis_url: str) -> Settings:
    """Settings pointing at this test's fresh topics and flushed Redis, with every channel configured."""
    return Settings(
        kafka_bootstrap_servers=infra["kafka"],
        redis_url=redis_url,
        omni_topic_suffix=topic_suffix,
        log_format="console",
        **SECRETS,  # type: ignore[arg-type]
    )
