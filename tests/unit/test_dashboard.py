"""The dashboard's pure parts: options and tokens, query parsing, formatting, the chart,
how peons are judged. No database, no browser."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import parse_qsl

import pytest

from workcraft import dashboard
from workcraft.dashboard import formatting, views
from workcraft.dashboard.chart import MinuteCounts, build_chart
from workcraft.dashboard.filters import parse_task_id, parse_task_query
from workcraft.dashboard.options import (
    TOKEN_ENV,
    DashboardError,
    DashboardOptions,
    is_loopback,
    parse_flag,
    resolve_token,
)
from workcraft.dashboard.problems import BadRequest
from workcraft.dashboard.security import allowed_hosts, token_matches
from workcraft.models import TaskStatus
from workcraft.overview import PeonView

SECRET = "a-token-of-decent-length"


def test_options_never_show_the_token() -> None:
    options = DashboardOptions(actions=True, token=SECRET)
    assert SECRET not in repr(options) and "'***'" in repr(options)
    assert SECRET not in str(options)


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"actions": True}, "--actions needs a token"),
        ({"actions": True, "token": "short"}, "use at least 16"),
        ({"port": 65536}, "is not a TCP port"),
        ({"port": "80"}, "--port must be a whole number"),
        ({"host": ""}, "is not a host name"),
        ({"refresh_seconds": 0}, "--refresh must be between"),
        ({"refresh_seconds": "5"}, "--refresh must be a number"),
        ({"actions": "yes"}, "--actions must be True or False"),
    ],
)
def test_bad_options_say_what_to_change(kwargs: dict[str, object], says: str) -> None:
    with pytest.raises(DashboardError, match=says):
        DashboardOptions(**kwargs)  # type: ignore[arg-type]


def test_yes_no_flags_are_read_by_what_they_say() -> None:
    assert parse_flag("false", "--actions") is False  # fire hands over the string
    assert parse_flag("True", "--actions") is True
    assert parse_flag(False, "--actions") is False
    with pytest.raises(DashboardError, match="True or False"):
        parse_flag("perhaps", "--actions")


def test_where_the_token_comes_from() -> None:
    env = {TOKEN_ENV: SECRET}
    assert resolve_token(None, actions=False, interactive=True, env=env) == (None, False)
    assert resolve_token(None, actions=True, interactive=False, env=env) == (SECRET, False)
    assert resolve_token("flag-wins-" * 2, actions=True, interactive=False, env=env)[0] == (
        "flag-wins-" * 2
    )
    generated, was_generated = resolve_token(None, actions=True, interactive=True, env={})
    assert was_generated and generated is not None and len(generated) >= 16
    with pytest.raises(DashboardError, match=TOKEN_ENV):
        resolve_token(None, actions=True, interactive=False, env={})


def test_loopback_binds_accept_only_loopback_host_names() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")
    assert "evil.example" not in allowed_hosts("127.0.0.1")
    assert allowed_hosts("0.0.0.0") == ["*"]


def test_tokens_compare_exactly() -> None:
    assert token_matches(SECRET, SECRET)
    assert not token_matches(SECRET[:-1], SECRET)
    assert not token_matches(None, SECRET) and not token_matches("", SECRET)


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        dashboard.importlib.util,
        "find_spec",
        lambda name: None if name == "uvicorn" else object(),
    )
    with pytest.raises(DashboardError, match=r"uvicorn not installed.*workcraft\[dashboard\]"):
        dashboard._require_extra()


def test_task_query_parses_and_round_trips() -> None:
    q = parse_task_query(
        {
            "queue": "emails",
            "status": "failure",
            "name": "send",
            "since": "2026-01-31T14:00",
            "until": "2026-02-01",
            "limit": "20",
            "partial": "1",
        }
    )
    assert q.status is TaskStatus.FAILURE and q.limit == 20
    assert q.since == datetime(2026, 1, 31, 14, 0)
    again = parse_task_query(dict(parse_qsl(q.query_string())))
    assert again == q
    assert "after=abc" in q.query_string(after="abc")
    assert parse_task_query({"queue": "  "}).queue is None


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"status": "DONE"}, "use one of PENDING, RUNNING"),
        ({"since": "last tuesday"}, "is not a time"),
        ({"until": "2026-01-01T00:00Z"}, "has a time zone"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "swap them"),
        ({"limit": "501"}, "from 1 to 500"),
        ({"queue": "x" * 256}, "at most 255"),
        ({"order": "asc"}, "unknown filter 'order'"),
    ],
)
def test_bad_task_queries(params: dict[str, str], says: str) -> None:
    with pytest.raises(BadRequest, match=says):
        parse_task_query(params)


def test_task_ids_typed_in_are_trimmed_and_checked() -> None:
    assert parse_task_id("  abc-1 \n") == "abc-1"
    with pytest.raises(BadRequest, match="is not a task id"):
        parse_task_id("x" * 65)


def test_formatting() -> None:
    assert formatting.age(4.25) == "4.2 s"
    assert formatting.age(75) == "1 min 15 s"
    assert formatting.age(3600) == "1 h"
    assert formatting.age(90061) == "1 d 1 h"
    assert formatting.age(None) == formatting.NONE
    assert formatting.duration(0.0123) == "12 ms"
    assert formatting.when(datetime(2026, 1, 2, 3, 4, 5, 678901)) == "2026-01-02 03:04:05.678"
    assert formatting.number(1234567) == "1,234,567"
    assert formatting.percent(0.125) == "12.5 %"
    assert formatting.pretty_json({"a": ["<b>"]}) == '{\n  "a": [\n    "<b>"\n  ]\n}'
    assert formatting.pretty_json("not json") == "not json"
    assert formatting.path_segment("a/b?c#d") == "a%2Fb%3Fc%23d"
    assert formatting.short_id("01a2072e-89d8-7206-9af0-d70b760da566") == "01a2072e…a566"


def test_chart_stacks_failures_on_successes_and_draws_the_rate() -> None:
    start = datetime(2026, 1, 1, 12, 0)
    points = [MinuteCounts(start + timedelta(minutes=i), 0, 0) for i in range(60)]
    points[-1] = MinuteCounts(points[-1].minute, 30, 10)
    chart = build_chart(points)
    assert len(chart.bars) == 60 and chart.y_max == 50
    last = chart.bars[-1]
    assert last.failed_y + last.failed_height == pytest.approx(last.ok_y)
    assert last.ok_height == pytest.approx(3 * last.failed_height)
    assert chart.failure_rate == 0.25 and chart.per_minute == pytest.approx(40 / 60)
    assert chart.rate_points.count(",") == 1  # only minutes in which something finished
    assert (chart.first_label, chart.last_label) == ("12:00", "12:59")
    assert build_chart([]).failure_rate is None


def _peon(status: str, alive: bool, late: bool, name: str = "p") -> PeonView:
    return PeonView(
        id=name,
        host="h",
        pid=1,
        queues=["DEFAULT"],
        concurrency=1,
        pool="thread",
        status=status,
        current_task=None,
        heartbeat_age=1.0,
        started_at=datetime(2026, 1, 1),
        tasks_done=0,
        version="1",
        alive=alive,
        late=late,
    )


def test_peons_are_judged_and_trouble_comes_first() -> None:
    rows = views.peon_rows(
        [
            _peon("OFFLINE", False, True, "a-stopped"),
            _peon("IDLE", True, False, "b-fine"),
            _peon("WORKING", True, True, "c-late"),
            _peon("WORKING", False, True, "d-dead"),
        ]
    )
    assert [(r.id, r.health) for r in rows] == [
        ("d-dead", "dead"),
        ("c-late", "late"),
        ("b-fine", "ok"),
        ("a-stopped", "offline"),
    ]
    assert views.summarize_peons(rows) == views.PeonSummary(alive=2, late=1, dead=1, offline=1)
