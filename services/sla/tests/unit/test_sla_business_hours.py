from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omni_sla.domain.business_hours import (
    BusinessCalendar,
    add_business_time,
    business_time_between,
    parse_shifts,
)

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_9_18 = {d: "09:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")}


def tokyo() -> BusinessCalendar:
    return BusinessCalendar.from_hours(
        "tokyo-office", "Asia/Tokyo", WEEKDAYS_9_18, holiday_country="JP", closed=[date(2026, 12, 31)]
    )


def new_york() -> BusinessCalendar:
    return BusinessCalendar.from_hours(
        "ny", "America/New_York", {d: "00:00-24:00" for d in ("sat", "sun")} | WEEKDAYS_9_18
    )


def night_shift() -> BusinessCalendar:
    return BusinessCalendar.from_hours(
        "night", "Europe/Berlin", {d: "22:00-06:00" for d in ("mon", "tue", "wed", "thu", "fri")}
    )


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO)  # type: ignore[misc]


TOKYO_CASES = [
    # start (JST), duration, expected due (JST), what it shows
    (jst(2026, 11, 24, 10), timedelta(hours=1), jst(2026, 11, 24, 11), "inside hours"),
    (jst(2026, 11, 24, 17, 30), timedelta(hours=1), jst(2026, 11, 25, 9, 30), "across the evening"),
    (jst(2026, 11, 24, 7), timedelta(hours=1), jst(2026, 11, 24, 10), "before opening"),
    (jst(2026, 11, 27, 17), timedelta(hours=2), jst(2026, 11, 30, 10), "across the weekend"),
    (jst(2026, 11, 28, 12), timedelta(minutes=1), jst(2026, 11, 30, 9, 1), "starting on a Saturday"),
    (jst(2026, 11, 20, 17), timedelta(hours=2), jst(2026, 11, 24, 10), "Labor Thanksgiving Day (Mon 23 Nov)"),
    (jst(2026, 5, 1, 17), timedelta(hours=2), jst(2026, 5, 7, 10), "Golden Week: 3-6 May are holidays"),
    (jst(2026, 12, 30, 17), timedelta(hours=2), jst(2027, 1, 4, 10), "closed date 31 Dec, New Year holiday"),
    (jst(2026, 11, 24, 18), timedelta(0), jst(2026, 11, 24, 18), "zero duration stays put after hours"),
    (jst(2026, 11, 24, 9), timedelta(hours=9), jst(2026, 11, 24, 18), "a whole day ends at closing"),
    (jst(2026, 11, 24, 9), timedelta(hours=45), jst(2026, 11, 30, 18), "a business week"),
]


@pytest.mark.parametrize(("start", "duration", "expected", "why"), TOKYO_CASES, ids=[c[3] for c in TOKYO_CASES])
def test_tokyo_office_adds_business_time(start: datetime, duration: timedelta, expected: datetime, why: str) -> None:
    due = add_business_time(start, duration, tokyo())
    assert due == expected.astimezone(UTC), why
    assert business_time_between(start, due, tokyo()) == duration


def test_japanese_holidays_come_from_the_holidays_library() -> None:
    calendar = tokyo()
    assert calendar.is_closed_day(date(2026, 1, 1))
    assert calendar.holiday_name(date(2026, 11, 23)) is not None
    assert calendar.is_closed_day(date(2026, 12, 31))  # the extra closed date
    assert not calendar.is_closed_day(date(2026, 11, 24))


def test_around_the_clock_is_plain_time() -> None:
    start = datetime(2026, 3, 8, 1, 30, tzinfo=NEW_YORK)
    assert add_business_time(start, timedelta(hours=2), None) == start.astimezone(UTC) + timedelta(hours=2)
    assert business_time_between(start, start + timedelta(days=3), None) == timedelta(
        hours=71
    )  # wall-clock + spans DST


def test_a_full_day_shift_on_spring_forward_lasts_23_hours() -> None:
    calendar = new_york()
    sat = datetime(2026, 3, 7, 0, 0, tzinfo=NEW_YORK)
    sun = datetime(2026, 3, 8, 0, 0, tzinfo=NEW_YORK)
    mon = datetime(2026, 3, 9, 0, 0, tzinfo=NEW_YORK)
    assert business_time_between(sat, sun, calendar) == timedelta(hours=24)
    assert business_time_between(sun, mon, calendar) == timedelta(hours=23)


def test_a_full_day_shift_on_fall_back_lasts_25_hours() -> None:
    calendar = new_york()
    sun = datetime(2026, 11, 1, 0, 0, tzinfo=NEW_YORK)
    mon = datetime(2026, 11, 2, 0, 0, tzinfo=NEW_YORK)
    assert business_time_between(sun, mon, calendar) == timedelta(hours=25)


def test_office_hours_keep_their_wall_clock_across_dst() -> None:
    calendar = BusinessCalendar.from_hours("ny", "America/New_York", WEEKDAYS_9_18)
    friday = datetime(2026, 3, 6, 17, 0, tzinfo=NEW_YORK)  # EST, UTC-5
    due = add_business_time(friday, timedelta(hours=2), calendar)
    assert due == datetime(2026, 3, 9, 10, 0, tzinfo=NEW_YORK).astimezone(UTC)  # EDT, UTC-4
    assert due.astimezone(NEW_YORK).hour == 10


def test_a_shift_past_midnight_belongs_to_the_day_it_starts() -> None:
    calendar = night_shift()
    berlin = ZoneInfo("Europe/Berlin")
    friday_night = datetime(2026, 11, 27, 23, 0, tzinfo=berlin)
    # Fri 22:00 - Sat 06:00 is open; the next shift is Mon 22:00
    assert add_business_time(friday_night, timedelta(hours=7), calendar) == datetime(
        2026, 11, 28, 6, 0, tzinfo=berlin
    ).astimezone(UTC)
    assert add_business_time(friday_night, timedelta(hours=8), calendar) == datetime(
        2026, 11, 30, 23, 0, tzinfo=berlin
    ).astimezone(UTC)
    saturday_early = datetime(2026, 11, 28, 5, 0, tzinfo=berlin)
    assert add_business_time(saturday_early, timedelta(minutes=30), calendar) == datetime(
        2026, 11, 28, 5, 30, tzinfo=berlin
    ).astimezone(UTC)
    assert calendar.is_open(saturday_early)
    assert not calendar.is_open(datetime(2026, 11, 28, 7, 0, tzinfo=berlin))


def test_overlapping_shifts_across_midnight_count_once() -> None:
    calendar = BusinessCalendar.from_hours("x", "UTC", {"mon": "20:00-04:00", "tue": "00:00-08:00"})
    a = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    b = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert business_time_between(a, b, calendar) == timedelta(hours=12)


def test_between_is_negative_when_reversed() -> None:
    a = jst(2026, 11, 24, 10)
    b = jst(2026, 11, 25, 10)
    assert business_time_between(b, a, tokyo()) == -timedelta(hours=9)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        add_business_time(datetime(2026, 1, 1), timedelta(hours=1), tokyo())


def test_negative_durations_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_business_time(jst(2026, 1, 5, 10), -timedelta(hours=1), tokyo())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00-18:00", ((540, 1080),)),
        ("09:00-12:00, 13:00-18:00", ((540, 720), (780, 1080))),
        ("22:00-06:00", ((1320, 1800),)),
        ("00:00-24:00", ((0, 1440),)),
        (["13:00-18:00", "09:00-12:00"], ((540, 720), (780, 1080))),
    ],
)
def test_parse_shifts(text: str | list[str], expected: tuple[tuple[int, int], ...]) -> None:
    assert parse_shifts(text) == expected


@pytest.mark.parametrize("text", ["9-18", "25:00-26:00", "09:00-12:00,11:00-13:00", "", "09:60-10:00"])
def test_parse_shifts_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="shift|time of day|overlap"):
        parse_shifts(text)


def test_calendar_refuses_unknown_zone_and_country() -> None:
    with pytest.raises(ValueError, match="time zone"):
        BusinessCalendar.from_hours("x", "Mars/Olympus", WEEKDAYS_9_18)
    with pytest.raises(ValueError, match="country"):
        BusinessCalendar.from_hours("x", "UTC", WEEKDAYS_9_18, holiday_country="XX")
    with pytest.raises(ValueError, match="open at least"):
        BusinessCalendar.from_hours("x", "UTC", {})


def test_a_calendar_closed_for_a_decade_says_so() -> None:
    closed = [date(2026, 1, 1) + timedelta(days=i) for i in range(4000)]
    calendar = BusinessCalendar.from_hours("shut", "UTC", WEEKDAYS_9_18, closed=closed)
    with pytest.raises(ValueError, match="no open hours"):
        add_business_time(datetime(2026, 1, 1, tzinfo=UTC), timedelta(hours=1), calendar)


# --- properties -------------------------------------------------------------------------

CALENDARS = {"tokyo": tokyo(), "new_york": new_york(), "night": night_shift(), "always": None}
instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC))
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20))
calendars = st.sampled_from(sorted(CALENDARS))


@settings(max_examples=150, deadline=None)
@given(calendars, instants, durations)
def test_elapsed_of_added_equals_the_duration(name: str, start: datetime, duration: timedelta) -> None:
    calendar = CALENDARS[name]
    due = add_business_time(start, duration, calendar)
    assert due >= start
    assert business_time_between(start, due, calendar) == duration


@settings(max_examples=100, deadline=None)
@given(calendars, instants, durations, durations)
def test_adding_is_monotonic_in_the_duration(name: str, start: datetime, d1: timedelta, d2: timedelta) -> None:
    calendar = CALENDARS[name]
    low, high = sorted((d1, d2))
    assert add_business_time(start, low, calendar) <= add_business_time(start, high, calendar)


@settings(max_examples=100, deadline=None)
@given(calendars, instants, instants, durations)
def test_adding_is_monotonic_in_the_start(name: str, a: datetime, b: datetime, duration: timedelta) -> None:
    calendar = CALENDARS[name]
    early, late = sorted((a, b))
    assert add_business_time(early, duration, calendar) <= add_business_time(late, duration, calendar)


@settings(max_examples=100, deadline=None)
@given(calendars, instants, instants, instants)
def test_elapsed_is_additive_and_bounded_by_wall_time(name: str, a: datetime, b: datetime, c: datetime) -> None:
    calendar = CALENDARS[name]
    x, y, z = sorted((a, b, c))
    assert business_time_between(x, z, calendar) == business_time_between(x, y, calendar) + business_time_between(
        y, z, calendar
    )
    assert timedelta(0) <= business_time_between(x, y, calendar) <= y - x


@settings(max_examples=100, deadline=None)
@given(calendars, instants, st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=5)))
def test_the_due_instant_is_the_earliest(name: str, start: datetime, duration: timedelta) -> None:
    calendar = CALENDARS[name]
    due = add_business_time(start, duration, calendar)
    assert business_time_between(start, due - timedelta(microseconds=1), calendar) < duration
