"""Where the services listen (contract section 2) and the secrets the simulator signs with."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from omni_sim.domain.payloads import Secrets

SERVICES = ("ingest_email", "ingest_chat", "ingest_social", "router", "sla", "analytics")
CONTRACT_PORTS = {
    "ingest_email": 8001,
    "ingest_chat": 8002,
    "ingest_social": 8003,
    "router": 8004,
    "sla": 8005,
    "analytics": 8006,
}


@dataclass(frozen=True, slots=True)
class Endpoints:
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=lambda: dict(CONTRACT_PORTS))
    smtp_port: int = 2525
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_suffix: str = ""
    api_token: str = "dev-token"

    def url(self, service: str) -> str:
        return f"http://{self.host}:{self.ports[service]}"

    @property
    def base_urls(self) -> dict[str, str]:
        return {name: self.url(name) for name in self.ports}

    def topic(self, name: str) -> str:
        return name + self.topic_suffix

    def with_ports(self, ports: dict[str, int], *, smtp_port: int | None = None) -> Endpoints:
        return replace(self, ports=dict(ports), smtp_port=smtp_port or self.smtp_port)


def from_env() -> tuple[Endpoints, Secrets]:
    """Endpoints and secrets from the contract's environment variables, with the dev defaults."""
    env = os.environ
    endpoints = Endpoints(
        host=env.get("OMNI_SIM_HOST", "127.0.0.1"),
        kafka_bootstrap=env.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        topic_suffix=env.get("OMNI_TOPIC_SUFFIX", ""),
        api_token=env.get("OMNI_API_TOKEN", "dev-token"),
    )
    defaults = Secrets()
    secrets = Secrets(
        twilio_auth_token=env.get("TWILIO_AUTH_TOKEN", defaults.twilio_auth_token),
        meta_app_secret=env.get("META_APP_SECRET", defaults.meta_app_secret),
        line_channel_secret=env.get("LINE_CHANNEL_SECRET", defaults.line_channel_secret),
        telegram_secret_token=env.get("TELEGRAM_SECRET_TOKEN", defaults.telegram_secret_token),
        x_consumer_secret=env.get("X_CONSUMER_SECRET", defaults.x_consumer_secret),
        mailgun_signing_key=env.get("MAILGUN_SIGNING_KEY", defaults.mailgun_signing_key),
        sendgrid_inbound_user=env.get("SENDGRID_INBOUND_USER", defaults.sendgrid_inbound_user),
        sendgrid_inbound_password=env.get("SENDGRID_INBOUND_PASSWORD", defaults.sendgrid_inbound_password),
    )
    return endpoints, secrets
