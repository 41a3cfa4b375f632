"""The benchmark suite's pure helpers (the suite itself never runs in CI)."""

from __future__ import annotations

import pytest

from bench.dbstats import delta, parse_status, per_unit, rows_read, subtract_own
from bench.report import BEGIN, END, replace_section
from bench.stats import percentile, summarize


def test_percentile_interpolates_between_ranks_like_numpy() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 90) == pytest.approx(3.7)
    assert percentile([7.0], 99) == 7.0


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_is_median_with_range() -> None:
    s = summarize([3.0, 1.0, 2000.0])
    assert (s.median, s.low, s.high, s.n) == (3.0, 1.0, 2000.0, 3)
    assert s.fmt() == "3 (1-2,000)"
    assert summarize([1234.5]).fmt(1, " ms") == "1,234.5 ms"


def test_status_rows_parse_and_subtract() -> None:
    before = parse_status([("Questions", "10"), ("Com_select", "4"), ("Uptime", "x")])
    after = parse_status([("Questions", "25"), ("Com_select", "9"), ("Uptime", "y")])
    assert before == {"Questions": 10, "Com_select": 4}
    assert delta(before, after) == {"Questions": 15, "Com_select": 5}


def test_the_bench_own_statements_are_taken_out() -> None:
    diff = {"Questions": 20, "Com_select": 6, "Handler_read_rnd_next": 1200, "Com_update": 3}
    per_show = {"Questions": 1, "Handler_read_rnd_next": 563}
    out = subtract_own(diff, own_selects=2, own_shows=2, per_show=per_show)
    assert out == {"Questions": 16, "Com_select": 4, "Handler_read_rnd_next": 74, "Com_update": 3}
    # never below zero, whatever noise the server adds
    assert subtract_own({"Questions": 1}, own_selects=5)["Questions"] == 0


def test_rows_read_and_per_unit() -> None:
    diff = {"Handler_read_key": 10, "Handler_read_next": 30, "Com_select": 5}
    assert rows_read(diff) == 40
    assert per_unit({"Questions": 30}, 10) == {"Questions": 3.0}
    assert (
        per_unit({"Questions": 30}, 0)["Questions"] != per_unit({"Questions": 30}, 0)["Questions"]
    )  # NaN: no tasks, no cost per task


def test_section_replaced_between_markers_only() -> None:
    doc = f"# t\n\nintro\n\n{BEGIN}\nold\n{END}\n\n## Dashboard pages with 1,000,000 rows\nkeep\n"
    out = replace_section(doc, "new figures")
    assert out == (
        f"# t\n\nintro\n\n{BEGIN}\nnew figures\n{END}\n\n"
        "## Dashboard pages with 1,000,000 rows\nkeep\n"
    )
    assert replace_section(out, "newer").count(BEGIN) == 1


def test_markers_created_when_missing() -> None:
    assert replace_section("", "x") == f"# workcraft benchmarks\n\n{BEGIN}\nx\n{END}\n"
    doc = "# Bench\n\n## Dashboard pages with 1,000,000 rows\nkeep\n"
    out = replace_section(doc, "x")
    assert out.startswith(f"# Bench\n\n{BEGIN}\nx\n{END}\n\n## Dashboard")
    assert out.endswith("keep\n")
    assert replace_section("no title\n", "x") == f"{BEGIN}\nx\n{END}\n\nno title\n"


def test_a_lone_marker_is_an_error() -> None:
    with pytest.raises(ValueError):
        replace_section(f"{BEGIN}\nhalf", "x")
