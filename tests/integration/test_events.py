"""The database heals itself with no peon running: each EVENT, and each procedure.

The first half lets the real event scheduler act (``db_config`` is set up with the
suite's fast ``test_settings``) and polls for the outcome. The second half calls the
procedures by hand in a database whose events are disabled, with settings chosen
so that every boundary has a wide margin: no timing assumptions there at all.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.helpers import drop_test_database, execute, query, scalar, unique_database_name, wait_for
from workcraft import db, store
from workcraft.config import DBConfig, Settings
from workcraft.schema import setup_database

EVENT_TIMEOUT = 20.0
EVENTS = (
    "wc_check_dead_peons",
    "wc_self_correct_tasks",
    "wc_reopen_failed_tasks",
    "wc_purge_history",
)
JOBS = ("check_dead_peons", "self_correct_tasks", "reopen_failed_tasks", "purge_history")


def _name(kind: str) -> str:
    return f"wct-{kind}-{secrets.token_hex(4)}"


def _task(
    cfg: DBConfig, status: str, *, sql_columns: dict[str, str] | None = None, **columns: Any
) -> str:
    """Insert one bountyboard row; ``sql_columns`` are SQL expressions (e.g. times)."""
    task_id = str(uuid.uuid4())
    values = {"id": task_id, "status": status, "task_name": "wct.task", **columns}
    names = list(values) + list(sql_columns or {})
    exprs = [f":{k}" for k in values] + list((sql_columns or {}).values())
    execute(
        cfg,
        f"INSERT INTO bountyboard ({', '.join(names)}) VALUES ({', '.join(exprs)})",
        params=values,
    )
    return task_id


def _peon(cfg: DBConfig, status: str, heartbeat_sql: str, current_task: str | None = None) -> str:
    peon_id = _name("peon")
    execute(
        cfg,
        "INSERT INTO peon (id, status, last_heartbeat, current_task) "
        f"VALUES (:id, :status, {heartbeat_sql}, :task)",
        params={"id": peon_id, "status": status, "task": current_task},
    )
    return peon_id


def _row(cfg: DBConfig, task_id: str) -> dict[str, Any]:
    rows = query(cfg, "SELECT * FROM bountyboard WHERE id = :id", {"id": task_id})
    assert len(rows) == 1, f"task {task_id} is gone"
    return dict(rows[0]._mapping)


def _status(cfg: DBConfig, task_id: str) -> str:
    return str(_row(cfg, task_id)["status"])


def _db_now(cfg: DBConfig) -> datetime:
    return scalar(cfg, "SELECT NOW(6)")


# --------------------------------------------------------------- the events, live


def test_event_scheduler_is_on_and_events_are_enabled(db_config: DBConfig) -> None:
    with db.connect(db_config) as conn:
        assert store.event_scheduler(conn) == "ON"
        events = {e.name: e for e in store.events(conn)}
    assert set(events) == set(EVENTS)
    assert {e.status for e in events.values()} == {"ENABLED"}


def test_dead_working_peon_goes_offline_and_its_task_is_requeued(db_config: DBConfig) -> None:
    started = _db_now(db_config)
    peon_id = _name("dead")
    task_id = _task(
        db_config,
        "RUNNING",
        worker_id=peon_id,
        attempt=1,
        sql_columns={"started_at": "NOW(6) - INTERVAL 1 HOUR"},
    )
    execute(
        db_config,
        "INSERT INTO peon (id, status, last_heartbeat, current_task) "
        "VALUES (:p, 'WORKING', NOW(6) - INTERVAL 1 HOUR, :t)",
        params={"p": peon_id, "t": task_id},
    )

    wait_for(
        lambda: _status(db_config, task_id) == "PENDING",
        EVENT_TIMEOUT,
        message=lambda: f"task of a dead peon was not requeued: {_row(db_config, task_id)}",
    )
    row = _row(db_config, task_id)
    assert row["worker_id"] is None
    assert row["requeue_count"] == 1
    assert row["attempt"] == 1  # only a claim bumps the attempt
    assert row["retry_count"] == 0  # a dead peon is not the task's failure
    assert scalar(db_config, "SELECT status FROM peon WHERE id = :p", {"p": peon_id}) == "OFFLINE"
    logged = query(
        db_config,
        "SELECT source, message, rows_affected FROM logs WHERE created_at >= :t "
        "AND source = 'check_dead_peons' AND message LIKE 'declared %'",
        {"t": started},
    )
    assert logged, "declaring a peon dead left no row in logs"
    assert all(r.rows_affected >= 1 for r in logged)


def test_running_task_whose_peon_does_not_exist_is_requeued(db_config: DBConfig) -> None:
    ghost = _task(db_config, "RUNNING", worker_id=_name("ghost"))
    orphan = _task(db_config, "RUNNING", worker_id=None)
    wait_for(
        lambda: _status(db_config, ghost) == "PENDING" and _status(db_config, orphan) == "PENDING",
        EVENT_TIMEOUT,
        message=lambda: f"not requeued: {_row(db_config, ghost)}, {_row(db_config, orphan)}",
    )
    for task_id in (ghost, orphan):
        row = _row(db_config, task_id)
        assert row["worker_id"] is None
        assert row["requeue_count"] == 1


def test_task_of_a_live_peon_is_left_alone(db_config: DBConfig) -> None:
    live = _peon(db_config, "WORKING", "NOW(6)")
    held = _task(db_config, "RUNNING", worker_id=live)
    execute(
        db_config, "UPDATE peon SET current_task = :t WHERE id = :p", params={"t": held, "p": live}
    )
    ghost = _task(db_config, "RUNNING", worker_id=_name("ghost"))

    def ghost_requeued_while_live_peon_beats() -> bool:
        execute(
            db_config, "UPDATE peon SET last_heartbeat = NOW(6) WHERE id = :p", params={"p": live}
        )
        return _status(db_config, ghost) == "PENDING"

    # the ghost's task going back proves self-correct ran after both rows existed
    wait_for(ghost_requeued_while_live_peon_beats, EVENT_TIMEOUT, message="self-correct never ran")
    row = _row(db_config, held)
    assert row["status"] == "RUNNING"
    assert row["worker_id"] == live
    assert row["requeue_count"] == 0
    assert scalar(db_config, "SELECT status FROM peon WHERE id = :p", {"p": live}) == "WORKING"
    execute(
        db_config, "UPDATE bountyboard SET status = 'SUCCESS' WHERE id = :t", params={"t": held}
    )


def test_task_that_keeps_killing_peons_is_stopped_as_failure(
    db_config: DBConfig, test_settings: Settings
) -> None:
    limit = test_settings.max_peon_deaths_per_task
    poison = _task(db_config, "RUNNING", worker_id=_name("ghost"), requeue_count=limit - 1)
    survivor = _task(db_config, "RUNNING", worker_id=_name("ghost"), requeue_count=limit - 2)
    wait_for(
        lambda: _status(db_config, poison) == "FAILURE",
        EVENT_TIMEOUT,
        message=lambda: f"poison task not stopped: {_row(db_config, poison)}",
    )
    row = _row(db_config, poison)
    assert row["requeue_count"] == limit
    assert row["finished_at"] is not None
    assert "DB_SETUP_MAX_PEON_DEATHS_PER_TASK" in row["error"]
    assert f"died {limit} times" in row["error"]
    # one death fewer: requeued, not stopped
    wait_for(lambda: _status(db_config, survivor) == "PENDING", EVENT_TIMEOUT)
    assert _row(db_config, survivor)["requeue_count"] == limit - 1


def test_failed_task_with_retries_left_is_reopened(db_config: DBConfig) -> None:
    retry = _task(
        db_config,
        "FAILURE",
        retry_on_failure=1,
        retry_count=0,
        retry_limit=2,
        error="ValueError: first try",
        worker_id="wct-old-peon",
        sql_columns={"finished_at": "NOW(6) - INTERVAL 10 SECOND"},
    )
    exhausted = _task(
        db_config,
        "FAILURE",
        retry_on_failure=1,
        retry_count=2,
        retry_limit=2,
        sql_columns={"finished_at": "NOW(6) - INTERVAL 10 SECOND"},
    )
    no_retry = _task(
        db_config,
        "FAILURE",
        retry_on_failure=0,
        sql_columns={"finished_at": "NOW(6) - INTERVAL 10 SECOND"},
    )
    wait_for(
        lambda: _status(db_config, retry) == "PENDING",
        EVENT_TIMEOUT,
        message=lambda: f"failed task not reopened: {_row(db_config, retry)}",
    )
    row = _row(db_config, retry)
    assert row["retry_count"] == 1
    assert row["finished_at"] is None
    assert row["worker_id"] is None
    assert row["error"] == "ValueError: first try"  # the last error stays visible
    # reopened in the same statement that saw the others: they were judged and kept
    assert _status(db_config, exhausted) == "FAILURE"
    assert _row(db_config, exhausted)["retry_count"] == 2
    assert _status(db_config, no_retry) == "FAILURE"


def _maintenance(cfg: DBConfig) -> dict[str, dict[str, Any]]:
    rows = query(cfg, "SELECT name, last_run_at, last_event_at, last_run_by, runs FROM maintenance")
    return {str(r.name): dict(r._mapping) for r in rows}


def test_maintenance_table_shows_every_event_ticking(db_config: DBConfig) -> None:
    before = _maintenance(db_config)
    assert set(before) == set(JOBS)

    def advanced(job: str, now: dict[str, dict[str, Any]]) -> bool:
        old, new = before[job], now[job]
        return (
            new["last_event_at"] is not None
            and (old["last_event_at"] is None or new["last_event_at"] > old["last_event_at"])
            and new["runs"] > old["runs"]
        )

    now = wait_for(
        lambda: (m := _maintenance(db_config)) and all(advanced(j, m) for j in JOBS) and m,
        EVENT_TIMEOUT,
        message=lambda: f"not every maintenance job ticked: {before} -> {_maintenance(db_config)}",
    )
    for job in JOBS:
        assert now[job]["last_run_by"] == "event"
        assert now[job]["last_run_at"] >= now[job]["last_event_at"]


# ------------------------------------------------------- the procedures, by hand

# Wide margins: every row is at least 50 s away from its boundary.
QUIET_SETTINGS = Settings(
    dead_peon_timeout=60,
    backoff_multiplier_seconds=100,
    backoff_max_seconds=250,
    max_peon_deaths_per_task=3,
)


@pytest.fixture(scope="module")
def quiet_db(db_server: DBConfig) -> Iterator[DBConfig]:
    """Set up, with the events disabled: only the test calls the procedures."""
    cfg = db_server.with_database(unique_database_name("events_quiet"))
    try:
        setup_database(cfg, QUIET_SETTINGS)
        execute(cfg, *(f"ALTER EVENT {e} DISABLE" for e in EVENTS))
        yield cfg
    finally:
        drop_test_database(db_server, cfg.database)


@pytest.fixture
def quiet(quiet_db: DBConfig) -> DBConfig:
    execute(quiet_db, "DELETE FROM bountyboard", "DELETE FROM peon", "DELETE FROM logs")
    return quiet_db


CALLER = "wct-test-caller"


def _call(cfg: DBConfig, procedure: str) -> None:
    with db.connect(cfg) as conn:
        store.call_procedure(conn, procedure, caller=CALLER)


def _snapshot(cfg: DBConfig) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "bountyboard": [tuple(r) for r in query(cfg, "SELECT * FROM bountyboard ORDER BY id")],
        "peon": [tuple(r) for r in query(cfg, "SELECT * FROM peon ORDER BY id")],
        "logs": [tuple(r) for r in query(cfg, "SELECT * FROM logs ORDER BY id")],
    }


def _runs(cfg: DBConfig, job: str) -> int:
    return int(scalar(cfg, "SELECT runs FROM maintenance WHERE name = :n", {"n": job}))


def _call_twice(cfg: DBConfig, procedure: str, job: str) -> None:
    """Call, then call again and assert the second call changed nothing but the stamp."""
    runs = _runs(cfg, job)
    event_stamp = _maintenance(cfg)[job]["last_event_at"]
    _call(cfg, procedure)
    assert _runs(cfg, job) == runs + 1
    first = _snapshot(cfg)
    _call(cfg, procedure)
    assert _snapshot(cfg) == first, f"{procedure} is not idempotent"
    assert _runs(cfg, job) == runs + 2
    stamp = _maintenance(cfg)[job]
    assert stamp["last_run_by"] == CALLER
    # only the database's own scheduler moves last_event_at
    assert stamp["last_event_at"] == event_stamp


def test_check_dead_peons_procedure(quiet: DBConfig) -> None:
    dead_working = _peon(quiet, "WORKING", "NOW(6) - INTERVAL 1 HOUR")
    dead_idle = _peon(quiet, "IDLE", "NOW(6) - INTERVAL 2 MINUTE")
    alive = _peon(quiet, "IDLE", "NOW(6) - INTERVAL 10 SECOND")
    forgotten = _peon(quiet, "OFFLINE", "NOW(6) - INTERVAL 8 DAY")
    recent_offline = _peon(quiet, "OFFLINE", "NOW(6) - INTERVAL 1 DAY")
    task = _task(quiet, "RUNNING", worker_id=dead_working)
    live_task = _task(quiet, "RUNNING", worker_id=alive)

    _call_twice(quiet, "wc_check_dead_peons_v1", "check_dead_peons")

    peons = {str(r[0]): str(r[1]) for r in query(quiet, "SELECT id, status FROM peon")}
    assert peons == {
        dead_working: "OFFLINE",
        dead_idle: "OFFLINE",
        alive: "IDLE",
        recent_offline: "OFFLINE",
    }
    assert forgotten not in peons
    row = _row(quiet, task)
    assert (row["status"], row["worker_id"], row["requeue_count"]) == ("PENDING", None, 1)
    assert _status(quiet, live_task) == "RUNNING"
    logs = [tuple(r) for r in query(quiet, "SELECT source, rows_affected FROM logs ORDER BY id")]
    assert logs == [("check_dead_peons", 2), ("self_correct_tasks", 1)]


def test_check_dead_peons_keeps_an_old_offline_peon_that_still_holds_a_task(
    quiet: DBConfig,
) -> None:
    old = _peon(quiet, "OFFLINE", "NOW(6) - INTERVAL 8 DAY")
    _task(quiet, "RUNNING", worker_id=old)
    _call(quiet, "wc_check_dead_peons_v1")
    # nobody was declared dead in this call, so the task waits for self-correct
    assert scalar(quiet, "SELECT COUNT(*) FROM peon WHERE id = :p", {"p": old}) == 1


def test_self_correct_tasks_procedure(quiet: DBConfig) -> None:
    offline = _peon(quiet, "OFFLINE", "NOW(6) - INTERVAL 1 MINUTE")
    working = _peon(quiet, "WORKING", "NOW(6)")
    of_offline = _task(quiet, "RUNNING", worker_id=offline)
    of_ghost = _task(quiet, "RUNNING", worker_id="wct-never-existed")
    of_nobody = _task(quiet, "RUNNING", worker_id=None)
    of_working = _task(quiet, "RUNNING", worker_id=working)
    poison = _task(quiet, "RUNNING", worker_id="wct-never-existed", requeue_count=2)
    pending = _task(quiet, "PENDING", worker_id=None)
    done = _task(quiet, "SUCCESS", worker_id="wct-never-existed")

    _call_twice(quiet, "wc_self_correct_tasks_v1", "self_correct_tasks")

    for task_id in (of_offline, of_ghost, of_nobody):
        row = _row(quiet, task_id)
        assert (row["status"], row["worker_id"], row["requeue_count"]) == ("PENDING", None, 1)
    assert _status(quiet, of_working) == "RUNNING"
    row = _row(quiet, poison)
    assert (row["status"], row["requeue_count"]) == ("FAILURE", 3)
    assert "DB_SETUP_MAX_PEON_DEATHS_PER_TASK = 3" in row["error"]
    assert "wct-never-existed" in row["error"]
    assert row["finished_at"] is not None
    assert _row(quiet, pending)["requeue_count"] == 0
    assert _status(quiet, done) == "SUCCESS"
    logs = {tuple(r) for r in query(quiet, "SELECT source, rows_affected FROM logs")}
    assert logs == {("self_correct_tasks", 3), ("self_correct_tasks", 1)}


def test_reopen_failed_tasks_procedure_respects_backoff(quiet: DBConfig) -> None:
    # backoff = min(100 s * 2^retry_count, 250 s)
    def failed(retry_count: int, seconds_ago: int, **extra: Any) -> str:
        columns: dict[str, Any] = {"retry_on_failure": 1, "retry_limit": 5, **extra}
        return _task(
            quiet,
            "FAILURE",
            retry_count=retry_count,
            sql_columns={"finished_at": f"NOW(6) - INTERVAL {seconds_ago} SECOND"},
            **columns,
        )

    due_first = failed(0, 150)  # backoff 100 s: due
    early_first = failed(0, 50)  # backoff 100 s: not yet
    early_second = failed(1, 150)  # backoff 200 s: not yet
    due_capped = failed(2, 300)  # backoff 400 s capped at 250 s: due
    early_capped = failed(3, 200)  # capped at 250 s: not yet
    exhausted = failed(5, 3000)
    not_retried = failed(0, 3000, retry_on_failure=0)
    succeeded = _task(quiet, "SUCCESS", retry_on_failure=1)

    _call_twice(quiet, "wc_reopen_failed_tasks_v1", "reopen_failed_tasks")

    statuses = {
        name: (_status(quiet, t), _row(quiet, t)["retry_count"])
        for name, t in {
            "due_first": due_first,
            "early_first": early_first,
            "early_second": early_second,
            "due_capped": due_capped,
            "early_capped": early_capped,
            "exhausted": exhausted,
            "not_retried": not_retried,
            "succeeded": succeeded,
        }.items()
    }
    assert statuses == {
        "due_first": ("PENDING", 1),
        "early_first": ("FAILURE", 0),
        "early_second": ("FAILURE", 1),
        "due_capped": ("PENDING", 3),
        "early_capped": ("FAILURE", 3),
        "exhausted": ("FAILURE", 5),
        "not_retried": ("FAILURE", 0),
        "succeeded": ("SUCCESS", 0),
    }
    assert [tuple(r) for r in query(quiet, "SELECT source, rows_affected FROM logs")] == [
        ("reopen_failed_tasks", 2)
    ]


def test_call_procedure_refuses_anything_else(quiet: DBConfig) -> None:
    with db.connect(quiet) as conn, pytest.raises(ValueError, match="unknown maintenance"):
        store.call_procedure(conn, "wc_check_dead_peons_v1(); DROP TABLE bountyboard; --")
    assert scalar(quiet, "SELECT COUNT(*) FROM bountyboard") == 0
