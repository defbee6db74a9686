"""Settings of the analytics service (environment variables, 12-factor)."""

from __future__ import annotations

from pydantic import Field

from omni_analytics.domain import KpiConfig
from omni_service.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "analytics"
    http_port: int = 8006
    analytics_window_seconds: float = Field(default=3600.0, gt=0, description="Rolling window of the ratio gauges.")
    analytics_service_level_seconds: dict[str, float] = Field(
        default_factory=dict,
        description='Answer threshold per queue, JSON: {"billing": 3600, "vip": 20}.',
    )
    analytics_service_level_default_seconds: float = Field(default=60.0, gt=0)
    analytics_checkpoint_seconds: float = Field(
        default=5.0, gt=0, description="How often state and offsets are saved together in PostgreSQL."
    )
    analytics_closed_conversations: int = Field(default=20_000, ge=100)
    analytics_recent_ids: int = Field(default=100_000, ge=1000)
    analytics_batch_size: int = Field(default=2000, ge=1)

    def kpi_config(self) -> KpiConfig:
        return KpiConfig(
            window_s=self.analytics_window_seconds,
            service_level_s=dict(self.analytics_service_level_seconds),
            default_service_level_s=self.analytics_service_level_default_seconds,
            closed_conversations=self.analytics_closed_conversations,
            recent_ids=self.analytics_recent_ids,
        )
