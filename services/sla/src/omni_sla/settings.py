"""Settings of the SLA service (the contract's environment variables plus its own)."""

from __future__ import annotations

from pydantic import Field

from omni_service.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "sla"
    http_port: int = 8005
    omni_sla_config: str = Field(default="config/sla.yaml", description="Path of the SLA policies file.")
    sla_fire_batch: int = Field(default=2000, ge=1, description="Most timers fired in one transaction.")
