"""Durations as written in the SLA file: `60s`, `2m`, `8h`, `1d`, or combined like `1h30m`."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str | int | float) -> timedelta:
    """A positive or zero duration; a bare number means seconds. ValueError says what is wrong."""
    if isinstance(text, bool):
        raise ValueError(f"expected a duration like 60s, 2m, 8h or 1d, got {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"duration must not be negative, got {text!r}")
        return timedelta(seconds=text)
    compact = text.strip().lower().replace(" ", "")
    if not compact:
        raise ValueError("expected a duration like 60s, 2m, 8h or 1d, got an empty string")
    position = 0
    seconds = 0.0
    for match in _PART.finditer(compact):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(compact):
        raise ValueError(f"expected a duration like 60s, 2m, 8h, 1d or 1h30m, got {text!r}")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest exact text for a duration (inverse of parse_duration for whole seconds)."""
    total = value.total_seconds()
    if total != int(total):
        return f"{total:g}s"
    whole = int(total)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"
