"""The cron parser and the next-tick computation (workcraft.cron), without a database."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workcraft.cron import parse_cron, resolve_timezone

BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def ticks(expression: str, after: datetime, count: int, zone: object = UTC) -> list[datetime]:
    cron = parse_cron(expression)
    found = []
    for _ in range(count):
        after = cron.next_after(after, zone)  # type: ignore[arg-type]
        found.append(after)
    return found


# ----------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("expression", "attribute", "expected"),
    [
        ("*/15 * * * *", "minutes", {0, 15, 30, 45}),
        ("1-10/3 * * * *", "minutes", {1, 4, 7, 10}),
        ("5/20 * * * *", "minutes", {5, 25, 45}),
        ("0,30 8-10 * * *", "hours", {8, 9, 10}),
        ("0 0 * jan,Mar,DEC *", "months", {1, 3, 12}),
        ("0 0 * * MON-FRI", "weekdays", {1, 2, 3, 4, 5}),
        ("0 0 * * 7", "weekdays", {0}),
        ("0 0 * * 5-7", "weekdays", {5, 6, 0}),
        ("0 0 1,15 * *", "days", {1, 15}),
        ("@hourly", "minutes", {0}),
        ("@daily", "hours", {0}),
        ("@weekly", "weekdays", {0}),
        ("@monthly", "days", {1}),
        ("@yearly", "months", {1}),
    ],
)
def test_fields_parse_to_the_values_they_name(
    expression: str, attribute: str, expected: set[int]
) -> None:
    assert getattr(parse_cron(expression), attribute) == expected


def test_whitespace_between_fields_does_not_matter() -> None:
    assert parse_cron("  */5\t*  * * *  ").minutes == parse_cron("*/5 * * * *").minutes


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("* * * *", ["4 field(s)", "minute hour day-of-month month day-of-week"]),
        ("0 * * * * *", ["6 field(s)", "every="]),
        ("61 * * * *", ["minute field", "61 is out of range 0-59"]),
        ("0 24 * * *", ["hour field", "out of range 0-23"]),
        ("0 0 0 * *", ["day-of-month field", "out of range 1-31"]),
        ("0 0 * 13 *", ["month field", "out of range 1-12"]),
        ("0 0 * * 8", ["day-of-week field", "out of range 0-7"]),
        ("0 22-2 * * *", ["hour field", "goes backwards", "22-23,0-2"]),
        ("*/0 * * * *", ["minute field", "step"]),
        ("*/x * * * *", ["minute field", "step"]),
        ("0 0 * * FUN", ["day-of-week field", "'FUN' is not a number", "a name like SUN"]),
        ("0 0 * JANUARY *", ["month field", "is not a number"]),
        ("0 0 L * *", ["day-of-month field", "not supported"]),
        ("0 0 ? * MON", ["day-of-month field", "not supported"]),
        ("0,,5 * * * *", ["minute field", "empty list item"]),
        ("0 0 30 2 *", ["never fires", "30 February"]),
        ("@every_minute", ["unknown shorthand", "@hourly"]),
    ],
)
def test_a_bad_expression_names_the_field_and_the_fix(expression: str, words: list[str]) -> None:
    with pytest.raises(ValueError) as error:
        parse_cron(expression)
    message = str(error.value)
    assert repr(expression) in message
    for word in words:
        assert word in message, message


def test_30_february_is_fine_when_weekdays_also_match() -> None:
    # both day fields restricted: a day matches either, so: Mondays in February
    assert ticks("0 0 30 2 MON", utc(2024, 1, 1, 12), 2) == [utc(2024, 2, 5), utc(2024, 2, 12)]


def test_a_cron_that_is_not_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse_cron(5)  # type: ignore[arg-type]


# ------------------------------------------------------------------ next ticks


def test_next_tick_is_strictly_after() -> None:
    assert ticks("*/5 * * * *", utc(2024, 5, 1, 10, 2, 30), 3) == [
        utc(2024, 5, 1, 10, 5),
        utc(2024, 5, 1, 10, 10),
        utc(2024, 5, 1, 10, 15),
    ]
    assert ticks("*/5 * * * *", utc(2024, 5, 1, 10, 5), 1) == [utc(2024, 5, 1, 10, 10)]


def test_year_end_rolls_over() -> None:
    assert ticks("59 23 31 12 *", utc(2024, 6, 1), 2) == [
        utc(2024, 12, 31, 23, 59),
        utc(2025, 12, 31, 23, 59),
    ]


def test_month_ends_skip_months_without_the_day() -> None:
    assert ticks("0 0 31 * *", utc(2024, 1, 31), 3) == [
        utc(2024, 3, 31),
        utc(2024, 5, 31),
        utc(2024, 7, 31),
    ]
    assert ticks("0 6 30 * *", utc(2024, 1, 30, 7), 2) == [utc(2024, 3, 30, 6), utc(2024, 4, 30, 6)]


def test_29_february_waits_for_a_leap_year() -> None:
    assert ticks("0 0 29 2 *", utc(2024, 3, 1), 2) == [utc(2028, 2, 29), utc(2032, 2, 29)]
    # 2100 is not a leap year: eight years between two matches
    assert ticks("0 0 29 2 *", utc(2096, 3, 1), 1) == [utc(2104, 2, 29)]


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    # the 13th, and every Friday
    got = ticks("0 0 13 * FRI", utc(2024, 9, 1), 4)
    assert got == [utc(2024, 9, 6), utc(2024, 9, 13), utc(2024, 9, 20), utc(2024, 9, 27)]


def test_a_star_day_field_does_not_widen_the_other() -> None:
    # day-of-month starts with '*': both must match (crontab's rule), odd-day Mondays
    got = ticks("0 0 */2 * MON", utc(2024, 9, 1), 3)
    assert got == [utc(2024, 9, 9), utc(2024, 9, 23), utc(2024, 10, 7)]
    assert all(t.weekday() == 0 and t.day % 2 == 1 for t in got)


def test_weekday_names_and_numbers_agree() -> None:
    after = utc(2024, 9, 1)
    assert ticks("0 9 * * mon-fri", after, 6) == ticks("0 9 * * 1-5", after, 6)
    assert ticks("0 9 * * SUN", after, 2) == ticks("0 9 * * 7", after, 2)


def test_next_after_needs_an_aware_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_cron("* * * * *").next_after(datetime(2024, 1, 1))


# ----------------------------------------------------------------- time zones


def test_wall_clock_times_in_a_zone() -> None:
    # 09:00 in Berlin is 08:00 UTC in winter, 07:00 UTC in summer
    assert ticks("0 9 * * *", utc(2024, 1, 10), 1, BERLIN) == [utc(2024, 1, 10, 8)]
    assert ticks("0 9 * * *", utc(2024, 7, 10), 1, BERLIN) == [utc(2024, 7, 10, 7)]


def test_dst_gap_fires_once_right_after_the_jump() -> None:
    # 2024-03-31 in Berlin: 02:00 CET jumps to 03:00 CEST (01:00 UTC); 02:30 never exists
    got = ticks("30 2 * * *", utc(2024, 3, 29, 12), 3, BERLIN)
    assert got == [utc(2024, 3, 30, 1, 30), utc(2024, 3, 31, 1), utc(2024, 4, 1, 0, 30)]
    assert got[1].astimezone(BERLIN).strftime("%H:%M %Z") == "03:00 CEST"


def test_every_time_in_the_gap_fires_at_the_one_instant_after_it() -> None:
    got = ticks("*/30 * * * *", utc(2024, 3, 31, 0, 15), 3, BERLIN)
    # 01:30 CET, then 02:00 and 02:30 (missing) fire once at 03:00 CEST, then 03:30 CEST
    assert got == [utc(2024, 3, 31, 0, 30), utc(2024, 3, 31, 1), utc(2024, 3, 31, 1, 30)]


def test_dst_overlap_fires_once_at_the_first_occurrence() -> None:
    # 2024-10-27 in Berlin: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice
    got = ticks("30 2 * * *", utc(2024, 10, 26, 12), 2, BERLIN)
    assert got == [utc(2024, 10, 27, 0, 30), utc(2024, 10, 28, 1, 30)]
    assert got[0].astimezone(BERLIN).strftime("%H:%M %Z") == "02:30 CEST"


def test_the_repeated_hour_does_not_fire_again() -> None:
    got = ticks("0 * * * *", utc(2024, 10, 26, 23, 30), 3, BERLIN)
    # 02:00 CEST (00:00 UTC); 02:00 CET (01:00 UTC) is a repeat; then 03:00 CET
    assert got == [utc(2024, 10, 27, 0), utc(2024, 10, 27, 2), utc(2024, 10, 27, 3)]


def test_starting_inside_the_repeated_hour_goes_past_it() -> None:
    # 02:10 CET, the second pass: 02:15..02:45 already fired (in CEST)
    after = utc(2024, 10, 27, 1, 10)
    assert ticks("*/15 * * * *", after, 1, BERLIN) == [utc(2024, 10, 27, 2)]


def test_a_whole_skipped_day() -> None:
    # Samoa skipped 30 December 2011 when it crossed the date line: its noon fires
    # once, at the first instant after the gap (midnight of the 31st)
    apia = ZoneInfo("Pacific/Apia")
    got = ticks("0 12 * * *", datetime(2011, 12, 29, 13, tzinfo=apia), 2, apia)
    assert [t.astimezone(apia).replace(tzinfo=None) for t in got] == [
        datetime(2011, 12, 31, 0),
        datetime(2011, 12, 31, 12),
    ]


def test_ticks_are_increasing_through_a_year_of_dst_changes() -> None:
    got = ticks("*/20 * * * *", utc(2024, 1, 1), 3 * 24 * 366, BERLIN)
    assert all(b > a for a, b in itertools.pairwise(got))
    assert all(b - a <= timedelta(minutes=80) for a, b in itertools.pairwise(got))


def test_resolve_timezone() -> None:
    assert resolve_timezone("UTC") is UTC
    assert resolve_timezone("Europe/Berlin") == BERLIN
    with pytest.raises(ValueError, match=r"unknown timezone 'Mars/Olympus'.*Europe/Berlin"):
        resolve_timezone("Mars/Olympus")
    with pytest.raises(ValueError, match="unknown timezone"):
        resolve_timezone("../../etc/passwd")
