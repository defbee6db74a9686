from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omni_sla.domain.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("60s", timedelta(seconds=60)),
        ("2m", timedelta(minutes=2)),
        ("8h", timedelta(hours=8)),
        ("1d", timedelta(days=1)),
        ("1w", timedelta(days=7)),
        ("1h30m", timedelta(minutes=90)),
        ("1.5s", timedelta(seconds=1.5)),
        ("250ms", timedelta(milliseconds=250)),
        (" 2 m ", timedelta(minutes=2)),
        ("8H", timedelta(hours=8)),
        (90, timedelta(seconds=90)),
        (0.5, timedelta(seconds=0.5)),
        ("0s", timedelta(0)),
    ],
)
def test_parse_duration_reads_the_sla_file_forms(text: str | int | float, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "60", "1x", "m5", "1h 30", "-5s", "5s5", True, -3])
def test_parse_duration_rejects_what_is_not_a_duration(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=10**7))
def test_format_then_parse_gives_the_same_duration(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value
