"""How values read like on the page: ages, durations, times, numbers, JSON.

Each function returns plain text; the templates escape it (autoescape is on), so
nothing here may return markup.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any
from urllib.parse import quote

# An en dash for "no value", written as an escape so no one mistakes it for a minus.
NONE = "\u2013"

__all__ = [
    "age",
    "duration",
    "number",
    "path_segment",
    "percent",
    "pretty_json",
    "seconds_until",
    "short_id",
    "when",
]


def age(seconds: float | None) -> str:
    """``4 s``, ``3 min 12 s``, ``2 h 5 min``, ``3 d 4 h``: how long ago or how long."""
    if seconds is None or not math.isfinite(seconds):
        return NONE
    value = max(0.0, seconds)
    if value < 60:
        return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"
    minutes, secs = divmod(int(value), 60)
    if minutes < 60:
        return _pair(minutes, "min", secs, "s")
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _pair(hours, "h", minutes, "min")
    days, hours = divmod(hours, 24)
    return _pair(days, "d", hours, "h")


def _pair(big: int, big_unit: str, small: int, small_unit: str) -> str:
    return f"{big} {big_unit}" + (f" {small} {small_unit}" if small else "")


def duration(seconds: float | None) -> str:
    """Task run and wait times: milliseconds below a second, then as :func:`age`."""
    if seconds is None or not math.isfinite(seconds):
        return NONE
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return age(seconds)


def when(value: datetime | None) -> str:
    """A stored time to the millisecond (database clock, as stored)."""
    if value is None:
        return NONE
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def seconds_until(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from ``start`` to ``end``; None unless both are known."""
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def number(value: int | float | None) -> str:
    if value is None:
        return NONE
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def percent(fraction: float | None) -> str:
    if fraction is None or not math.isfinite(fraction):
        return NONE
    return f"{fraction * 100:.1f} %"


def pretty_json(value: Any) -> str:
    """Arguments and results as indented JSON text (the template escapes it)."""
    if isinstance(value, str):
        # A result column may hold JSON text that was not decoded: show it as it is.
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def short_id(task_id: str | None) -> str:
    """The part of a time-ordered id that differs between tasks sent close together."""
    if not task_id:
        return NONE
    return task_id if len(task_id) <= 13 else f"{task_id[:8]}…{task_id[-4:]}"


def path_segment(value: object) -> str:
    """One URL path segment: ids written by hand may hold '/', '?' or '#'."""
    return quote(str(value), safe="")
