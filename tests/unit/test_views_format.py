"""Watching without a database: the Prometheus text format, parsing of durations and
times, filter validation, JSON and tables for the CLI views."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from workcraft import metrics, overview, terminal
from workcraft.cli import _quote_text_flags
from workcraft.overview import FilterError, QueueStats, TaskFilter, TaskPage, TaskSummary
from workcraft.tables import format_table

# ---------------------------------------------------------------------- metrics


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("DEFAULT", "DEFAULT"),
        ('say "hi"', 'say \\"hi\\"'),
        ("C:\\jobs", "C:\\\\jobs"),
        ("two\nlines", "two\\nlines"),
        ('\\"\n', '\\\\\\"\\n'),
        ("ünïcødé ✓", "ünïcødé ✓"),
    ],
)
def test_label_values_escape_backslash_quote_and_newline(raw: str, escaped: str) -> None:
    assert metrics.escape_label_value(raw) == escaped


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (12, "12"),
        (True, "1"),
        (2.0, "2"),
        (0.005, "0.005"),
        (1.5e-7, "1.5e-07"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
    ],
)
def test_sample_values_use_the_formats_spelling(value: float, text: str) -> None:
    assert metrics.format_value(value) == text


def test_the_content_type_names_the_format_version() -> None:
    assert metrics.CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"


# -------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("45s", 45),
        ("30m", 1800),
        ("12h", 43_200),
        ("7d", 604_800),
        ("2w", 1_209_600),
        ("1.5h", 5400),
        ("3600", 3600),
        (" 10 M ", 600),
        (90, 90),
        (0.5, 0.5),
        (timedelta(minutes=2), 120),
    ],
)
def test_durations_read_units_and_plain_seconds(text: object, seconds: float) -> None:
    assert overview.parse_duration(text).total_seconds() == seconds  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "7 days", "-5", "1y", "h", "nan", "1e3s"])
def test_a_bad_duration_says_how_to_write_one(text: str) -> None:
    with pytest.raises(FilterError, match="duration"):
        overview.parse_duration(text)


def test_times_are_iso_or_a_duration_ago() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert overview.parse_time("2h", now=now) == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert overview.parse_time("2026-02-01T08:30") == datetime(2026, 2, 1, 8, 30)
    assert overview.parse_time("2026-02-01 08:30:00+01:00").utcoffset() == timedelta(hours=1)
    with pytest.raises(FilterError, match=r"neither a time .* nor a duration ago"):
        overview.parse_time("last tuesday")


# ---------------------------------------------------------------------- filters


def test_statuses_are_read_in_any_case_and_unknown_ones_listed() -> None:
    assert TaskFilter(status=" failure ").status == "FAILURE"
    with pytest.raises(FilterError) as info:
        TaskFilter(status="DONE")
    assert str(info.value) == (
        "filter: unknown status 'DONE'; use one of PENDING, RUNNING, SUCCESS, FAILURE, "
        "INVALID, CANCELLED, EXPIRED"
    )


def test_purge_takes_finished_statuses_only() -> None:
    assert overview.finished_statuses(None) == overview.FINISHED_STATUSES
    assert overview.finished_statuses("success, Failure,SUCCESS") == ("SUCCESS", "FAILURE")
    assert overview.finished_statuses(["EXPIRED"]) == ("EXPIRED",)
    for live in ("PENDING", "running"):
        with pytest.raises(FilterError, match="are not finished and are never purged"):
            overview.finished_statuses(live)
    with pytest.raises(FilterError, match="unknown status 'DONE'"):
        overview.finished_statuses("SUCCESS,DONE")
    with pytest.raises(FilterError, match="give one or more of"):
        overview.finished_statuses([])


def test_a_filter_error_is_a_value_error_the_cli_reports_in_one_line() -> None:
    from workcraft.cli import _USER_ERRORS

    assert issubclass(FilterError, ValueError)
    assert issubclass(FilterError, _USER_ERRORS)


# ---------------------------------------------------------------- CLI rendering


def _page() -> TaskPage:
    row = TaskSummary(
        id="0190-a",
        task_name="add",
        queue="DEFAULT",
        status="FAILURE",
        priority=0,
        created_at=datetime(2026, 1, 2, 3, 4, 5, 678),
        started_at=datetime(2026, 1, 2, 3, 4, 6),
        finished_at=datetime(2026, 1, 2, 3, 4, 8),
        worker_id="w1",
        attempt=1,
        retry_count=0,
        error_line="ValueError: boom",
    )
    return TaskPage([row], next_cursor="0190-a")


def test_json_output_has_iso_times_and_plain_values() -> None:
    data = json.loads(terminal.to_json(_page()))
    assert data["next_cursor"] == "0190-a"
    assert data["rows"][0]["created_at"] == "2026-01-02T03:04:05.000678"
    assert data["rows"][0]["error_line"] == "ValueError: boom"
    aware = json.loads(terminal.to_json({"at": datetime(2026, 1, 1, tzinfo=UTC)}))
    assert aware == {"at": "2026-01-01T00:00:00+00:00"}


def test_tables_stay_aligned_with_colour_and_plain_without() -> None:
    plain = terminal.task_table(_page(), terminal.Painter(False))
    assert "\033[" not in plain
    assert plain.splitlines()[-1] == "more: --cursor=0190-a"
    coloured = terminal.task_table(_page(), terminal.Painter(True))
    assert "\033[31mFAILURE\033[0m" in coloured
    strip = coloured.replace("\033[31m", "").replace("\033[0m", "")
    assert strip == plain


def test_format_table_styles_cells_after_measuring_them() -> None:
    text = format_table(["a", "b"], [["x", "yy"], ["long", ""]], style=lambda c, t: f"<{t}>")
    assert text.splitlines() == ["a     b", "----  --", "<x>     <yy>", "<long>"]


def test_queue_table_marks_paused_queues() -> None:
    stats = [
        QueueStats("A", dict.fromkeys(overview.STATUSES, 0) | {"PENDING": 3}, 75.0, False),
        QueueStats("B", dict.fromkeys(overview.STATUSES, 0), None, True),
    ]
    lines = terminal.queue_table(stats, terminal.Painter(False)).splitlines()
    assert lines[0].split() == ["queue", *overview.STATUSES, "total", "oldest", "pending", "state"]
    assert lines[2].split() == ["A", "3", "3", "1.2m"]
    assert lines[3].split() == ["B", "0", "paused"]


def test_colour_only_on_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert terminal.use_colour(Tty())
    assert not terminal.use_colour(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not terminal.use_colour(Tty())
    monkeypatch.setenv("NO_COLOR", "")
    assert terminal.use_colour(Tty())


def test_ids_cursors_and_names_of_the_view_commands_stay_text() -> None:
    assert _quote_text_flags(["task", "1e5"]) == ["task", "'1e5'"]
    assert _quote_text_flags(["retry", "0x10", "--json"]) == ["retry", "'0x10'", "--json"]
    assert _quote_text_flags(["purge", "3600", "--status=SUCCESS,FAILURE", "--yes"]) == [
        "purge",
        "'3600'",
        "--status='SUCCESS,FAILURE'",
        "--yes",
    ]
    assert _quote_text_flags(
        ["tasks", "--cursor=0190", "--name", "007", "--since=1e3", "--limit=5"]
    ) == ["tasks", "--cursor='0190'", "--name", "'007'", "--since='1e3'", "--limit=5"]
