"""The read model (workcraft.overview) on a real database: counts, pages, filters,
details, peons, schedules, throughput and histograms, and the plans of the lists.

Rows are written with SQL so that every column (times, statuses, heartbeats) is exactly
what a test needs; the maintenance events are disabled for this module's database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, event

from tests.helpers import execute, query, scalar
from workcraft import db, overview, store
from workcraft.config import DBConfig, Settings
from workcraft.core import Workcraft, new_task_id
from workcraft.models import Outcome, TaskStatus
from workcraft.overview import FilterError, TaskFilter


@pytest.fixture
def clean(cfg: DBConfig) -> DBConfig:
    execute(
        cfg,
        "DELETE FROM task_attempts",
        "DELETE FROM queue_state",
        "DELETE FROM schedule_tick",
        "DELETE FROM schedule",
    )
    return cfg


@pytest.fixture
def conn(clean: DBConfig) -> Iterator[Connection]:
    with db.connect(clean) as connection:
        yield connection


def _insert(cfg: DBConfig, **columns: Any) -> str:
    """One bountyboard row; time columns given as SQL ("NOW(6) - INTERVAL 1 HOUR") go in
    as expressions, everything else as a bound value."""
    task_id = columns.pop("id", None) or new_task_id()
    values: dict[str, Any] = {
        "task_name": "t",
        "queue": "A",
        "payload": '{"task_args": [], "task_kwargs": {}}',
        **columns,
    }
    expressions = {k: v for k, v in values.items() if isinstance(v, str) and "NOW(6)" in v}
    params = {k: v for k, v in values.items() if k not in expressions}
    names = ["id", *params, *expressions]
    placeholders = [":id", *(f":{k}" for k in params), *expressions.values()]
    execute(
        cfg,
        f"INSERT INTO bountyboard ({', '.join(names)}) VALUES ({', '.join(placeholders)})",
        params={"id": task_id, **params},
    )
    return task_id


def _db_now(cfg: DBConfig) -> datetime:
    value = scalar(cfg, "SELECT NOW(6)")
    assert isinstance(value, datetime)
    return value


# ------------------------------------------------------------------------ queues


def test_queue_stats_counts_every_status_and_shows_paused_empty_queues(
    clean: DBConfig, conn: Connection
) -> None:
    for status in ("SUCCESS", "SUCCESS", "FAILURE", "RUNNING"):
        _insert(clean, status=status, queue="A")
    _insert(clean, status="PENDING", queue="A", run_at="NOW(6) - INTERVAL 30 SECOND")
    _insert(clean, status="PENDING", queue="A", run_at="NOW(6) + INTERVAL 1 HOUR")  # not due
    _insert(clean, status="PENDING", queue="B", run_at="NOW(6) + INTERVAL 1 HOUR")
    Workcraft(db_config=clean).pause_queue("idle-and-paused")
    Workcraft(db_config=clean).pause_queue("B")

    stats = {q.queue: q for q in overview.queue_stats(conn)}

    assert list(stats) == ["A", "B", "idle-and-paused"]
    a = stats["A"]
    assert a.counts == {
        "PENDING": 2,
        "RUNNING": 1,
        "SUCCESS": 2,
        "FAILURE": 1,
        "INVALID": 0,
        "CANCELLED": 0,
        "EXPIRED": 0,
    }
    assert a.total == 6 and not a.paused
    # waited since it became due, by the database's clock
    assert a.oldest_pending_age is not None and 30 <= a.oldest_pending_age < 90
    assert stats["B"].paused and stats["B"].oldest_pending_age is None
    idle = stats["idle-and-paused"]
    assert idle.paused and idle.total == 0 and set(idle.counts) == set(overview.STATUSES)


# -------------------------------------------------------------------------- lists


def test_pages_walk_every_task_once_newest_first_while_tasks_arrive(
    clean: DBConfig, conn: Connection
) -> None:
    ids = [_insert(clean, status="SUCCESS" if i % 3 else "FAILURE") for i in range(23)]
    expected = sorted(ids, reverse=True)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = overview.list_tasks(conn, TaskFilter(), cursor=cursor, limit=5)
        pages += 1
        seen += [t.id for t in page.rows]
        # newer tasks arriving meanwhile never shift the pages still to come
        _insert(clean, status="PENDING")
        if page.next_cursor is None:
            break
        assert page.next_cursor == page.rows[-1].id
        cursor = page.next_cursor
    assert seen == expected
    assert pages == 5
    # a page that ends exactly on the last row has no next page
    exact = overview.list_tasks(conn, TaskFilter(status="FAILURE"), limit=8)
    assert len(exact.rows) == 8 and exact.next_cursor is None


def test_a_status_across_queues_pages_newest_first_merged_from_each_queue(
    clean: DBConfig, conn: Connection
) -> None:
    # no (status, id) index: each queue is read along (status, queue, id), then merged
    made = [
        (_insert(clean, queue=f"q{i % 3}", status="FAILURE" if i % 4 else "SUCCESS"), i % 4)
        for i in range(30)
    ]
    failures = sorted((task_id for task_id, kind in made if kind), reverse=True)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = overview.list_tasks(conn, TaskFilter(status="FAILURE"), cursor=cursor, limit=4)
        seen += [t.id for t in page.rows]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == failures
    app = Workcraft(db_config=clean)
    assert [t.id for t in app.failed(limit=5)] == failures[:5]
    listed = [r["id"] for r in _list_rows(clean, ["FAILURE", "SUCCESS"], 7)]
    assert listed == sorted((task_id for task_id, _ in made), reverse=True)[:7]
    assert overview.list_tasks(conn, TaskFilter(status="RUNNING")).rows == []


def _list_rows(cfg: DBConfig, statuses: list[str], limit: int) -> list[dict[str, Any]]:
    with db.connect(cfg) as conn:
        return store.list_task_rows(conn, statuses, None, limit)


def test_filters_match_each_column_and_combine(clean: DBConfig, conn: Connection) -> None:
    made = {
        "a1": _insert(clean, queue="A", task_name="x", status="SUCCESS"),
        "a2": _insert(clean, queue="A", task_name="y", status="FAILURE", error="Trace\nE: a2\n"),
        "b1": _insert(clean, queue="B", task_name="x", status="FAILURE"),
        "b2": _insert(clean, queue="B", task_name="y", status="PENDING"),
        "old": _insert(
            clean, queue="A", task_name="x", status="SUCCESS", created_at="NOW(6) - INTERVAL 3 DAY"
        ),
    }

    def ids(**kw: Any) -> set[str]:
        return {t.id for t in overview.list_tasks(conn, TaskFilter(**kw)).rows}

    def named(*labels: str) -> set[str]:
        return {made[label] for label in labels}

    assert ids() == named("a1", "a2", "b1", "b2", "old")
    assert ids(queue="A") == named("a1", "a2", "old")
    assert ids(status="failure") == named("a2", "b1")  # statuses in any case
    assert ids(name="x") == named("a1", "b1", "old")
    assert ids(queue="B", status="FAILURE") == named("b1")
    assert ids(queue="A", name="y") == named("a2")
    assert ids(name="x", status="SUCCESS") == named("a1", "old")
    assert ids(name="y", status="PENDING") == named("b2")
    now = _db_now(clean)
    assert ids(since=now - timedelta(days=1)) == named("a1", "a2", "b1", "b2")
    assert ids(until=now - timedelta(days=1)) == named("old")
    assert ids(since=now - timedelta(days=4), until=now - timedelta(days=2)) == named("old")
    assert ids(queue="A", since=now - timedelta(days=1), status="SUCCESS") == named("a1")
    # an aware time is converted to the database's clock
    offset_us = scalar(clean, "SELECT TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), NOW(6))")
    aware_now = (now - timedelta(microseconds=int(offset_us))).replace(tzinfo=UTC)
    assert ids(since=aware_now - timedelta(days=1)) == named("a1", "a2", "b1", "b2")
    assert ids(until=aware_now - timedelta(days=1)) == named("old")

    (a2,) = overview.list_tasks(conn, TaskFilter(queue="A", status="FAILURE")).rows
    assert (a2.task_name, a2.queue, a2.status, a2.error_line) == ("y", "A", "FAILURE", "E: a2")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"status": "DONE"},
            "unknown status 'DONE'; use one of PENDING, RUNNING, SUCCESS, FAILURE, INVALID, "
            "CANCELLED, EXPIRED",
        ),
        ({"queue": ""}, "queue name must not be empty"),
        ({"name": "a\nb"}, "control characters"),
        ({"since": "yesterday"}, "since must be a datetime"),
        (
            {"since": datetime(2026, 1, 2), "until": datetime(2026, 1, 1)},
            "since (2026-01-02T00:00:00) must be before until",
        ),
    ],
)
def test_a_bad_filter_says_what_is_wrong(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(FilterError, match="filter: ") as info:
        TaskFilter(**kwargs)
    assert message in str(info.value)


def test_a_bad_cursor_or_limit_is_refused(conn: Connection) -> None:
    with pytest.raises(FilterError, match=r"cursor .* is not one a task list gave"):
        overview.list_tasks(conn, TaskFilter(), cursor="x' OR '1'='1")
    for limit in (0, 1001, "5", True):
        with pytest.raises(FilterError, match="limit must be a whole number from 1 to 1000"):
            overview.list_tasks(conn, TaskFilter(), limit=limit)  # type: ignore[arg-type]


# ten rows, 0-9: cross joined, any count of rows on both servers (no sequence tables)
_DIGITS = "(" + " UNION ALL ".join(f"SELECT {d} AS d" for d in range(10)) + ")"


def _explain_list(cfg: DBConfig, flt: TaskFilter, cursor: str | None = None) -> list[Any]:
    """The plan of the very statement that reads list_tasks's page (a status without a
    queue first finds its queues: that statement is checked on its own below). Read
    on a SQLAlchemy Connection, whose events show each statement as it is sent."""
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: Any) -> None:
        if "FROM bountyboard" in statement:
            seen.append((statement, params))

    with db.get_engine(cfg).connect() as conn:
        event.listen(conn, "before_cursor_execute", capture)
        try:
            overview.list_tasks(conn, flt, cursor=cursor, limit=50)  # type: ignore[arg-type]
        finally:
            event.remove(conn, "before_cursor_execute", capture)
        pages = [(s, p) for s, p in seen if "page_id" in s]
        assert len(pages) == 1, seen
        statement, params = pages[0]
        return list(conn.exec_driver_sql(f"EXPLAIN {statement}", params).mappings())


def _page_reads(plan: list[Any]) -> list[Any]:
    """The plan rows that pick the page's ids (store.task_page's deferred join: one, or
    one per queue for a status without a queue); the rows themselves are then read by
    primary key, one page of them."""
    joined = [r for r in plan if r["table"] == "bountyboard" and r["select_type"] == "PRIMARY"]
    assert len(joined) == 1, plan
    assert joined[0]["type"] == "eq_ref" and joined[0]["key"] == "PRIMARY", plan
    reads = [r for r in plan if r["table"] == "bountyboard" and r["select_type"] != "PRIMARY"]
    assert reads, plan
    return reads


def _page_read(plan: list[Any]) -> Any:
    (read,) = _page_reads(plan)
    return read


def test_lists_read_an_index_in_order_and_stop_after_a_page(
    clean: DBConfig, conn: Connection
) -> None:
    # 20,000 rows of history over 4 queues, 10 task names and every finished status,
    # a few hundred PENDING: enough that a table scan would show in the plan
    execute(
        clean,
        "INSERT INTO bountyboard (id, task_name, queue, status, created_at, run_at, "
        "started_at, finished_at) "
        "SELECT CONCAT('00000000-0000-7000-8000-', LPAD(n, 12, '0')), "
        "CONCAT('name', n % 10), CONCAT('q', n % 4), "
        "CASE WHEN n % 50 = 0 THEN 'PENDING' WHEN n % 50 = 1 THEN 'FAILURE' "
        "WHEN n % 7 = 0 THEN 'CANCELLED' ELSE 'SUCCESS' END, "
        "NOW(6) - INTERVAL (20000 - n) SECOND, NOW(6) - INTERVAL (20000 - n) SECOND, "
        "NOW(6) - INTERVAL (20000 - n) SECOND, NOW(6) - INTERVAL (19999 - n) SECOND "
        f"FROM (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d AS n "
        f"FROM {_DIGITS} AS a, {_DIGITS} AS b, {_DIGITS} AS c, {_DIGITS} AS e, "
        f"{_DIGITS} AS f) AS numbers WHERE n < 20000",
        "ANALYZE TABLE bountyboard",
    )
    assert scalar(clean, "SELECT COUNT(*) FROM bountyboard") == 20000
    now = _db_now(clean)
    cases = {
        "everything": TaskFilter(),
        "queue": TaskFilter(queue="q1"),
        "status": TaskFilter(status="FAILURE"),
        "queue and status": TaskFilter(queue="q2", status="SUCCESS"),
        "task name": TaskFilter(name="name3"),
        "task name and queue": TaskFilter(name="name3", queue="q3"),
    }
    for label, flt in cases.items():
        for cursor in (None, "00000000-0000-7000-8000-000000010000"):
            for row in _page_reads(_explain_list(clean, flt, cursor)):
                assert row["type"] != "ALL", (label, row)
                assert "filesort" not in (row["Extra"] or ""), (label, row)
    # a status across queues: each queue's newest along (status, queue, id), then only
    # those merged; its queues come from a loose scan, one dive per queue
    reads = _page_reads(_explain_list(clean, TaskFilter(status="SUCCESS")))
    assert len(reads) == 4 and {r["key"] for r in reads} == {"ix_status_queue_id"}, reads
    (queues,) = conn.exec_driver_sql(
        "EXPLAIN SELECT DISTINCT status, queue FROM bountyboard FORCE INDEX "
        "(ix_status_queue_id) WHERE status IN ('SUCCESS')"
    ).mappings()
    assert "Using index for group-by" in queues["Extra"], queues
    # a recent window is read through ix_created; only its ids are sorted
    row = _page_read(_explain_list(clean, TaskFilter(since=now - timedelta(minutes=5))))
    assert row["type"] != "ALL" and row["key"] == "ix_created", row
    for row in _page_reads(
        _explain_list(clean, TaskFilter(status="SUCCESS", since=now - timedelta(minutes=5)))
    ):
        assert row["type"] != "ALL", row


# ------------------------------------------------------------------------- detail


def test_task_detail_has_payload_timings_traceback_and_every_attempt(
    clean: DBConfig, conn: Connection
) -> None:
    app = Workcraft(db_config=clean)
    task_id = app.send_task_sync(
        "t",
        [1, "two"],
        {"three": 3},
        queue="A",
        retry_on_failure=True,
        retry_limit=2,
        unique_key="k-1",
        priority=7,
    )
    for attempt, worker in ((1, "w1"), (2, "w2")):
        with db.connect(clean) as c:
            (claimed,) = store.claim_tasks(c, worker, ["A"], ["t"], 1)
            assert claimed.attempt == attempt
        with db.connect(clean) as c:
            retry = attempt == 1
            store.record_outcomes(
                c,
                worker,
                [
                    Outcome(
                        task_id=task_id,
                        attempt=attempt,
                        status=TaskStatus.FAILURE,
                        error=f"Traceback (most recent call last):\nValueError: boom {attempt}\n",
                        retry=retry,
                        retry_after=0,
                    )
                ],
            )

    detail = overview.task_detail(conn, task_id)

    assert detail is not None
    assert (detail.id, detail.task_name, detail.queue, detail.status) == (
        task_id,
        "t",
        "A",
        "FAILURE",
    )
    assert (detail.args, detail.kwargs, detail.payload_error) == ([1, "two"], {"three": 3}, None)
    assert detail.priority == 7 and detail.unique_key == "k-1"
    assert (detail.attempt, detail.retry_count, detail.retry_limit) == (2, 1, 2)
    assert detail.retry_on_failure and detail.retry_stopped
    assert detail.error is not None and detail.error.endswith("ValueError: boom 2\n")
    assert [(a.attempt, a.worker_id, a.outcome) for a in detail.attempts] == [
        (1, "w1", "RETRY"),
        (2, "w2", "FAILURE"),
    ]
    assert detail.attempts[0].error is not None and "boom 1" in detail.attempts[0].error
    assert detail.started_at is not None and detail.finished_at is not None
    assert detail.duration is not None and detail.duration >= 0
    assert detail.wait is not None and detail.wait >= 0
    assert overview.task_detail(conn, new_task_id()) is None


def test_task_detail_adds_the_latest_attempt_and_shows_an_unreadable_payload(
    clean: DBConfig, conn: Connection
) -> None:
    ok = _insert(
        clean,
        status="SUCCESS",
        attempt=1,
        worker_id="w",
        result='{"n": 1}',
        started_at="NOW(6) - INTERVAL 3 SECOND",
        finished_at="NOW(6) - INTERVAL 1 SECOND",
    )
    detail = overview.task_detail(conn, ok)
    assert detail is not None and detail.result == {"n": 1}
    assert detail.duration is not None and 1.9 < detail.duration < 2.1
    assert [(a.attempt, a.worker_id, a.outcome, a.error) for a in detail.attempts] == [
        (1, "w", "SUCCESS", None)
    ]
    odd = _insert(clean, status="INVALID", payload='["not", "an", "object"]')
    detail = overview.task_detail(conn, odd)
    assert detail is not None and detail.args == [] and detail.kwargs == {}
    assert detail.payload_error == "payload must be a JSON object, got list"
    assert detail.attempts == []  # never claimed


# -------------------------------------------------------------------------- peons


def test_peon_flags_follow_the_heartbeat_age(clean: DBConfig, conn: Connection) -> None:
    rows = {
        "fresh": ("IDLE", 0),
        "late": ("WORKING", 5),
        "silent": ("WORKING", 30),
        "gone": ("OFFLINE", 0),
    }
    for name, (status, age) in rows.items():
        execute(
            clean,
            "INSERT INTO peon (id, status, last_heartbeat, queues, host, pid, concurrency, "
            "pool, version, tasks_done, current_task) VALUES (:id, :status, "
            "NOW(6) - INTERVAL :age SECOND, :queues, 'h', 42, 3, 'process', '9.9', 12, NULL)",
            params={"id": name, "status": status, "age": age, "queues": json.dumps(["A", "B"])},
        )
    settings = Settings(peon_heartbeat_interval=1, dead_peon_timeout=10)

    views = {p.id: p for p in overview.peons(conn, settings)}

    assert list(views)[-1] == "gone"  # live ones first
    flags = {name: (p.alive, p.late) for name, p in views.items()}
    assert flags == {
        "fresh": (True, False),
        "late": (True, True),
        "silent": (False, True),
        "gone": (False, False),
    }
    fresh = views["fresh"]
    assert fresh.queues == ["A", "B"] and fresh.pool == "process" and fresh.concurrency == 3
    assert (fresh.host, fresh.pid, fresh.version, fresh.tasks_done) == ("h", 42, "9.9", 12)
    assert 29 < views["silent"].heartbeat_age < 60


# ---------------------------------------------------------------------- schedules


def test_schedules_show_the_spec_the_next_run_and_the_last_tick(
    clean: DBConfig, conn: Connection
) -> None:
    for name, cron, every, enabled in (("nightly", "30 2 * * *", None, 1), ("tick", None, 90, 0)):
        execute(
            clean,
            "INSERT INTO schedule (name, task_name, queue, cron, every_seconds, timezone, "
            "payload, enabled, definition_hash, next_run_at, created_at, updated_at) VALUES "
            "(:name, 'report', 'R', :cron, :every, 'Europe/Berlin', '{}', :enabled, 'h', "
            "UTC_TIMESTAMP(6) + INTERVAL 1 HOUR, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
            params={"name": name, "cron": cron, "every": every, "enabled": enabled},
        )
    execute(
        clean,
        "INSERT INTO schedule_tick (schedule_name, tick_at, outcome, task_id, fired_by, "
        "created_at) VALUES ('nightly', UTC_TIMESTAMP(6) - INTERVAL 2 DAY, 'FIRED', NULL, 'p', "
        "UTC_TIMESTAMP(6) - INTERVAL 2 DAY), ('nightly', UTC_TIMESTAMP(6) - INTERVAL 1 DAY, "
        "'SKIPPED', NULL, 'p', UTC_TIMESTAMP(6) - INTERVAL 1 DAY)",
    )

    nightly, tick = overview.schedules(conn)

    assert (nightly.name, nightly.spec, nightly.timezone, nightly.enabled) == (
        "nightly",
        "cron 30 2 * * *",
        "Europe/Berlin",
        True,
    )
    assert nightly.last_outcome == "SKIPPED"
    assert nightly.next_run_at.tzinfo is UTC
    assert 3500 < nightly.due_in <= 3600
    assert nightly.last_fired_at is not None
    assert datetime.now(UTC) - nightly.last_fired_at > timedelta(hours=23)
    assert (tick.spec, tick.enabled, tick.last_outcome, tick.last_run_at) == (
        "every 90s",
        False,
        None,
        None,
    )


# --------------------------------------------------------- throughput, durations


def test_throughput_counts_finished_tasks_per_minute_zero_filled(
    clean: DBConfig, conn: Connection
) -> None:
    for queue, status, finished in (
        ("A", "SUCCESS", "NOW(6)"),
        ("A", "FAILURE", "NOW(6)"),
        ("A", "SUCCESS", "NOW(6) - INTERVAL 2 MINUTE"),
        ("A", "INVALID", "NOW(6) - INTERVAL 3 MINUTE"),
        ("A", "CANCELLED", "NOW(6)"),  # neither succeeded nor failed
        ("A", "SUCCESS", "NOW(6) - INTERVAL 2 HOUR"),  # before the window
        ("B", "SUCCESS", "NOW(6) - INTERVAL 1 MINUTE"),
    ):
        _insert(clean, queue=queue, status=status, finished_at=finished)
    stored = query(clean, "SELECT queue, status, finished_at FROM bountyboard")

    def expected(points: list[overview.ThroughputPoint], queue: str | None) -> dict[Any, Any]:
        # from the times as stored: right whichever minute the test happens to run in
        counts = {p.minute: [0, 0] for p in points}
        for r in stored:
            minute = r.finished_at.replace(second=0, microsecond=0)
            if minute in counts and r.status != "CANCELLED" and queue in (None, r.queue):
                counts[minute][0 if r.status == "SUCCESS" else 1] += 1
        return counts

    points = overview.throughput(conn, minutes=5)
    assert len(points) == 5
    assert points[0].minute.second == 0 and points[0].minute.microsecond == 0
    assert [p.minute for p in points] == [points[0].minute + timedelta(minutes=i) for i in range(5)]
    assert {p.minute: [p.succeeded, p.failed] for p in points} == expected(points, None)
    assert sum(p.succeeded + p.failed for p in points) >= 4
    only_a = overview.throughput(conn, minutes=5, queue="A")
    assert {p.minute: [p.succeeded, p.failed] for p in only_a} == expected(only_a, "A")

    # every row is well inside the window, whichever minute this runs in
    assert overview.finished_by_queue(conn, minutes=5) == {"A": (2, 2), "B": (1, 0)}

    with pytest.raises(FilterError, match="minutes must be from 1 to 1440"):
        overview.throughput(conn, minutes=0)


def test_duration_histograms_bucket_recent_runs_per_queue(
    clean: DBConfig, conn: Connection
) -> None:
    runs = {"A": [0.003, 0.2, 3.0, 400.0], "B": [0.05]}
    for queue, seconds in runs.items():
        for s in seconds:
            _insert(
                clean,
                queue=queue,
                status="SUCCESS" if s < 100 else "FAILURE",
                started_at=f"NOW(6) - INTERVAL {round(s * 1e6)} MICROSECOND",
                finished_at="NOW(6)",
            )
    # outside the window, or not a finished run: not counted
    _insert(
        clean,
        queue="A",
        status="SUCCESS",
        started_at="NOW(6) - INTERVAL 2 HOUR",
        finished_at="NOW(6) - INTERVAL 1 HOUR",
    )
    _insert(clean, queue="A", status="CANCELLED", started_at="NOW(6)", finished_at="NOW(6)")
    _insert(clean, queue="A", status="RUNNING", started_at="NOW(6)")

    a, b = overview.duration_histograms(conn, minutes=5, bounds=(0.01, 1, 10))

    assert (a.queue, a.bounds, a.cumulative, a.count) == ("A", (0.01, 1.0, 10.0), (1, 2, 3), 4)
    assert a.sum == pytest.approx(403.203, abs=0.01)
    assert (b.queue, b.cumulative, b.count) == ("B", (0, 1, 1), 1)
    with pytest.raises(FilterError, match="minutes must be positive"):
        overview.duration_histograms(conn, minutes=0)
