"""Cron expressions and the instants they name, in a time zone, without dependencies.

Five fields, as in crontab(5)::

    minute  hour  day-of-month  month  day-of-week
    0-59    0-23  1-31          1-12   0-7 (0 and 7 are Sunday)

Each field is ``*`` or a comma list of ``N``, ``A-B``, ``*/S``, ``A-B/S`` or ``A/S``
(``A`` to the field's end, every ``S``). Months and weekdays also take names (``JAN``,
``MON``; any case). ``@hourly``, ``@daily`` (``@midnight``), ``@weekly``, ``@monthly``
and ``@yearly`` (``@annually``) are shorthands. When both day fields are restricted, a
day matches either one (crontab's rule: ``0 0 1 * MON`` is the 1st *and* every
Monday); a day field starting with ``*`` does not restrict.

Times are wall-clock times in the expression's time zone. Daylight saving time:

* a wall time that does not exist (the hour skipped when clocks go forward) fires
  once, at the first instant after the jump (``30 2 * * *`` in Europe/Berlin fires at
  03:00 CEST on the last Sunday of March; every time in the gap fires at that one
  instant);
* a wall time that happens twice (clocks go back) fires once, at its first
  occurrence; the repeated hour does not fire again.

So a daily job runs exactly once on both DST days. A job that must keep its rhythm
through the repeated hour (every 15 minutes, say) is better written with an interval
or in UTC.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["CronExpr", "parse_cron", "resolve_timezone"]

_FIELDS = (
    # name, low, high
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
)
_MONTHS = {
    name: i
    for i, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}
_WEEKDAYS = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FORMAT = "minute hour day-of-month month day-of-week, e.g. '*/5 * * * *'"
# The longest wait between two matches of a valid expression is 8 years
# (29 February across a century that is not a leap year).
_SEARCH_YEARS = 12
# Samoa skipped a whole day (30 December 2011); no gap has been longer.
_LONGEST_GAP_MINUTES = 2 * 24 * 60


def resolve_timezone(name: str) -> tzinfo:
    """An IANA zone by name; ``UTC`` also works without a tz database on the machine."""
    if not isinstance(name, str):
        raise TypeError(f"timezone must be a str (an IANA name), got {type(name).__name__}")
    if name in ("UTC", "Etc/UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {name!r}: use an IANA name such as 'Europe/Berlin', "
            "'America/New_York' or 'UTC' (without a tz database on this machine, "
            "pip install tzdata)"
        ) from None


@dataclass(frozen=True)
class CronExpr:
    """A parsed expression; :meth:`next_after` finds its next instant in a zone."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    def matches_day(self, day: datetime) -> bool:
        in_days = day.day in self.days
        in_weekdays = (day.weekday() + 1) % 7 in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_days or in_weekdays
        return in_days and in_weekdays

    def next_after(self, after: datetime, zone: tzinfo = UTC) -> datetime:
        """The first instant strictly after ``after`` (aware) that matches, in UTC."""
        if after.tzinfo is None:
            raise ValueError("next_after needs a timezone-aware datetime")
        wall = after.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0, fold=0)
        wall += timedelta(minutes=1)
        last_year = wall.year + _SEARCH_YEARS
        while wall.year <= last_year:
            if wall.month not in self.months:
                wall = _next_month(wall)
            elif not self.matches_day(wall):
                wall = _next_day(wall)
            elif wall.hour not in self.hours:
                wall = _next_hour(wall)
            elif wall.minute not in self.minutes:
                later = [m for m in self.minutes if m > wall.minute]
                wall = wall.replace(minute=min(later)) if later else _next_hour(wall)
            else:
                instant = _instant(wall, zone)
                if instant > after:
                    return instant
                # the second pass of a repeated hour: its times already fired
                wall += timedelta(minutes=1)
        raise ValueError(f"cron {self.expression!r} has no time within {_SEARCH_YEARS} years")


def parse_cron(expression: str) -> CronExpr:
    """Parse five cron fields (or an ``@daily``-style shorthand).

    Raises ValueError naming the field that is wrong and how to write it.
    """
    if not isinstance(expression, str):
        raise TypeError(f"cron must be a str, got {type(expression).__name__}")
    text = expression.strip()
    fields = _MACROS.get(text.lower(), text).split()
    if text.startswith("@") and text.lower() not in _MACROS:
        raise ValueError(
            f"cron {expression!r}: unknown shorthand; use one of {', '.join(_MACROS)} "
            f"or five fields: {_FORMAT}"
        )
    if len(fields) != 5:
        raise ValueError(
            f"cron {expression!r} has {len(fields)} field(s); write five: {_FORMAT} "
            "(for seconds use an interval: every=...)"
        )
    values = [
        _parse_field(expression, name, low, high, text_)
        for (name, low, high), text_ in zip(_FIELDS, fields, strict=True)
    ]
    weekdays = frozenset(0 if d == 7 else d for d in values[4])
    cron = CronExpr(
        expression=text,
        minutes=values[0],
        hours=values[1],
        days=values[2],
        months=values[3],
        weekdays=weekdays,
        days_restricted=not fields[2].startswith("*"),
        weekdays_restricted=not fields[4].startswith("*"),
    )
    if not (cron.days_restricted and cron.weekdays_restricted) and not any(
        day <= _longest_month(month) for month in cron.months for day in cron.days
    ):
        raise ValueError(
            f"cron {expression!r} never fires: no month in the month field has a day "
            "listed in the day-of-month field (e.g. 30 February)"
        )
    return cron


def _parse_field(expression: str, name: str, low: int, high: int, text: str) -> frozenset[int]:
    def fail(problem: str) -> ValueError:
        return ValueError(f"cron {expression!r}: {name} field {text!r}: {problem}")

    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise fail(f"empty list item; separate values with single commas, e.g. '{low},{high}'")
        body, _, step_text = item.partition("/")
        step = 1
        if step_text or item.endswith("/"):
            if not step_text.isdigit() or int(step_text) < 1:
                raise fail(f"step {step_text!r} must be a whole number of at least 1, e.g. '*/5'")
            step = int(step_text)
        if body == "*":
            first, last = low, high
        elif "-" in body:
            start, _, end = body.partition("-")
            first, last = _value(start, name, low, high, fail), _value(end, name, low, high, fail)
            if first > last:
                raise fail(
                    f"range {body} goes backwards; write it as two ranges, "
                    f"e.g. '{start}-{high},{low}-{end}'"
                )
        else:
            first = _value(body, name, low, high, fail)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _value(text: str, name: str, low: int, high: int, fail: Callable[[str], ValueError]) -> int:
    names = _MONTHS if name == "month" else _WEEKDAYS if name == "day-of-week" else {}
    if text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        hint = f" or a name like {next(iter(names))}" if names else ""
        unsupported = any(c in text for c in "?LW#")
        extra = " (?, L, W and # are not supported)" if unsupported else ""
        raise fail(f"{text!r} is not a number{hint}{extra}")
    value = int(text)
    if not low <= value <= high:
        raise fail(f"{value} is out of range {low}-{high}")
    return value


def _longest_month(month: int) -> int:
    return 29 if month == 2 else calendar.monthrange(2001, month)[1]


def _next_month(wall: datetime) -> datetime:
    if wall.month == 12:
        return datetime(wall.year + 1, 1, 1)
    return datetime(wall.year, wall.month + 1, 1)


def _next_day(wall: datetime) -> datetime:
    return datetime(wall.year, wall.month, wall.day) + timedelta(days=1)


def _next_hour(wall: datetime) -> datetime:
    return wall.replace(minute=0) + timedelta(hours=1)


def _exists(wall: datetime, zone: tzinfo) -> bool:
    aware = wall.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall


def _instant(wall: datetime, zone: tzinfo) -> datetime:
    """The UTC instant of a wall time: its first occurrence, or, inside a DST gap, the
    first instant after the gap."""
    for _ in range(_LONGEST_GAP_MINUTES):
        if _exists(wall, zone):
            break
        wall += timedelta(minutes=1)  # gaps start and end on whole minutes
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
