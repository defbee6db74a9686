"""Settings of ingest_email (the contract's env names plus SMTP and size limits)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from omni_service.settings import ServiceSettings


class EmailSettings(ServiceSettings):
    service_name: str = "ingest_email"
    http_port: int = 8001
    smtp_enabled: bool = Field(default=True, description="Listen for raw mail over SMTP (SMTP_ENABLED).")
    smtp_host: str = "0.0.0.0"
    smtp_port: int = Field(default=2525, description="0 picks a free port (tests).")
    smtp_hostname: str | None = Field(default=None, description="Name in the SMTP greeting; default the host's FQDN.")
    max_body_bytes: int = Field(
        default=30 * 1024 * 1024, description="Largest mail (SMTP, 552 above) and webhook body (413 above)."
    )
    mailgun_signing_key: SecretStr | None = None
    sendgrid_inbound_user: str | None = None
    sendgrid_inbound_password: SecretStr | None = None
    thread_memory_days: int = Field(default=180, description="How long a Message-ID's thread is remembered.")
    parse_in_thread_bytes: int = Field(default=256 * 1024, description="Bodies above this are parsed off the loop.")
