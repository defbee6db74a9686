"""Settings of the SLA service (the contract's environment variables plus its own)."""

from __future__ import annotations

from pydantic import Field

from omni_service.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "sla"
    http_port: int = 8005
    omni_sla_config: str = Field(default="config/sla.yaml", description="Path of the SLA policies file.")
    sla_fire_batch: int = Field(default=2000, ge=1, description="Most timers fired in one transaction.")
    sla_settle_ms: int = Field(
        default=200,
        ge=0,
        le=60_000,
        description="A timer fires only once the events up to its due instant plus this long are read: "
        "room for a reply produced just before the deadline to reach the broker.",
    )
