"""Business calendars and the arithmetic of business time.

A calendar is a weekly schedule of shifts in one IANA time zone, minus the public holidays
of a country (from the `holidays` library) and extra closed dates. A shift belongs to the
local day it starts on and may run past midnight (`22:00-06:00`). Business time is real
elapsed time inside open shifts, so a shift on a daylight-saving day lasts what the clocks
on the wall say it lasts in UTC. `None` as a calendar means around the clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_SEARCH_DAYS = 3660
"""How far ahead to look for an open shift before calling a calendar never open."""

_SHIFT = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_ZERO = timedelta(0)
_DAY = timedelta(days=1)

Shift = tuple[int, int]
"""(start minute, end minute) after the local midnight of its day; end may exceed 1440."""


def parse_shifts(text: str | Sequence[str]) -> tuple[Shift, ...]:
    """`"09:00-18:00"`, `"09:00-12:00, 13:00-18:00"`, `"22:00-06:00"` (past midnight) or a list of them."""
    parts = [text] if isinstance(text, str) else list(text)
    pieces = [p for part in parts for p in str(part).split(",") if p.strip()]
    if not pieces:
        raise ValueError("expected shifts like 09:00-18:00, got nothing")
    shifts = []
    for piece in pieces:
        match = _SHIFT.match(piece)
        if not match:
            raise ValueError(f"expected a shift like 09:00-18:00, got {piece.strip()!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
            raise ValueError(f"not a time of day in {piece.strip()!r}")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if end <= start:
            end += 1440  # runs past midnight into the next day
        shifts.append((start, end))
    shifts.sort()
    for (_, end), (start, _) in pairwise(shifts):
        if start < end:
            raise ValueError(f"shifts overlap in {', '.join(p.strip() for p in pieces)!r}")
    return tuple(shifts)


@dataclass(frozen=True, eq=False)
class BusinessCalendar:
    """Weekly open hours in a time zone, closed on a country's public holidays and on extra dates."""

    name: str
    timezone: str
    week: tuple[tuple[Shift, ...], ...]
    """Seven entries, Monday first: the shifts starting on that weekday."""
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    closed: frozenset[date] = frozenset()
    zone: ZoneInfo = field(init=False, repr=False)
    _holidays: holidays.HolidayBase | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise ValueError("week must have seven days, Monday first")
        if not any(self.week):
            raise ValueError("a calendar must be open at least one hour a week")
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {self.timezone!r}") from exc
        object.__setattr__(self, "zone", zone)
        table: holidays.HolidayBase | None = None
        if self.holiday_country:
            try:
                table = holidays.country_holidays(self.holiday_country, subdiv=self.holiday_subdivision)
            except NotImplementedError as exc:
                raise ValueError(f"the holidays library knows no country {self.holiday_country!r}") from exc
        object.__setattr__(self, "_holidays", table)

    @classmethod
    def from_hours(
        cls,
        name: str,
        timezone: str,
        hours: Mapping[str, str | Sequence[str]],
        *,
        holiday_country: str | None = None,
        holiday_subdivision: str | None = None,
        closed: Sequence[date] = (),
    ) -> BusinessCalendar:
        """Build from `{"mon": "09:00-18:00", ...}`; days not named are closed."""
        unknown = sorted(set(hours) - set(WEEKDAYS))
        if unknown:
            raise ValueError(f"unknown weekday {unknown[0]!r}; use {', '.join(WEEKDAYS)}")
        week = tuple(parse_shifts(hours[d]) if hours.get(d) else () for d in WEEKDAYS)
        return cls(name, timezone, week, holiday_country, holiday_subdivision, frozenset(closed))

    def is_closed_day(self, day: date) -> bool:
        """Whether the whole local day is closed (a holiday or an extra closed date)."""
        return day in self.closed or (self._holidays is not None and day in self._holidays)

    def holiday_name(self, day: date) -> str | None:
        if self._holidays is None:
            return None
        name: Any = self._holidays.get(day)
        return None if name is None else str(name)

    def shifts_on(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        """The open intervals (UTC) of the shifts that start on this local day."""
        if self.is_closed_day(day):
            return
        midnight = datetime(day.year, day.month, day.day, tzinfo=self.zone)
        for start, end in self.week[day.weekday()]:
            # aware + timedelta is wall-clock arithmetic; astimezone then applies that day's offset
            yield (
                (midnight + timedelta(minutes=start)).astimezone(UTC),
                (midnight + timedelta(minutes=end)).astimezone(UTC),
            )

    def intervals_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals in time order, disjoint, that end after `moment` (may begin before it)."""
        day = moment.astimezone(self.zone).date() - _DAY  # a shift of yesterday may still run
        last_end: datetime | None = None
        quiet_days = 0
        while quiet_days <= MAX_SEARCH_DAYS:
            found = False
            for start, end in self.shifts_on(day):
                if last_end is not None and start < last_end:
                    start = last_end  # yesterday's shift past midnight overlaps today's
                if end <= start or end <= moment:
                    continue
                found = True
                last_end = end
                yield start, end
            quiet_days = 0 if found else quiet_days + 1
            day += _DAY
        raise ValueError(f"calendar {self.name!r} has no open hours within {MAX_SEARCH_DAYS} days of {moment}")

    def is_open(self, moment: datetime) -> bool:
        for start, end in self.intervals_from(moment):
            return start <= moment < end
        return False  # pragma: no cover - intervals_from raises instead


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: business time needs an aware datetime")
    return moment.astimezone(UTC)


def add_business_time(start: datetime, duration: timedelta, calendar: BusinessCalendar | None) -> datetime:
    """The earliest instant by which `duration` of business time has passed since `start` (UTC).

    With a zero duration this is `start` itself, even outside open hours.
    """
    start = _utc(start)
    if duration < _ZERO:
        raise ValueError(f"duration must not be negative, got {duration}")
    if calendar is None or duration == _ZERO:
        return start + duration
    remaining = duration
    for open_at, close_at in calendar.intervals_from(start):
        begin = max(open_at, start)
        span = close_at - begin
        if span >= remaining:
            return begin + remaining
        remaining -= span
    raise AssertionError("unreachable: intervals_from raises when it runs out")  # pragma: no cover


def business_time_between(a: datetime, b: datetime, calendar: BusinessCalendar | None) -> timedelta:
    """Business time from `a` to `b`; negative when `b` is before `a`."""
    a, b = _utc(a), _utc(b)
    if b < a:
        return -business_time_between(b, a, calendar)
    if calendar is None or a == b:
        return b - a
    total = _ZERO
    for open_at, close_at in calendar.intervals_from(a):
        if open_at >= b:
            break
        low, high = max(open_at, a), min(close_at, b)
        if high > low:
            total += high - low
    return total
