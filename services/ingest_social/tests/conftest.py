"""ingest_social tests: this directory is on sys.path, so tests import `social_samples`."""

from __future__ import annotations

import pytest

from omni_ingest_social.settings import Settings

SECRETS = {
    "meta_app_secret": "meta-app-secret",
    "meta_verify_token": "meatyhamhock",
    "line_channel_secret": "line-channel-secret",
    "telegram_secret_token": "tg_Secret-Token_123",
    "x_consumer_secret": "x-consumer-secret",
}


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
