"""ingest_email tests: this directory is on sys.path, so tests import `email_samples`."""

from __future__ import annotations

import pytest
from email_samples import SECRETS

from omni_ingest_email.settings import EmailSettings


@pytest.fixture
def email_settings(kafka_bootstrap: str, topic_suffix: str, redis_url: str) -> EmailSettings:
    """Settings on this test's fresh topics and flushed Redis, SMTP on a free local port."""
    return EmailSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        redis_url=redis_url,
        omni_topic_suffix=topic_suffix,
        smtp_host="127.0.0.1",
        smtp_port=0,
        log_format="console",
        **SECRETS,  # type: ignore[arg-type]
    )
