"""Settings of ingest_social: the shared ones plus each provider's secret (unset = channel off)."""

from __future__ import annotations

import hashlib

from pydantic import Field, SecretStr

from omni_service.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "ingest_social"
    http_port: int = 8003
    meta_app_secret: SecretStr | None = Field(default=None, description="Meta app secret (X-Hub-Signature-256).")
    meta_verify_token: SecretStr | None = Field(default=None, description="Token echoed in Meta's hub.verify_token.")
    line_channel_secret: SecretStr | None = Field(default=None, description="LINE channel secret.")
    telegram_secret_token: SecretStr | None = Field(default=None, description="setWebhook secret_token.")
    telegram_bot_id: str | None = Field(
        default=None, description="Scope of Telegram update ids; defaults to a hash of the secret token."
    )
    x_consumer_secret: SecretStr | None = Field(default=None, description="X app consumer (API key) secret.")
    max_body_bytes: int = Field(default=1024 * 1024, description="Body limit of LINE, Telegram and X webhooks.")
    meta_max_body_bytes: int = Field(default=4 * 1024 * 1024, description="Meta batches up to 1000 updates.")

    def secret(self, name: str) -> str | None:
        """A configured secret's value, or None when unset or empty (that channel answers 503)."""
        value: SecretStr | None = getattr(self, name)
        text = value.get_secret_value() if value is not None else ""
        return text or None

    @property
    def telegram_scope(self) -> str:
        if self.telegram_bot_id:
            return self.telegram_bot_id
        token = self.secret("telegram_secret_token") or ""
        return "s" + hashlib.sha256(token.encode()).hexdigest()[:12]
