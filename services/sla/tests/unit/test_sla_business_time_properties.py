"""Properties of business-time arithmetic at the edges: shift boundaries, Japanese holidays, DST."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from omni_sla.domain.business_hours import BusinessCalendar, add_business_time, business_time_between

TOKYO = ZoneInfo("Asia/Tokyo")
WEEKDAYS_9_18 = {d: "09:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")}
CALENDARS: dict[str, BusinessCalendar | None] = {
    "tokyo": BusinessCalendar.from_hours(
        "tokyo-office", "Asia/Tokyo", WEEKDAYS_9_18, holiday_country="JP", closed=[date(2026, 12, 31)]
    ),
    "tokyo-split-night": BusinessCalendar.from_hours(
        "tokyo-split",
        "Asia/Tokyo",
        {"mon": "09:00-18:00", "tue": "09:00-12:00, 13:00-18:00", "sat": "22:00-06:00", "sun": "00:00-24:00"},
        holiday_country="JP",
    ),
    "new-york": BusinessCalendar.from_hours(
        "ny", "America/New_York", {d: "00:00-24:00" for d in ("sat", "sun")} | WEEKDAYS_9_18, holiday_country="US"
    ),
    "always": None,
}

# Days around Japanese holidays (New Year, Golden Week, Silver Week 2026, Labor Thanksgiving) and a normal week.
_DAYS = [
    date(2025, 12, 29),
    date(2026, 1, 1),
    date(2026, 1, 12),
    date(2026, 3, 8),
    date(2026, 4, 28),
    date(2026, 5, 6),
    date(2026, 9, 21),
    date(2026, 9, 23),
    date(2026, 11, 2),
    date(2026, 11, 20),
    date(2026, 11, 23),
    date(2026, 11, 24),
    date(2026, 12, 31),
]
_WALL = [(0, 0), (6, 0), (9, 0), (12, 0), (13, 0), (18, 0), (22, 0), (23, 59)]
_NUDGES = [timedelta(0), timedelta(microseconds=1), -timedelta(microseconds=1), timedelta(seconds=1)]


@st.composite
def edge_instants(draw: st.DrawFn) -> datetime:
    """An instant on or next to a shift boundary in Tokyo or New York, near a holiday; or any instant."""
    if draw(st.booleans()):
        return draw(st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC)))
    day = draw(st.sampled_from(_DAYS)) + timedelta(days=draw(st.integers(-2, 2)))
    hour, minute = draw(st.sampled_from(_WALL))
    zone = draw(st.sampled_from([TOKYO, ZoneInfo("America/New_York")]))
    wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    return (wall + draw(st.sampled_from(_NUDGES))).astimezone(UTC)


edge_durations = st.one_of(
    st.sampled_from(
        [timedelta(0), timedelta(microseconds=1), timedelta(hours=1), timedelta(hours=9), timedelta(days=1)]
    ),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10)),
)
calendars = st.sampled_from(sorted(CALENDARS))


@settings(max_examples=150, deadline=None)
@given(calendars, edge_instants(), edge_durations, edge_durations)
def test_adding_business_time_in_two_steps_is_adding_it_at_once(
    name: str, start: datetime, a: timedelta, b: timedelta
) -> None:
    calendar = CALENDARS[name]
    assert add_business_time(add_business_time(start, a, calendar), b, calendar) == add_business_time(
        start, a + b, calendar
    )


@settings(max_examples=150, deadline=None)
@given(calendars, edge_instants(), st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=10)))
def test_a_due_instant_closes_an_open_stretch_never_a_closed_one(
    name: str, start: datetime, duration: timedelta
) -> None:
    calendar = CALENDARS[name]
    due = add_business_time(start, duration, calendar)
    assert due > start
    if calendar is not None:
        assert calendar.is_open(due - timedelta(microseconds=1))
    assert business_time_between(start, due, calendar) == duration


@settings(max_examples=150, deadline=None)
@given(calendars, edge_instants(), edge_instants(), edge_durations)
def test_due_instants_are_monotonic_in_the_start(name: str, a: datetime, b: datetime, duration: timedelta) -> None:
    calendar = CALENDARS[name]
    early, late = sorted((a, b))
    assert add_business_time(early, duration, calendar) <= add_business_time(late, duration, calendar)


@settings(max_examples=100, deadline=None)
@given(calendars, edge_instants(), edge_instants())
def test_business_time_between_is_antisymmetric_and_bounded(name: str, a: datetime, b: datetime) -> None:
    calendar = CALENDARS[name]
    forward = business_time_between(a, b, calendar)
    assert business_time_between(b, a, calendar) == -forward
    assert abs(forward) <= abs(b - a)


@settings(max_examples=100, deadline=None)
@given(edge_instants(), st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=3)))
def test_no_tokyo_business_time_passes_on_a_japanese_holiday(start: datetime, duration: timedelta) -> None:
    calendar = CALENDARS["tokyo"]
    assert calendar is not None
    due = add_business_time(start, duration, calendar)
    local = (due - timedelta(microseconds=1)).astimezone(TOKYO)
    assert calendar.holiday_name(local.date()) is None
    assert local.weekday() < 5
    assert 9 <= local.hour < 18
