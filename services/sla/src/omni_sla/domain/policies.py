"""SLA policies: ordered match conditions, targets per metric, a calendar, when to warn.

`load_config` turns the parsed YAML document into an `SlaConfig`, or raises `ConfigError`
naming the place (`policies[1].targets.first_response: ...`). `SlaConfig.match` picks the
first policy whose conditions all hold and says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from omni_sla.domain.business_hours import WEEKDAYS, BusinessCalendar
from omni_sla.domain.durations import format_duration, parse_duration


class Metric(StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


class ConfigError(ValueError):
    """The SLA file is invalid; `place` is the dotted path of the offending key."""

    def __init__(self, place: str, message: str) -> None:
        super().__init__(f"{place}: {message}" if place else message)
        self.place = place


@dataclass(frozen=True, slots=True)
class Match:
    """Conditions on a conversation; `None` means any value."""

    channel: frozenset[str] | None = None
    queue: frozenset[str] | None = None
    priority: tuple[int, int] | None = None
    """Inclusive range."""
    tier: frozenset[str] | None = None

    def test(self, *, channel: str | None, queue: str | None, priority: int | None, tier: str | None) -> bool:
        if self.channel is not None and channel not in self.channel:
            return False
        if self.queue is not None and queue not in self.queue:
            return False
        if self.priority is not None and (priority is None or not self.priority[0] <= priority <= self.priority[1]):
            return False
        return self.tier is None or tier in self.tier

    def describe(self) -> str:
        parts = []
        for name, values in (("channel", self.channel), ("queue", self.queue), ("tier", self.tier)):
            if values is not None:
                parts.append(f"{name} in {sorted(values)}")
        if self.priority is not None:
            parts.append(f"priority {self.priority[0]}..{self.priority[1]}")
        return " and ".join(parts) or "any conversation"


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    match: Match
    calendar: BusinessCalendar | None
    targets: Mapping[Metric, timedelta]
    warn_at: float | None = 0.8
    """Fraction of the target elapsed when the warning is due; or None with `warn_before`."""
    warn_before: timedelta | None = None
    """Fixed lead time before the breach; wins over `warn_at` when both are set."""
    pause_resolution_on_customer: bool = False
    """Stop the resolution clock while the conversation waits on the customer."""

    def warn_after(self, metric: Metric) -> timedelta | None:
        """Business time after the start at which the warning is due; None for no warning."""
        target = self.targets[metric]
        if self.warn_before is not None:
            lead = target - self.warn_before
            return lead if lead > timedelta(0) else None
        if self.warn_at is None:
            return None
        return timedelta(seconds=target.total_seconds() * self.warn_at)


@dataclass(frozen=True, slots=True)
class PolicyChoice:
    """Which policy applies, and why."""

    policy: Policy
    reason: str


@dataclass(frozen=True)
class SlaConfig:
    calendars: Mapping[str, BusinessCalendar]
    policies: Sequence[Policy]
    by_name: Mapping[str, Policy] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {p.name: p for p in self.policies})

    def match(
        self, *, channel: str | None, queue: str | None, priority: int | None, tier: str | None
    ) -> PolicyChoice | None:
        """The first policy whose conditions hold (first match wins), or None."""
        for position, policy in enumerate(self.policies):
            if policy.match.test(channel=channel, queue=queue, priority=priority, tier=tier):
                return PolicyChoice(policy, f"policy #{position + 1} {policy.name!r}: {policy.match.describe()}")
        return None


# --- loading ----------------------------------------------------------------------------

_POLICY_KEYS = {"name", "match", "calendar", "targets", "warn_at", "warn_before", "pause_resolution_on_customer"}
_CALENDAR_KEYS = {"timezone", "hours", "holidays", "holiday_subdivision", "closed"}
_MATCH_KEYS = {"channel", "queue", "priority", "tier"}


def _strings(value: Any, place: str) -> frozenset[str]:
    items = [value] if isinstance(value, str | int) and not isinstance(value, bool) else value
    if not isinstance(items, list) or not items:
        raise ConfigError(place, f"expected a name or a non-empty list of names, got {value!r}")
    for item in items:
        if not isinstance(item, str | int) or isinstance(item, bool):
            raise ConfigError(place, f"expected names, got {item!r}")
    return frozenset(str(i) for i in items)


def _priority(value: Any, place: str) -> tuple[int, int]:
    def number(v: Any, where: str) -> int:
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 100:
            raise ConfigError(where, f"expected a priority 0-100, got {v!r}")
        return v

    if isinstance(value, Mapping):
        extra = set(value) - {"min", "max"}
        if extra:
            raise ConfigError(f"{place}.{sorted(extra)[0]}", "unknown key; use min and max")
        low = number(value.get("min", 0), f"{place}.min")
        high = number(value.get("max", 100), f"{place}.max")
        if low > high:
            raise ConfigError(place, f"min {low} is above max {high}")
        return low, high
    if isinstance(value, list):
        values = [number(v, f"{place}[{i}]") for i, v in enumerate(value)]
        if not values:
            raise ConfigError(place, "expected at least one priority")
        if sorted(values) != list(range(min(values), max(values) + 1)):
            raise ConfigError(place, "a list of priorities must be contiguous; use {min: .., max: ..}")
        return min(values), max(values)
    v = number(value, place)
    return v, v


def _calendar(name: str, doc: Any, place: str) -> BusinessCalendar:
    if not isinstance(doc, Mapping):
        raise ConfigError(place, f"expected a mapping with timezone and hours, got {doc!r}")
    extra = set(doc) - _CALENDAR_KEYS
    if extra:
        raise ConfigError(f"{place}.{sorted(extra)[0]}", f"unknown key; expected one of {sorted(_CALENDAR_KEYS)}")
    if "timezone" not in doc:
        raise ConfigError(f"{place}.timezone", "required (an IANA zone like Asia/Tokyo)")
    hours = doc.get("hours")
    if not isinstance(hours, Mapping) or not hours:
        raise ConfigError(f"{place}.hours", f'expected weekday to shifts, like {{mon: "09:00-18:00"}}, got {hours!r}')
    for day in hours:
        if day not in WEEKDAYS:
            raise ConfigError(f"{place}.hours.{day}", f"unknown weekday; use {', '.join(WEEKDAYS)}")
    closed: list[date] = []
    raw_closed = doc.get("closed") or []
    if not isinstance(raw_closed, list):
        raise ConfigError(f"{place}.closed", "expected a list of dates (YYYY-MM-DD)")
    for i, item in enumerate(raw_closed):
        if isinstance(item, date):
            closed.append(item)
            continue
        try:
            closed.append(date.fromisoformat(str(item)))
        except ValueError:
            raise ConfigError(f"{place}.closed[{i}]", f"expected a date YYYY-MM-DD, got {item!r}") from None
    country = doc.get("holidays")
    if country is not None and not isinstance(country, str):
        raise ConfigError(f"{place}.holidays", f"expected a country code like JP, got {country!r}")
    for day, shifts in hours.items():
        try:
            BusinessCalendar.from_hours("probe", "UTC", {day: shifts})
        except ValueError as exc:
            raise ConfigError(f"{place}.hours.{day}", str(exc)) from None
    try:
        return BusinessCalendar.from_hours(
            name,
            str(doc["timezone"]),
            hours,
            holiday_country=country,
            holiday_subdivision=doc.get("holiday_subdivision"),
            closed=closed,
        )
    except ValueError as exc:
        where = "timezone" if "zone" in str(exc) else "holidays" if "holidays" in str(exc) else "hours"
        raise ConfigError(f"{place}.{where}", str(exc)) from None


def _duration(value: Any, place: str) -> timedelta:
    try:
        return parse_duration(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(place, str(exc)) from None


def _policy(doc: Any, place: str, calendars: Mapping[str, BusinessCalendar]) -> Policy:
    if not isinstance(doc, Mapping):
        raise ConfigError(place, f"expected a mapping, got {doc!r}")
    extra = set(doc) - _POLICY_KEYS
    if extra:
        raise ConfigError(f"{place}.{sorted(extra)[0]}", f"unknown key; expected one of {sorted(_POLICY_KEYS)}")
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{place}.name", "required: a non-empty name")
    raw_match = doc.get("match") or {}
    if not isinstance(raw_match, Mapping):
        raise ConfigError(f"{place}.match", f"expected a mapping of channel/queue/priority/tier, got {raw_match!r}")
    extra = set(raw_match) - _MATCH_KEYS
    if extra:
        raise ConfigError(f"{place}.match.{sorted(extra)[0]}", f"unknown key; expected one of {sorted(_MATCH_KEYS)}")
    match = Match(
        channel=_strings(raw_match["channel"], f"{place}.match.channel") if "channel" in raw_match else None,
        queue=_strings(raw_match["queue"], f"{place}.match.queue") if "queue" in raw_match else None,
        priority=_priority(raw_match["priority"], f"{place}.match.priority") if "priority" in raw_match else None,
        tier=_strings(raw_match["tier"], f"{place}.match.tier") if "tier" in raw_match else None,
    )
    calendar_name = doc.get("calendar")
    calendar = None
    if calendar_name is not None:
        if calendar_name not in calendars:
            known = ", ".join(sorted(calendars)) or "none defined"
            raise ConfigError(f"{place}.calendar", f"unknown calendar {calendar_name!r} (known: {known})")
        calendar = calendars[calendar_name]
    raw_targets = doc.get("targets")
    if not isinstance(raw_targets, Mapping) or not raw_targets:
        raise ConfigError(f"{place}.targets", "required: at least one of first_response, next_response, resolution")
    targets: dict[Metric, timedelta] = {}
    for key, value in raw_targets.items():
        try:
            metric = Metric(key)
        except ValueError:
            raise ConfigError(
                f"{place}.targets.{key}", "unknown metric; use first_response, next_response or resolution"
            ) from None
        target = _duration(value, f"{place}.targets.{key}")
        if target <= timedelta(0):
            raise ConfigError(f"{place}.targets.{key}", "must be longer than zero")
        targets[metric] = target
    warn_at = doc.get("warn_at", 0.8 if "warn_before" not in doc else None)
    if warn_at is not None and (
        isinstance(warn_at, bool) or not isinstance(warn_at, int | float) or not 0 < warn_at < 1
    ):
        raise ConfigError(f"{place}.warn_at", f"expected a fraction between 0 and 1 (exclusive), got {warn_at!r}")
    warn_before = None
    if doc.get("warn_before") is not None:
        warn_before = _duration(doc["warn_before"], f"{place}.warn_before")
        for metric, target in targets.items():
            if warn_before >= target:
                raise ConfigError(
                    f"{place}.warn_before",
                    f"{format_duration(warn_before)} is not shorter than "
                    f"the {metric.value} target {format_duration(target)}",
                )
    pause = doc.get("pause_resolution_on_customer", False)
    if not isinstance(pause, bool):
        raise ConfigError(f"{place}.pause_resolution_on_customer", f"expected true or false, got {pause!r}")
    return Policy(
        name.strip(), match, calendar, targets, None if warn_at is None else float(warn_at), warn_before, pause
    )


def load_config(doc: Any) -> SlaConfig:
    """Validate a parsed SLA document; `ConfigError` names the place of the first problem."""
    if not isinstance(doc, Mapping):
        raise ConfigError("", f"the SLA file must be a mapping with calendars and policies, got {type(doc).__name__}")
    extra = set(doc) - {"calendars", "policies"}
    if extra:
        raise ConfigError(sorted(extra)[0], "unknown top-level key; expected calendars and policies")
    raw_calendars = doc.get("calendars") or {}
    if not isinstance(raw_calendars, Mapping):
        raise ConfigError("calendars", "expected a mapping of name to calendar")
    calendars = {str(name): _calendar(str(name), body, f"calendars.{name}") for name, body in raw_calendars.items()}
    raw_policies = doc.get("policies")
    if not isinstance(raw_policies, list) or not raw_policies:
        raise ConfigError("policies", "required: a non-empty list (first match wins)")
    policies = [_policy(p, f"policies[{i}]", calendars) for i, p in enumerate(raw_policies)]
    seen: set[str] = set()
    for i, policy in enumerate(policies):
        if policy.name in seen:
            raise ConfigError(f"policies[{i}].name", f"duplicate policy name {policy.name!r}")
        seen.add(policy.name)
    return SlaConfig(calendars, policies)
