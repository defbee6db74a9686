"""ingest_chat settings, from the contract's environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from omni_service.settings import ServiceSettings


class Settings(ServiceSettings):
    """Built inside `create_app`, never at import time."""

    service_name: str = "ingest_chat"
    http_port: int = 8002
    twilio_auth_token: SecretStr = Field(
        default=SecretStr(""), description="Signs Twilio webhooks; empty: all rejected."
    )
    router_url: str = Field(default="http://127.0.0.1:8004", description="The router's agent/admin API.")
    router_timeout_s: float = 5.0
    sms_max_body_bytes: int = Field(default=64 * 1024, description="Twilio webhook body limit (413 above).")
    chat_max_body_bytes: int = Field(default=512 * 1024, description="Web chat body limit (413 above).")
    chat_session_ttl_s: int = Field(default=24 * 3600, description="How long a session that wrote is remembered.")
    chat_allowed_origins: str = Field(
        default="",
        description="Web pages allowed to call the web chat API from a browser (CORS), comma-separated "
        "origins like https://shop.example.jp, or * for any; empty: none (same-origin or server-side only).",
    )

    @property
    def allowed_origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.chat_allowed_origins.split(",") if o.strip()]

    @field_validator("omni_public_base_url")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value and value.strip() else None
