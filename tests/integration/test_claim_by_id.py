"""The claim of one task a wake-up hint named (sql/routines/15_claim_task.sql), and
the send that overlaps its hint with its INSERT (db.execute_then).

The by-id claim must keep every rule of the queue claim (due, not expired, queue not
paused, one of the peon's tasks, nobody else's), and must wait for an INSERT that is
still committing rather than miss it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pymysql
import pytest
from sqlalchemy import text

from tests.helpers import execute, scalar
from workcraft import db, store
from workcraft.config import DBConfig
from workcraft.core import Workcraft
from workcraft.models import ClaimedTask

NAMES = ["t", "u"]


@pytest.fixture
def app(cfg: DBConfig) -> Workcraft:
    return Workcraft(db_config=cfg)


def _claim(cfg: DBConfig, worker: str, task_id: str, queue: str = "A") -> tuple[Any, bool]:
    with db.driver_cursor(cfg) as cursor:
        return store.claim_task_by_id(cursor, worker, task_id, queue, NAMES)


def test_claims_the_named_task_with_everything_a_peon_needs(cfg: DBConfig, app: Workcraft) -> None:
    task_id = app.send_task_sync(
        "t", [1], {"k": "v"}, queue="A", retry_on_failure=True, retry_limit=4, timeout=9.5
    )
    job, seen = _claim(cfg, "w1", task_id)
    assert seen and isinstance(job, ClaimedTask)
    assert (job.id, job.task_name, job.queue, job.attempt) == (task_id, "t", "A", 1)
    assert (job.retry_on_failure, job.retry_limit, job.timeout_seconds) == (True, 4, 9.5)
    assert '"k"' in job.payload
    row = execute_row(cfg, task_id)
    assert (row["status"], row["worker_id"], row["attempt"]) == ("RUNNING", "w1", 1)
    assert row["started_at"] is not None

    # Someone else's now: seen, not claimed, not moved.
    assert _claim(cfg, "w2", task_id) == (None, True)
    assert execute_row(cfg, task_id)["worker_id"] == "w1"


def test_a_missing_task_is_not_seen(cfg: DBConfig) -> None:
    assert _claim(cfg, "w1", "01900000-0000-7000-8000-000000000000") == (None, False)


@pytest.mark.parametrize(
    "case",
    ["delayed", "expired", "paused", "other queue", "unknown task", "finished"],
)
def test_keeps_the_rules_of_the_queue_claim(cfg: DBConfig, app: Workcraft, case: str) -> None:
    queue, name, kw = "A", "t", {}
    if case == "delayed":
        kw = {"delay": 3600}
    elif case == "expired":
        kw = {"expires": 0.001}
    elif case == "other queue":
        queue = "B"
    elif case == "unknown task":
        name = "not-ours"
    task_id = app.send_task_sync(name, [1], queue=queue, **kw)
    if case == "expired":
        time.sleep(0.01)  # past its expiry on the database's clock (microseconds)
    if case == "paused":
        app.pause_queue("A")
    if case == "finished":
        execute(
            cfg, "UPDATE bountyboard SET status = 'SUCCESS' WHERE id = :id", params={"id": task_id}
        )
    try:
        assert _claim(cfg, "w1", task_id) == (None, True)
    finally:
        if case == "paused":
            app.resume_queue("A")
    assert execute_row(cfg, task_id)["worker_id"] is None


def test_waits_for_an_insert_that_is_still_committing(cfg: DBConfig, app: Workcraft) -> None:
    task_id = "01900000-0000-7000-8000-00000000abcd"
    got: list[tuple[Any, bool]] = []
    with db.connect(cfg) as writer:
        writer.execute(
            text(
                "INSERT INTO bountyboard (id, task_name, queue, payload) "
                "VALUES (:id, 't', 'A', '{\"task_args\": [], \"task_kwargs\": {}}')"
            ),
            {"id": task_id},
        )
        claimer = threading.Thread(target=lambda: got.append(_claim(cfg, "w1", task_id)))
        claimer.start()
        time.sleep(0.3)  # the claim must be waiting on the row lock, not done
        assert not got, "the claim did not wait for the uncommitted INSERT"
    # the block ends: the INSERT commits, and the waiting claim takes the row
    claimer.join(timeout=10)
    assert len(got) == 1
    job, seen = got[0]
    assert seen and job is not None and job.id == task_id


def test_two_claimers_of_one_task_one_wins(cfg: DBConfig, app: Workcraft) -> None:
    for _ in range(20):
        task_id = app.send_task_sync("t", [1], queue="A")
        results: list[tuple[Any, bool]] = []

        def claim(worker: str, task_id: str = task_id, results: list[Any] = results) -> None:
            results.append(_claim(cfg, worker, task_id))

        claimers = [threading.Thread(target=claim, args=(w,)) for w in ("w1", "w2")]
        for c in claimers:
            c.start()
        for c in claimers:
            c.join(timeout=10)
        assert sorted(job is not None for job, _ in results) == [False, True]
        assert all(seen for _, seen in results)
    assert scalar(cfg, "SELECT COUNT(*) FROM bountyboard WHERE attempt <> 1") == 0


def execute_row(cfg: DBConfig, task_id: str) -> dict[str, Any]:
    with db.connect(cfg) as conn:
        row = conn.execute(text("SELECT * FROM bountyboard WHERE id = :id"), {"id": task_id}).one()
    return dict(row._mapping)


# ------------------------------------------------------------ db.execute_then


def test_execute_then_runs_between_sending_and_reading(cfg: DBConfig) -> None:
    seen: list[int] = []
    with db.driver_cursor(cfg) as cursor:
        # SLEEP(0.3) on the server: then() must run before the reply, not after it
        started = time.monotonic()
        db.execute_then(
            cursor,
            "DO SLEEP(%s)",
            (0.3,),
            lambda: seen.append(round((time.monotonic() - started) * 1000)),
        )
        assert time.monotonic() - started >= 0.3
        cursor.execute("SELECT 1")  # the connection is in step
        assert cursor.fetchall() == ((1,),)
    assert len(seen) == 1 and seen[0] < 250, seen


def test_execute_then_still_reads_the_reply_when_the_statement_fails(
    cfg: DBConfig, app: Workcraft
) -> None:
    task_id = app.send_task_sync("t", [1], queue="A")
    row = app._new_task("t", [1], None, "A", None, None, None, None, None, None, None, None, None)
    duplicate = row._replace(id=task_id)
    calls: list[str] = []
    with (
        pytest.raises(pymysql.err.IntegrityError),
        db.driver_cursor(cfg) as cursor,
    ):
        store.insert_task_autocommit(cursor, duplicate, then=lambda: calls.append("then"))
    assert calls == ["then"]
    with db.driver_cursor(cfg) as cursor:  # the pool hands out a usable connection
        cursor.execute("SELECT 1")
        assert cursor.fetchall() == ((1,),)


def test_the_driver_still_has_the_two_halves_of_a_query() -> None:
    # Without them execute_then degrades to hint-then-INSERT: still correct, but a
    # peon's claim may then overtake the INSERT. A PyMySQL upgrade must not do that
    # silently.
    assert callable(getattr(pymysql.connections.Connection, "_execute_command", None))
    assert callable(getattr(pymysql.connections.Connection, "_read_query_result", None))


def test_execute_then_without_the_halves_calls_then_first() -> None:
    order: list[str] = []

    class Cursor:
        connection = object()

        def execute(self, statement: str, args: Any) -> int:
            order.append("execute")
            return 1

    assert db.execute_then(Cursor(), "SELECT %s", (1,), lambda: order.append("then")) == 1
    assert order == ["then", "execute"]


def test_a_missing_routine_says_to_run_setup(cfg: DBConfig) -> None:
    # Routines older than the package (setup not re-run after an upgrade): the peon
    # turns claims by id off on this error, and a person reads what to do.
    with pytest.raises(db.DatabaseError) as caught, db.connect(cfg) as conn:
        conn.exec_driver_sql("CALL wc_no_such_routine_v1()")
    assert db.error_code(caught.value) == db.NO_SUCH_PROCEDURE
    assert "setup_database_tables" in str(caught.value)


# ------------------------------------------------------------ db.driver_cursor


def test_then_gets_the_claimed_task_and_the_claim_commits_by_itself(
    cfg: DBConfig, app: Workcraft
) -> None:
    task_id = app.send_task_sync("t", [1], queue="A")
    started: list[str] = []
    with db.driver_cursor(cfg) as cursor:  # autocommit: the procedure commits
        job, seen = store.claim_task_by_id(
            cursor, "w1", task_id, "A", NAMES, then=lambda job: started.append(job.id)
        )
        assert seen and job is not None and started == [task_id]
        # Committed before the block ends: another session sees it at once.
        owner = f"SELECT CONCAT(status, ' ', worker_id) FROM bountyboard WHERE id = '{task_id}'"
        assert scalar(cfg, owner) == "RUNNING w1"
    # A task that is not ours: then() is not called.
    with db.driver_cursor(cfg) as cursor:
        assert store.claim_task_by_id(
            cursor, "w2", task_id, "A", NAMES, then=lambda job: started.append("again")
        ) == (None, True)
    assert started == [task_id]


def test_a_then_that_raises_still_reads_the_commit(cfg: DBConfig, app: Workcraft) -> None:
    # The claim stands (the peon's reconciliation releases a task it holds but does
    # not run); the connection goes back to the pool in step, holding nothing.
    task_id = app.send_task_sync("t", [1], queue="A")
    with (
        pytest.raises(RuntimeError, match="slot gone"),
        db.driver_cursor(cfg) as cursor,
    ):
        store.claim_task_by_id(
            cursor, "w1", task_id, "A", NAMES, then=lambda job: _raise(RuntimeError("slot gone"))
        )
    assert scalar(cfg, f"SELECT worker_id FROM bountyboard WHERE id = '{task_id}'") == "w1"
    with db.driver_cursor(cfg) as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchall() == ((1,),)


def test_a_claim_that_fails_in_the_procedure_leaves_no_transaction_open(
    cfg: DBConfig, app: Workcraft
) -> None:
    # The procedure opens its own transaction: a lock wait timeout inside it must not
    # leave that open (holding locks) on a connection that goes back to the pool.
    task_id = app.send_task_sync("t", [1], queue="A")
    open_transactions = (
        "SELECT COUNT(*) FROM information_schema.innodb_trx "
        "WHERE trx_mysql_thread_id = CONNECTION_ID()"
    )
    with db.connect(cfg) as holder:
        holder.execute(
            text("SELECT id FROM bountyboard WHERE id = :id FOR UPDATE"), {"id": task_id}
        ).all()
        with db.driver_cursor(cfg) as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
            try:
                with pytest.raises(pymysql.err.OperationalError) as caught:
                    store.claim_task_by_id(cursor, "w1", task_id, "A", NAMES)
                assert caught.value.args[0] == 1205  # lock wait timeout
                cursor.execute(open_transactions)
                assert cursor.fetchone() == (0,)
            finally:
                cursor.execute("SET SESSION innodb_lock_wait_timeout = DEFAULT")
    assert _claim(cfg, "w1", task_id)[0] is not None  # and the row was left as it was


def _raise(exc: Exception) -> None:
    raise exc


def test_a_connection_that_died_in_the_block_is_not_pooled(cfg: DBConfig) -> None:
    # The block fails for its own reason while the server has dropped the connection:
    # the rollback (done in autocommit mode too) fails, and the connection must be
    # thrown away, not pooled.
    killed: list[Any] = []
    with (
        pytest.raises(RuntimeError, match="after the kill"),
        db.driver_cursor(cfg) as cursor,
    ):
        cursor.execute("SELECT CONNECTION_ID()")
        (connection_id,) = cursor.fetchone()
        execute(cfg, f"KILL {int(connection_id)}")
        killed.append(connection_id)
        raise RuntimeError("after the kill")
    with db.driver_cursor(cfg) as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        (again,) = cursor.fetchone()
    assert killed and again != killed[0]
