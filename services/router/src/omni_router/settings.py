"""The router's settings: the shared ones plus where the routing rules live and the loop pacing."""

from __future__ import annotations

from pydantic import Field

from omni_service.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "router"
    http_port: int = 8004
    omni_routing_config: str = Field(default="config/routing.yaml", description="Routing rules (YAML).")
    router_tick_s: float = Field(
        default=0.2, gt=0, description="How often timers fire and other replicas' changes are read."
    )
    router_full_sync_s: float = Field(default=10.0, gt=0, description="How often the whole live state is re-read.")
