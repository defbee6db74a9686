"""The pure core of the SLA service: business-time arithmetic, policies and the clock state machine."""

from omni_sla.domain.business_hours import BusinessCalendar, add_business_time, business_time_between
from omni_sla.domain.clocks import (
    ConversationClocks,
    ConversationFact,
    Emission,
    Fact,
    Kind,
    Outcome,
    Timer,
    TimerKey,
    apply,
    fire,
)
from omni_sla.domain.durations import parse_duration
from omni_sla.domain.policies import ConfigError, Metric, Policy, SlaConfig, load_config

__all__ = [
    "BusinessCalendar",
    "ConfigError",
    "ConversationClocks",
    "ConversationFact",
    "Emission",
    "Fact",
    "Kind",
    "Metric",
    "Outcome",
    "Policy",
    "SlaConfig",
    "Timer",
    "TimerKey",
    "add_business_time",
    "apply",
    "business_time_between",
    "fire",
    "load_config",
    "parse_duration",
]
