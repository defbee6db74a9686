"""Settings every service shares, read from the contract's environment variables."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Subclass per service; build it inside the composition root, never at import time."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    service_name: str = "omni"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    database_url: str = "postgresql://omni:omni@127.0.0.1:5432/omni"
    redis_url: str = "redis://127.0.0.1:6379/0"
    omni_api_token: SecretStr = SecretStr("dev-token")
    omni_public_base_url: str | None = None
    omni_topic_suffix: str = Field(default="", description="Appended to every topic name; tests use it.")
    http_host: str = "0.0.0.0"
    http_port: int = 8000
    log_level: str = "INFO"
    log_format: str = Field(default="json", description="json, or console for humans.")
    max_body_bytes: int = 1024 * 1024

    @field_validator("*", mode="after")
    @classmethod
    def _strip_secrets(cls, value: Any) -> Any:
        """A secret mounted from a file or `kubectl create secret --from-file` often ends in a newline;
        no provider's secret does, and a signature computed with it would never match."""
        if isinstance(value, SecretStr) and value.get_secret_value() != value.get_secret_value().strip():
            return SecretStr(value.get_secret_value().strip())
        return value

    def topic(self, name: str) -> str:
        """The real topic name for a contract topic name."""
        return name + self.omni_topic_suffix

    @property
    def consumer_group_prefix(self) -> str:
        return "omni" + self.omni_topic_suffix
