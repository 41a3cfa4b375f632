"""Every SQL statement workcraft runs, in one place (the files in ``sql/`` aside).

The peon, the client API, the CLI and the setup code call these functions with a
connection they manage (our :class:`~workcraft.link.Link`, or a caller's SQLAlchemy
Connection: :func:`~workcraft.link.run` takes either); none of them writes SQL.
Every value is a bound parameter; the only identifier ever formatted into a statement
is a database name that :class:`~workcraft.config.DBConfig` validated.
"""

from __future__ import annotations

import itertools
import json
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from workcraft.db import execute_overlapped, execute_then
from workcraft.link import SqlConnection, bindparam, run, text
from workcraft.models import ClaimedTask, NewTask, Outcome, TaskStatus
from workcraft.wakeup import WakeTarget

# --------------------------------------------------------------------------- admin


@dataclass(frozen=True)
class EventInfo:
    name: str
    status: str
    interval_seconds: int | None
    last_executed: datetime | None


def server_version(conn: SqlConnection) -> str:
    return str(run(conn, text("SELECT VERSION()")).scalar_one())


def create_database(conn: SqlConnection, name: str) -> None:
    # name was validated by DBConfig (letters, digits, underscore): safe to quote.
    run(conn, text(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4"))


def drop_database(conn: SqlConnection, name: str) -> None:
    run(conn, text(f"DROP DATABASE IF EXISTS `{name}`"))


def database_exists(conn: SqlConnection, name: str) -> bool:
    row = run(
        conn,
        text("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :name"),
        {"name": name},
    ).first()
    return row is not None


def get_setup_lock(conn: SqlConnection, name: str, timeout: int) -> bool:
    return bool(run(conn, text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": timeout}).scalar())


def release_setup_lock(conn: SqlConnection, name: str) -> None:
    run(conn, text("SELECT RELEASE_LOCK(:n)"), {"n": name})


def table_names(conn: SqlConnection) -> set[str]:
    rows = run(
        conn,
        text("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"),
    )
    return {str(r[0]) for r in rows}


def schema_version(conn: SqlConnection) -> int | None:
    """The highest migration applied, 0 for a table with no rows, None with no table."""
    if "workcraft_schema" not in table_names(conn):
        return None
    value = run(conn, text("SELECT MAX(version) FROM workcraft_schema")).scalar()
    return int(value) if value is not None else 0


def record_migration(conn: SqlConnection, version: int, name: str, package_version: str) -> None:
    run(
        conn,
        text("INSERT INTO workcraft_schema (version, name, package_version) VALUES (:v, :n, :p)"),
        {"v": version, "n": name, "p": package_version},
    )


def run_script_statement(conn: SqlConnection, statement: str) -> None:
    """One statement from a file in sql/ (DDL, procedures, events)."""
    # exec_driver_sql: procedure bodies contain ':' and '%' that text() would parse
    conn.exec_driver_sql(statement.replace("%", "%%"))


def event_scheduler(conn: SqlConnection) -> str:
    return str(run(conn, text("SELECT @@GLOBAL.event_scheduler")).scalar_one()).upper()


def enable_event_scheduler(conn: SqlConnection) -> None:
    run(conn, text("SET GLOBAL event_scheduler = ON"))


def events(conn: SqlConnection) -> list[EventInfo]:
    rows = run(
        conn,
        text(
            "SELECT EVENT_NAME, STATUS, INTERVAL_VALUE, INTERVAL_FIELD, LAST_EXECUTED "
            "FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE() "
            "ORDER BY EVENT_NAME"
        ),
    )
    found = []
    for name, status, value, unit, last in rows:
        seconds = int(value) if value is not None and str(unit).upper() == "SECOND" else None
        found.append(EventInfo(str(name), str(status), seconds, last))
    return found


def routines(conn: SqlConnection) -> set[str]:
    rows = run(
        conn,
        text(
            "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()"
        ),
    )
    return {str(r[0]) for r in rows}


def grants(conn: SqlConnection) -> list[str]:
    return [str(r[0]) for r in run(conn, text("SHOW GRANTS"))]


def current_user(conn: SqlConnection) -> str:
    return str(run(conn, text("SELECT CURRENT_USER()")).scalar_one())


def call_procedure(conn: SqlConnection, name: str, caller: str = "manual") -> None:
    """Run a maintenance procedure by hand (tests, and peons where events cannot run).

    ``caller`` is recorded in ``maintenance.last_run_by``; only ``'event'`` counts as
    the database's own scheduler having ticked.
    """
    if name not in _MAINTENANCE_PROCEDURES:
        raise ValueError(f"unknown maintenance procedure {name!r}")
    run(conn, text(f"CALL {name}(:caller)"), {"caller": caller})


_MAINTENANCE_PROCEDURES = frozenset(
    {
        "wc_check_dead_peons_v1",
        "wc_self_correct_tasks_v1",
        "wc_reopen_failed_tasks_v1",
        "wc_purge_history_v1",
    }
)


def row_counts_by_status(conn: SqlConnection) -> dict[str, int]:
    rows = run(conn, text("SELECT status, COUNT(*) FROM bountyboard GROUP BY status"))
    return {str(s): int(n) for s, n in rows}


def recent_logs(conn: SqlConnection, limit: int = 20) -> list[dict[str, Any]]:
    rows = run(
        conn,
        text(
            "SELECT created_at, source, message, rows_affected FROM logs "
            "ORDER BY id DESC LIMIT :limit"
        ),
        {"limit": limit},
    )
    return [dict(r._mapping) for r in rows]


# ------------------------------------------------------------------ task lifecycle

_TASK_COLUMNS = (
    "id, task_name, status, queue, priority, payload, result, error, worker_id, attempt, "
    "retry_on_failure, retry_count, retry_limit, requeue_count, retry_stopped, created_at, "
    "updated_at, "
    "run_at, started_at, finished_at"
)


_TASK_INSERT_COLUMNS = (
    "id, task_name, queue, payload, priority, retry_on_failure, retry_limit, run_at, "
    "expires_at, timeout_seconds, unique_key, delete_on_success"
)
_TIMED_ROW = (
    "(%s, %s, %s, %s, %s, %s, %s, NOW(6) + INTERVAL %s MICROSECOND, "
    "IF(%s IS NULL, NULL, NOW(6) + INTERVAL %s MICROSECOND), %s, %s, %s)"
)
# (column, the column's default in the table); NewTask's fields have the columns' names
_OPTIONAL_COLUMNS = (
    ("priority", 0),
    ("retry_on_failure", False),
    ("retry_limit", 3),
    ("timeout_seconds", None),
    ("unique_key", None),
    ("delete_on_success", False),
)


def insert_tasks(
    conn: SqlConnection, batches: Iterable[Sequence[NewTask]], ignore_existing: bool = False
) -> None:
    """One multi-row INSERT per batch (two when it mixes due-now and timed tasks), in
    the connection's transaction. The next batch is taken from ``batches``, which may
    check and build it then, while the server inserts the current one.

    ``ignore_existing`` skips rows whose id is already there (a retried send whose
    first try committed before its connection broke).
    """
    verb = "INSERT IGNORE" if ignore_existing else "INSERT"
    execute_overlapped(
        conn, (statement for batch in batches for statement in _insert_statements(verb, batch))
    )


def _insert_statements(verb: str, batch: Sequence[NewTask]) -> Iterator[tuple[str, list[Any]]]:
    due_now = [r for r in batch if r.delay_us == 0 and r.expires_us is None]
    if due_now:
        # The common case (no delay, no expiry) needs no SQL expression per row; a
        # column every row leaves at its default is left out (fewer values to escape).
        columns = ["id", "task_name", "queue", "payload"] + [
            column
            for column, default in _OPTIONAL_COLUMNS
            if any(getattr(r, column) != default for r in due_now)
        ]
        row = f"({', '.join(['%s'] * len(columns))})"
        values = operator.attrgetter(*columns)
        yield (
            f"{verb} INTO bountyboard ({', '.join(columns)}) VALUES "
            + ", ".join([row] * len(due_now)),
            list(itertools.chain.from_iterable(map(values, due_now))),
        )
    timed = [r for r in batch if r.delay_us != 0 or r.expires_us is not None]
    if timed:
        yield (
            f"{verb} INTO bountyboard ({_TASK_INSERT_COLUMNS}) VALUES "
            + ", ".join([_TIMED_ROW] * len(timed)),
            [value for r in timed for value in _timed_values(r)],
        )


def _timed_values(r: NewTask) -> tuple[Any, ...]:
    """``_TIMED_ROW``'s values, in its order."""
    return (
        r.id,
        r.task_name,
        r.queue,
        r.payload,
        r.priority,
        r.retry_on_failure,
        r.retry_limit,
        r.delay_us,
        r.expires_us,
        r.expires_us,
        r.timeout_seconds,
        r.unique_key,
        r.delete_on_success,
    )


def insert_task_autocommit(
    cursor: Any, row: NewTask, then: Callable[[], object] = lambda: None
) -> None:
    """One task in one statement, on a driver cursor in autocommit mode (see
    db.driver_cursor): a send is then a single round trip. ``then`` runs while
    the server works on it (db.execute_then)."""
    execute_then(
        cursor,
        f"INSERT INTO bountyboard ({_TASK_INSERT_COLUMNS}) VALUES {_TIMED_ROW}",
        _timed_values(row),
        then,
    )


def live_task_with_key(conn: SqlConnection, task_name: str, unique_key: str) -> str | None:
    value = run(
        conn,
        text("SELECT id FROM bountyboard WHERE task_name = :name AND unique_live = :key"),
        {"name": task_name, "key": unique_key},
    ).scalar()
    return str(value) if value is not None else None


def get_task_row(conn: SqlConnection, task_id: str) -> dict[str, Any] | None:
    row = run(
        conn, text(f"SELECT {_TASK_COLUMNS} FROM bountyboard WHERE id = :id"), {"id": task_id}
    ).first()
    return dict(row._mapping) if row is not None else None


def task_status(conn: SqlConnection, task_id: str) -> str | None:
    value = run(
        conn, text("SELECT status FROM bountyboard WHERE id = :id"), {"id": task_id}
    ).scalar()
    return str(value) if value is not None else None


def list_task_rows(
    conn: SqlConnection, statuses: list[str], queue: str | None, limit: int
) -> list[dict[str, Any]]:
    # Each (status, queue) pair is read backwards along (status, queue, id): ids are
    # time-ordered, so the newest rows come first without a sort, however much history
    # the table keeps.
    pairs = (
        [(status, queue) for status in statuses]
        if queue is not None
        else _status_queues(conn, statuses)
    )
    if not pairs:
        return []
    ids, params = _newest_ids("status = :status{i} AND queue = :queue{i}", pairs)
    # Named: with (queue, id) also there, the optimiser may walk a whole queue's
    # history for a status it holds few of.
    result = run(
        conn,
        text(
            f"SELECT {_TASK_COLUMNS} FROM bountyboard JOIN ({ids}) AS page "
            "ON page.page_id = bountyboard.id ORDER BY bountyboard.id DESC"
        ),
        {**params, "limit": limit},
    )
    return [dict(r._mapping) for r in result]


def _status_queues(conn: SqlConnection, statuses: list[str]) -> list[tuple[str, str]]:
    """The (status, queue) pairs that hold rows: a loose scan of (status, queue, id), one
    index dive per pair however many rows each holds."""
    rows = run(
        conn,
        text(
            "SELECT DISTINCT status, queue FROM bountyboard FORCE INDEX (ix_status_queue_id) "
            "WHERE status IN :statuses"
        ).bindparams(bindparam("statuses", expanding=True)),
        {"statuses": statuses},
    )
    return [(str(s), str(q)) for s, q in rows]


def _newest_ids(
    condition: str, pairs: list[tuple[str, str]], where: str = "", indexes: str = ""
) -> tuple[str, dict[str, Any]]:
    """A statement for the newest ``:limit`` ids over several (status, queue) pairs:
    each pair's newest along (status, queue, id), then only those merged. There is no
    (status, id) index (every claim and outcome would move its entries), so this is
    how a status is listed across queues. ``condition`` takes the pair's number as
    {i}; ``where`` adds further conditions (with AND); ``indexes`` replaces
    ix_status_queue_id as the FORCE INDEX list."""
    parts, params = [], {}
    for i, (status, queue) in enumerate(pairs):
        params[f"status{i}"], params[f"queue{i}"] = status, queue
        parts.append(
            "(SELECT id AS page_id FROM bountyboard FORCE INDEX "
            f"({indexes or 'ix_status_queue_id'}) WHERE {condition.format(i=i)}{where} "
            "ORDER BY id DESC LIMIT :limit)"
        )
    union = " UNION ALL ".join(parts)
    return f"SELECT page_id FROM ({union}) AS newest ORDER BY page_id DESC LIMIT :limit", params


_CLAIM_COLUMNS = (
    "id, task_name, queue, payload, attempt, retry_count, retry_limit, "
    "retry_on_failure, timeout_seconds, delete_on_success"
)
_CLAIM_SELECT = text(
    # pending_queue is the queue while PENDING, else NULL (sql/migrations/0009)
    f"SELECT {_CLAIM_COLUMNS} FROM bountyboard FORCE INDEX (ix_claim) "
    "WHERE pending_queue = :queue AND run_at <= NOW(6) "
    "AND task_name IN :names "
    "AND (expires_at IS NULL OR expires_at > NOW(6)) "
    # uncorrelated, so evaluated once; a locking read does not lock a subquery's rows
    "AND NOT EXISTS (SELECT 1 FROM queue_state WHERE queue_state.queue = :queue "
    "AND queue_state.paused) "
    "ORDER BY priority DESC, run_at, id LIMIT :limit FOR UPDATE SKIP LOCKED"
).bindparams(bindparam("names", expanding=True))


def explain_claim(
    conn: SqlConnection, queue: str, names: list[str], limit: int
) -> list[dict[str, Any]]:
    """The optimiser's plan for one queue's claim (tests and the benchmark check that
    it reads the PENDING range of ix_claim, never history)."""
    explain = text("EXPLAIN " + str(_CLAIM_SELECT.text)).bindparams(
        bindparam("names", expanding=True)
    )
    rows = run(conn, explain, {"queue": queue, "names": names, "limit": limit})
    return [dict(r._mapping) for r in rows]


_CLAIM_UPDATE = text(
    "UPDATE bountyboard SET status = 'RUNNING', worker_id = :worker, attempt = attempt + 1, "
    "started_at = NOW(6), finished_at = NULL WHERE id IN :ids"
).bindparams(bindparam("ids", expanding=True))


def claim_tasks(
    conn: SqlConnection, worker_id: str, queues: list[str], names: list[str], limit: int
) -> list[ClaimedTask]:
    """Lock up to ``limit`` due tasks (queues in the order given) and mark them RUNNING.

    The caller commits right after: the claim is one short transaction, and the
    RUNNING state and its peon land together in that one commit.
    """
    claimed: list[ClaimedTask] = []
    for queue in queues:
        want = limit - len(claimed)
        if want <= 0:
            break
        rows = run(conn, _CLAIM_SELECT, {"queue": queue, "names": names, "limit": want})
        claimed.extend(_claimed(r, 1) for r in rows)
    if claimed:
        run(conn, _CLAIM_UPDATE, {"worker": worker_id, "ids": [t.id for t in claimed]})
    return claimed


def _claimed(row: Any, uncounted: int) -> ClaimedTask:
    """A row of _CLAIM_COLUMNS; ``uncounted``: 1 if it was read before the claim's
    UPDATE (which counts this attempt), else 0."""
    (
        task_id,
        task_name,
        queue,
        payload,
        attempt,
        retry_count,
        retry_limit,
        retry_on_failure,
        timeout_seconds,
        delete_on_success,
    ) = row
    return ClaimedTask(
        id=str(task_id),
        task_name=str(task_name),
        queue=str(queue),
        payload=payload,
        attempt=int(attempt) + uncounted,
        retry_count=int(retry_count),
        retry_limit=int(retry_limit),
        retry_on_failure=bool(retry_on_failure),
        timeout_seconds=float(timeout_seconds) if timeout_seconds else None,
        delete_on_success=bool(delete_on_success),
    )


def claim_task_by_id(
    cursor: Any,
    worker_id: str,
    task_id: str,
    queue: str,
    names: list[str],
    then: Callable[[ClaimedTask], object] = lambda job: None,
) -> tuple[ClaimedTask | None, bool]:
    """Claim the one task a wake-up hint named, if it is due in ``queue``: one round
    trip (sql/routines/15_claim_task.sql) on a driver cursor (db.driver_cursor).
    The procedure commits the claim after sending the row; ``then(job)`` runs once
    the task is ours and before that COMMIT's reply is read, so the task starts
    while the commit is made durable. Returns the task if it is now ours, and
    whether its row was there at all (not yet committed, or gone)."""
    cursor.execute(
        "CALL wc_claim_task_v1(%s, %s, %s, %s)", (task_id, worker_id, queue, json.dumps(names))
    )
    row = cursor.fetchone()
    job = _claimed(row[1:], 0) if row is not None and row[0] else None
    try:
        if job is not None:
            then(job)
    finally:
        while cursor.nextset():  # the CALL's last reply: its COMMIT is durable
            pass
    return job, row is not None


# A success keeps the error of the attempt before it: "succeeded on retry 2 after
# <this>" is what someone debugging a flaky dependency wants to see.
_FENCE = "id = :id AND status = 'RUNNING' AND worker_id = :worker AND attempt = :attempt"
_FINISH = text(
    "UPDATE bountyboard SET status = :status, result = :result, "
    "error = COALESCE(:error, error), finished_at = NOW(6), "
    "retry_stopped = (:status = 'FAILURE') "
    f"WHERE {_FENCE}"
)
_RETRY = text(
    "UPDATE bountyboard SET status = 'PENDING', worker_id = NULL, error = :error, "
    "retry_count = retry_count + 1, finished_at = NULL, "
    "run_at = NOW(6) + INTERVAL :after_us MICROSECOND "
    f"WHERE {_FENCE}"
)
_DELETE_DONE = text(f"DELETE FROM bountyboard WHERE {_FENCE}")
_ATTEMPT = text(
    "INSERT INTO task_attempts (task_id, attempt, worker_id, outcome, error) "
    "VALUES (:id, :attempt, :worker, :outcome, :error)"
)


def record_outcomes(
    conn: SqlConnection,
    worker_id: str,
    outcomes: list[Outcome],
    default_backoff: Callable[[int], float] = lambda retry_count: 0.0,
) -> list[Outcome]:
    """Write finished attempts; return the ones fenced out (requeued or taken elsewhere;
    an outcome its row already shows, written by an earlier try, is not).

    A failure to be retried goes back to PENDING with its backoff; every failed
    attempt also lands in task_attempts; a success sent with delete_on_success
    deletes its row instead.
    """
    plain = [o for o in outcomes if not o.retry and not _deleted_on_success(o)]
    fenced, done = _finish_plain(conn, worker_id, plain)
    written_failures = [
        o for o in plain if o.status in (TaskStatus.FAILURE, TaskStatus.INVALID) and o not in fenced
    ]
    if done < len(plain) - len(fenced):
        # Some rows already showed their outcome (a retried write whose first try
        # committed): their failures are in task_attempts already.
        written_failures = [o for o in written_failures if not already_recorded(conn, worker_id, o)]
    for o in outcomes:
        if not (o.retry or _deleted_on_success(o)):
            continue
        fence = {"id": o.task_id, "worker": worker_id, "attempt": o.attempt}
        if o.retry:
            after = o.retry_after if o.retry_after is not None else default_backoff(o.retry_count)
            result = run(
                conn, _RETRY, {**fence, "error": o.error, "after_us": max(0, round(after * 1e6))}
            )
        else:
            result = run(conn, _DELETE_DONE, fence)
        if result.rowcount == 0:
            fenced.append(o)
            continue
        done += 1
        if o.retry:
            written_failures.append(o)
    for o in written_failures:
        outcome = "RETRY" if o.retry else str(o.status)
        run(
            conn,
            _ATTEMPT,
            {
                "id": o.task_id,
                "worker": worker_id,
                "attempt": o.attempt,
                "outcome": outcome,
                "error": o.error,
            },
        )
    if done:
        run(
            conn,
            text("UPDATE peon SET tasks_done = tasks_done + :n WHERE id = :id"),
            {"n": done, "id": worker_id},
        )
    return fenced


def _deleted_on_success(o: Outcome) -> bool:
    return o.status == TaskStatus.SUCCESS and o.delete_on_success


def _finish_plain(
    conn: SqlConnection, worker_id: str, outcomes: list[Outcome]
) -> tuple[list[Outcome], int]:
    """Final outcomes (no retry, row kept) in one UPDATE: a round trip per batch, not
    per task, is what lets a peon keep up with thousands of short tasks a second.
    Only the attempt this peon claimed, still RUNNING under it, is written. Returns
    the fenced-out ones (an outcome its row already shows is not: writing it again
    is a no-op), and how many rows this call wrote."""
    if not outcomes:
        return [], 0
    rows = " UNION ALL ".join(
        [
            "SELECT CONVERT(%s USING ascii) AS id, %s AS attempt, %s AS status, %s AS result, "
            "%s AS error"
        ]
        + ["SELECT CONVERT(%s USING ascii), %s, %s, %s, %s"] * (len(outcomes) - 1)
    )
    params: list[Any] = []
    for o in outcomes:
        params += [o.task_id, o.attempt, str(o.status), o.result_json, o.error]
    params.append(worker_id)
    params += [o.task_id for o in outcomes]
    written = conn.exec_driver_sql(
        f"UPDATE bountyboard AS b JOIN ({rows}) AS o ON b.id = o.id "
        "SET b.status = o.status, b.result = o.result, "
        "b.error = COALESCE(o.error, b.error), b.finished_at = NOW(6), "
        "b.retry_stopped = (o.status = 'FAILURE') "
        "WHERE b.status = 'RUNNING' AND b.worker_id = %s AND b.attempt = o.attempt "
        f"AND b.id IN ({', '.join(['%s'] * len(outcomes))})",
        tuple(params),
    ).rowcount
    if written == len(outcomes):
        return [], written
    # Rare (this peon was declared dead, or stopped, while they ran): the rows this
    # statement wrote are the ones that now show this very outcome of ours.
    now = {
        str(r.id): (r.worker_id, int(r.attempt), str(r.status))
        for r in run(conn, _STATES, {"ids": [o.task_id for o in outcomes]})
    }
    fenced = [o for o in outcomes if now.get(o.task_id) != (worker_id, o.attempt, str(o.status))]
    return fenced, written


_STATES = text(
    "SELECT id, worker_id, attempt, status FROM bountyboard WHERE id IN :ids"
).bindparams(bindparam("ids", expanding=True))


def already_recorded(conn: SqlConnection, worker_id: str, outcome: Outcome) -> bool:
    """Whether this very outcome was written: a write whose COMMIT reply was lost may
    have committed, and its retry is then fenced out by itself."""
    if outcome.retry or outcome.status in (TaskStatus.FAILURE, TaskStatus.INVALID):
        found = run(
            conn,
            text(
                "SELECT 1 FROM task_attempts WHERE task_id = :id AND attempt = :attempt "
                "AND worker_id = :worker"
            ),
            {"id": outcome.task_id, "attempt": outcome.attempt, "worker": worker_id},
        ).first()
        return found is not None
    row = run(
        conn,
        text("SELECT status, worker_id, attempt FROM bountyboard WHERE id = :id"),
        {"id": outcome.task_id},
    ).first()
    if row is None:
        return outcome.status == TaskStatus.SUCCESS and outcome.delete_on_success
    return (str(row.status), row.worker_id, int(row.attempt)) == (
        str(outcome.status),
        worker_id,
        outcome.attempt,
    )


def release_task(
    conn: SqlConnection, worker_id: str, task_id: str, attempt: int, died: bool
) -> bool:
    """Put a RUNNING task of ours back to PENDING (shutdown, or its process died)."""
    result = run(
        conn,
        text(
            "UPDATE bountyboard SET status = 'PENDING', worker_id = NULL, "
            "requeue_count = requeue_count + :died "
            "WHERE id = :id AND status = 'RUNNING' AND worker_id = :worker AND attempt = :attempt"
        ),
        {"id": task_id, "worker": worker_id, "attempt": attempt, "died": int(died)},
    )
    return result.rowcount == 1


def running_tasks_of(conn: SqlConnection, worker_id: str) -> list[tuple[str, int]]:
    """(id, attempt) of every task the database has RUNNING under this peon."""
    rows = run(
        conn,
        text("SELECT id, attempt FROM bountyboard WHERE status = 'RUNNING' AND worker_id = :w"),
        {"w": worker_id},
    )
    return [(str(r.id), int(r.attempt)) for r in rows]


def release_all_tasks_of(conn: SqlConnection, worker_id: str) -> int:
    """A restarted peon frees what its previous, dead incarnation held."""
    result = run(
        conn,
        text(
            "UPDATE bountyboard SET status = 'PENDING', worker_id = NULL, "
            "requeue_count = requeue_count + 1 "
            "WHERE status = 'RUNNING' AND worker_id = :worker"
        ),
        {"worker": worker_id},
    )
    return int(result.rowcount)


# ---------------------------------------------------------------------------- peons


@dataclass(frozen=True)
class PeonRow:
    id: str
    status: str
    host: str
    pid: int
    heartbeat_age: float


def get_peon(conn: SqlConnection, worker_id: str) -> PeonRow | None:
    row = run(
        conn,
        text(
            "SELECT id, status, host, pid, "
            "TIMESTAMPDIFF(MICROSECOND, last_heartbeat, NOW(6)) / 1e6 AS age "
            "FROM peon WHERE id = :id"
        ),
        {"id": worker_id},
    ).first()
    if row is None:
        return None
    return PeonRow(str(row.id), str(row.status), str(row.host), int(row.pid), float(row.age))


def register_peon(
    conn: SqlConnection,
    *,
    worker_id: str,
    queues_json: str,
    host: str,
    pid: int,
    concurrency: int,
    pool: str,
    version: str,
    wake_addr: str | None = None,
    wake_token: str | None = None,
) -> None:
    run(
        conn,
        text(
            "INSERT INTO peon (id, status, last_heartbeat, current_task, queues, host, pid, "
            "concurrency, pool, version, started_at, wake_addr, wake_token) "
            "VALUES (:id, 'PREPARING', NOW(6), NULL, "
            ":queues, :host, :pid, :concurrency, :pool, :version, NOW(6), :addr, :token) "
            "ON DUPLICATE KEY UPDATE status = 'PREPARING', last_heartbeat = NOW(6), "
            "current_task = NULL, queues = :queues, host = :host, pid = :pid, "
            "concurrency = :concurrency, pool = :pool, version = :version, "
            "started_at = NOW(6), wake_addr = :addr, wake_token = :token"
        ),
        {
            "addr": wake_addr,
            "token": wake_token,
            "id": worker_id,
            "queues": queues_json,
            "host": host,
            "pid": pid,
            "concurrency": concurrency,
            "pool": pool,
            "version": version,
        },
    )


def wake_targets(conn: SqlConnection) -> list[WakeTarget]:
    """Where to send wake-up hints: every peon not OFFLINE that listens for them."""
    rows = run(
        conn,
        text(
            "SELECT wake_addr, wake_token, queues FROM peon "
            "WHERE status <> 'OFFLINE' AND wake_addr IS NOT NULL AND wake_token IS NOT NULL"
        ),
    )
    targets = []
    for r in rows:
        try:
            queues = json.loads(r.queues) if r.queues else []
        except ValueError:
            continue  # a row edited by hand: that peon is reached by its polling
        if isinstance(queues, list):
            targets.append(
                WakeTarget(str(r.wake_addr), str(r.wake_token), frozenset(map(str, queues)))
            )
    return targets


def heartbeat(conn: SqlConnection, worker_id: str, status: str, current_task: str | None) -> bool:
    """Stamp the peon alive. False when the database had declared it OFFLINE (or lost it)."""
    result = run(
        conn,
        text(
            "UPDATE peon SET last_heartbeat = NOW(6), status = :status, current_task = :task "
            "WHERE id = :id AND status <> 'OFFLINE'"
        ),
        {"id": worker_id, "status": status, "task": current_task},
    )
    return result.rowcount == 1


def set_peon_offline(conn: SqlConnection, worker_id: str) -> None:
    run(
        conn,
        text("UPDATE peon SET status = 'OFFLINE', current_task = NULL WHERE id = :id"),
        {"id": worker_id},
    )


# ------------------------------------------------------- maintenance by the peons


@dataclass(frozen=True)
class MaintenanceJobState:
    name: str
    seconds_since_event: float | None
    seconds_since_run: float | None
    last_run_by: str | None

    def ran_within(self, seconds: float) -> bool:
        return self.seconds_since_run is not None and self.seconds_since_run < seconds


def maintenance_states(conn: SqlConnection) -> dict[str, MaintenanceJobState]:
    rows = run(
        conn,
        text(
            "SELECT name, TIMESTAMPDIFF(MICROSECOND, last_event_at, NOW(6)) / 1e6, "
            "TIMESTAMPDIFF(MICROSECOND, last_run_at, NOW(6)) / 1e6, last_run_by "
            "FROM maintenance"
        ),
    )
    return {
        str(n): MaintenanceJobState(
            str(n),
            float(event_age) if event_age is not None else None,
            float(run_age) if run_age is not None else None,
            str(by) if by is not None else None,
        )
        for n, event_age, run_age, by in rows
    }


def take_maintenance_lease(conn: SqlConnection, job: str, owner: str, seconds: float) -> bool:
    """One peon at a time may stand in for a job: a conditional UPDATE with an expiry.

    Not GET_LOCK: on a Galera cluster each node grants its own GET_LOCK, so two
    peons on two nodes would both hold it. A row update is certified cluster-wide.
    """
    result = run(
        conn,
        text(
            "UPDATE maintenance SET lease_owner = :owner, "
            "lease_until = NOW(6) + INTERVAL :us MICROSECOND "
            "WHERE name = :job AND (lease_owner IS NULL OR lease_until < NOW(6) "
            "OR lease_owner = :owner)"
        ),
        {"owner": owner, "us": round(seconds * 1e6), "job": job},
    )
    return result.rowcount == 1


# -------------------------------------------------------------------- control


def cancel_task(conn: SqlConnection, task_id: str) -> tuple[str, str | None]:
    """Cancel: ("cancelled", _) for a waiting task, ("stop_requested", _) for a running
    one (its peon stops it), ("finished", status) when it had ended, or ("unknown", None)."""
    done = run(
        conn,
        text(
            "UPDATE bountyboard SET status = 'CANCELLED', finished_at = NOW(6) "
            "WHERE id = :id AND (status = 'PENDING' OR retryable = 1)"
        ),
        {"id": task_id},
    ).rowcount
    if done:
        return "cancelled", None
    asked = run(
        conn,
        text(
            "UPDATE bountyboard SET cancel_requested = TRUE WHERE id = :id AND status = 'RUNNING'"
        ),
        {"id": task_id},
    ).rowcount
    if asked:
        return "stop_requested", None
    status = task_status(conn, task_id)
    return ("finished", status) if status is not None else ("unknown", None)


def cancel_requests_of(conn: SqlConnection, worker_id: str) -> list[tuple[str, int]]:
    """(id, attempt) of this peon's running tasks that someone asked to stop."""
    rows = run(
        conn,
        text(
            "SELECT id, attempt FROM bountyboard WHERE status = 'RUNNING' "
            "AND worker_id = :w AND cancel_requested"
        ),
        {"w": worker_id},
    )
    return [(str(r.id), int(r.attempt)) for r in rows]


def set_queue_paused(conn: SqlConnection, queue: str, paused: bool, by: str) -> None:
    run(
        conn,
        text(
            "INSERT INTO queue_state (queue, paused, changed_by) VALUES (:q, :p, :by) "
            "ON DUPLICATE KEY UPDATE paused = :p, changed_by = :by"
        ),
        {"q": queue, "p": paused, "by": by},
    )


def paused_queues(conn: SqlConnection) -> list[str]:
    rows = run(conn, text("SELECT queue FROM queue_state WHERE paused ORDER BY queue"))
    return [str(r[0]) for r in rows]


# -------------------------------------------------------------- periodic schedules
#
# Times in `schedule` and `schedule_tick` are UTC, read and compared with the
# database's UTC_TIMESTAMP(6): never a host's clock, and not NOW(6) either, whose
# value depends on the session's time_zone.


@dataclass(frozen=True)
class ScheduleRow:
    name: str
    task_name: str
    queue: str
    cron: str | None
    every_us: int | None
    timezone: str
    payload: str
    misfire: str
    enabled: bool
    next_run_at: datetime  # naive UTC, as stored
    last_run_at: datetime | None
    last_task_id: str | None
    definition_hash: str


_SCHEDULE_COLUMNS = (
    "name, task_name, queue, cron, every_seconds, timezone, payload, misfire, enabled, "
    "next_run_at, last_run_at, last_task_id, definition_hash"
)


def _schedule_row(r: Any) -> ScheduleRow:
    return ScheduleRow(
        name=str(r.name),
        task_name=str(r.task_name),
        queue=str(r.queue),
        cron=None if r.cron is None else str(r.cron),
        every_us=None if r.every_seconds is None else int(r.every_seconds * 1_000_000),
        timezone=str(r.timezone),
        payload=r.payload if isinstance(r.payload, str) else bytes(r.payload).decode(),
        misfire=str(r.misfire),
        enabled=bool(r.enabled),
        next_run_at=r.next_run_at,
        last_run_at=r.last_run_at,
        last_task_id=None if r.last_task_id is None else str(r.last_task_id),
        definition_hash=str(r.definition_hash),
    )


def utc_now(conn: SqlConnection) -> datetime:
    """The database's clock, in UTC (naive, like every DATETIME read back)."""
    value: datetime = run(conn, text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
    return value


def schedule_rows(conn: SqlConnection, names: list[str], *, lock: bool) -> dict[str, ScheduleRow]:
    """The rows of these schedules; ``lock`` holds them (in name order) until commit."""
    if not names:
        return {}
    statement = text(
        f"SELECT {_SCHEDULE_COLUMNS} FROM schedule WHERE name IN :names ORDER BY name"
        + (" FOR UPDATE" if lock else "")
    ).bindparams(bindparam("names", expanding=True))
    return {str(r.name): _schedule_row(r) for r in run(conn, statement, {"names": names})}


def schedule_names(conn: SqlConnection) -> set[str]:
    return {str(r[0]) for r in run(conn, text("SELECT name FROM schedule"))}


def insert_schedule(conn: SqlConnection, definition: dict[str, Any], next_run_at: datetime) -> None:
    """A new schedule row. ``definition`` holds every column of the definition."""
    run(
        conn,
        text(
            "INSERT INTO schedule (name, task_name, queue, cron, every_seconds, timezone, "
            "payload, misfire, enabled, definition_hash, next_run_at, created_at, "
            "updated_at) VALUES (:name, :task_name, :queue, :cron, :every_seconds, "
            ":timezone, :payload, :misfire, :enabled, :definition_hash, :next_run_at, "
            "UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))"
        ),
        {**definition, "next_run_at": next_run_at},
    )


def update_schedule_definition(
    conn: SqlConnection, definition: dict[str, Any], next_run_at: datetime | None
) -> None:
    """Write a changed definition; ``next_run_at`` None keeps the row's next tick."""
    run(
        conn,
        text(
            "UPDATE schedule SET task_name = :task_name, queue = :queue, cron = :cron, "
            "every_seconds = :every_seconds, timezone = :timezone, payload = :payload, "
            "misfire = :misfire, enabled = :enabled, "
            "definition_hash = :definition_hash, "
            "next_run_at = COALESCE(:next_run_at, next_run_at), "
            "updated_at = UTC_TIMESTAMP(6) WHERE name = :name"
        ),
        {**definition, "next_run_at": next_run_at},
    )


def schedule_waits(conn: SqlConnection, names: list[str]) -> dict[str, float]:
    """Seconds until each enabled schedule's next tick, by the database's clock
    (zero or less: due)."""
    if not names:
        return {}
    rows = run(
        conn,
        text(
            "SELECT name, TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), next_run_at) "
            "FROM schedule WHERE enabled = 1 AND name IN :names"
        ).bindparams(bindparam("names", expanding=True)),
        {"names": names},
    )
    return {str(name): int(us) / 1e6 for name, us in rows}


def lock_due_schedule(conn: SqlConnection, name: str) -> tuple[ScheduleRow, datetime] | None:
    """The schedule's row, locked, with the database's UTC time, if it is due.

    SKIP LOCKED: a row another peon is firing right now is its business. The lock
    only saves work; what makes a tick fire once is the tick's primary key.
    """
    row = run(
        conn,
        text(
            f"SELECT {_SCHEDULE_COLUMNS}, UTC_TIMESTAMP(6) AS db_now FROM schedule "
            "WHERE name = :name AND enabled = 1 AND next_run_at <= UTC_TIMESTAMP(6) "
            "FOR UPDATE SKIP LOCKED"
        ),
        {"name": name},
    ).first()
    return None if row is None else (_schedule_row(row), row.db_now)


def insert_schedule_tick(
    conn: SqlConnection,
    *,
    schedule_name: str,
    tick_at: datetime,
    task_id: str | None,
    outcome: str,
    fired_by: str,
) -> None:
    """Claim one tick of a schedule. A duplicate key (1062) means it was claimed."""
    run(
        conn,
        text(
            "INSERT INTO schedule_tick (schedule_name, tick_at, task_id, outcome, fired_by, "
            "created_at) VALUES (:name, :tick_at, :task_id, :outcome, :fired_by, "
            "UTC_TIMESTAMP(6))"
        ),
        {
            "name": schedule_name,
            "tick_at": tick_at,
            "task_id": task_id,
            "outcome": outcome,
            "fired_by": fired_by,
        },
    )


def advance_schedule(
    conn: SqlConnection,
    *,
    name: str,
    expected_next_run_at: datetime,
    next_run_at: datetime,
    fired_tick: datetime | None,
    task_id: str | None,
) -> bool:
    """Move the schedule to its next tick, only if it still points at the tick read
    (compare-and-set) and is enabled; False when it does not."""
    result = run(
        conn,
        text(
            "UPDATE schedule SET next_run_at = :next_run_at, "
            "last_run_at = COALESCE(:fired_tick, last_run_at), "
            "last_task_id = COALESCE(:task_id, last_task_id) "
            "WHERE name = :name AND next_run_at = :expected AND enabled = 1"
        ),
        {
            "next_run_at": next_run_at,
            "fired_tick": fired_tick,
            "task_id": task_id,
            "name": name,
            "expected": expected_next_run_at,
        },
    )
    return result.rowcount == 1


def set_schedule_tick_task(
    conn: SqlConnection, *, schedule_name: str, tick_at: datetime, task_id: str
) -> None:
    run(
        conn,
        text(
            "UPDATE schedule_tick SET task_id = :task_id "
            "WHERE schedule_name = :name AND tick_at = :tick_at"
        ),
        {"task_id": task_id, "name": schedule_name, "tick_at": tick_at},
    )


# ---- read models: CLI views, dashboard, metrics
#
# Read-only, except retry_task and purge_tasks, which the CLI's retry and purge call.
# Every list is bounded: pages walk an index newest first and stop (ids are
# time-ordered UUIDv7s); windows read a (finished_status, finished_at) range (the
# status once finished, NULL before: sql/migrations/0009); only the counts
# by queue and status read a whole index (the covering (status, queue, id), about a
# tenth of a second per million rows kept).

_FINISHED_FOR_THROUGHPUT = ("SUCCESS", "FAILURE", "INVALID")
# A histogram reads tasks that ran: a row that ended INVALID often never started.
_FINISHED_FOR_DURATION = ("SUCCESS", "FAILURE")


def db_now(conn: SqlConnection) -> datetime:
    """The database's clock (NOW(6), naive), which every bountyboard time is read on."""
    value: datetime = run(conn, text("SELECT NOW(6)")).scalar_one()
    return value


def db_utc_offset_us(conn: SqlConnection) -> int:
    """Microseconds the database's clock (NOW) is ahead of UTC."""
    # one statement: both functions read the same instant
    value = run(
        conn, text("SELECT TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), NOW(6))")
    ).scalar_one()
    return int(value)


def task_counts(conn: SqlConnection) -> list[tuple[str, str, int]]:
    """(queue, status, count) for every pair that has rows: one pass over the covering
    index (status, queue, id), never the table's rows."""
    rows = run(conn, text("SELECT queue, status, COUNT(*) FROM bountyboard GROUP BY status, queue"))
    return [(str(q), str(s), int(n)) for q, s, n in rows]


def oldest_due_pending(conn: SqlConnection) -> dict[str, float]:
    """Per queue, seconds since the oldest PENDING task that is due became due; reads
    only the PENDING range of the claim index."""
    rows = run(
        conn,
        text(
            "SELECT pending_queue, TIMESTAMPDIFF(MICROSECOND, MIN(run_at), NOW(6)) / 1e6 "
            "FROM bountyboard WHERE pending_queue IS NOT NULL AND run_at <= NOW(6) "
            "GROUP BY pending_queue"
        ),
    )
    return {str(q): max(0.0, float(age)) for q, age in rows}


_SUMMARY_COLUMNS = (
    "id, task_name, queue, status, priority, created_at, started_at, finished_at, "
    "worker_id, attempt, retry_count, RIGHT(error, :error_tail) AS error_tail"
)
# Enough of a traceback's end for its last line; the whole error is for task_detail.
_ERROR_TAIL_CHARS = 2000


def task_page(
    conn: SqlConnection,
    *,
    queue: str | None = None,
    status: str | None = None,
    task_name: str | None = None,
    created_from: datetime | None = None,
    created_before: datetime | None = None,
    before_id: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Up to ``limit`` tasks newest first (by id), matching every filter given.

    Keyset pagination: ``before_id`` is the last id of the previous page, so a page
    costs the same however deep it is. See :func:`_page_indexes` for how each
    combination of filters is read.
    """
    conditions: list[str] = []
    params: dict[str, Any] = {"limit": limit, "error_tail": _ERROR_TAIL_CHARS}
    for column, key, value, op in (
        ("queue", "queue", queue, "="),
        ("status", "status", status, "="),
        ("task_name", "task_name", task_name, "="),
        ("created_at", "created_from", created_from, ">="),
        ("created_at", "created_before", created_before, "<"),
        ("id", "before_id", before_id, "<"),
    ):
        if value is not None:
            conditions.append(f"{column} {op} :{key}")
            params[key] = value
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    timed = created_from is not None or created_before is not None
    indexes = _page_indexes(queue is not None, status, task_name is not None, timed)
    if status is not None and queue is None and indexes.startswith("ix_status_queue_id"):
        pairs = _status_queues(conn, [status])
        if not pairs:
            return []
        rest = "".join(f" AND {c}" for c in conditions if not c.startswith("status "))
        ids, pair_params = _newest_ids(
            "status = :status{i} AND queue = :queue{i}", pairs, rest, indexes
        )
        params.update(pair_params)
    else:
        ids = f"SELECT id AS page_id FROM bountyboard FORCE INDEX ({indexes}) {where}"
        ids += "ORDER BY id DESC LIMIT :limit"
    # Deferred join: the page's ids come from the index first (for a time range, only
    # the window's ids are sorted), then just those rows are read. Sorting the window's
    # whole rows instead spilled to disk: 0.3-2 s for a 1-hour window at a million rows,
    # 3 ms this way (bench/dashboard.py).
    rows = run(
        conn,
        text(
            f"SELECT {_SUMMARY_COLUMNS} FROM bountyboard JOIN ("
            f"{ids}) AS page ON page.page_id = bountyboard.id "
            "ORDER BY bountyboard.id DESC"
        ),
        params,
    )
    return [dict(r._mapping) for r in rows]


def _page_indexes(queue: bool, status: str | None, name: bool, timed: bool) -> str:
    """The index (or two) a page may read: one whose order is id within the filters.

    Left to itself the optimizer intersects two of these (index_merge) and sorts the
    whole intersection, a second at a million rows for status + queue, where reading
    (status, queue, id) newest first stops after one page. So the choice is ours, and
    always exactly one id-ordered index, reading newest first and stopping after a
    page; filters it does not hold are checked row by row (a status without a queue:
    per queue, then merged, see :func:`_newest_ids`). For two filters without a shared
    index: a task name mostly lives in one queue, so its index beats the
    queue's; a finished status holds all history, a task name a share of it, while a
    live status (PENDING, RUNNING) holds only the backlog. A time range adds
    ix_created as the optimizer's other choice: a narrow window is read through it and
    only that window sorted.
    """
    if status is not None and (queue or not name or status in ("PENDING", "RUNNING")):
        ordered = "ix_status_queue_id"
    elif name:
        ordered = "ix_name_id"
    elif queue:
        ordered = "ix_queue_id"
    else:
        ordered = "PRIMARY"
    return f"{ordered}, ix_created" if timed else ordered


_DETAIL_COLUMNS = (
    "id, task_name, status, queue, priority, payload, result, error, worker_id, attempt, "
    "retry_on_failure, retry_count, retry_limit, requeue_count, retry_stopped, created_at, "
    "updated_at, run_at, started_at, finished_at, expires_at, timeout_seconds, unique_key, "
    "cancel_requested, delete_on_success"
)


def task_detail_row(conn: SqlConnection, task_id: str) -> dict[str, Any] | None:
    row = run(
        conn, text(f"SELECT {_DETAIL_COLUMNS} FROM bountyboard WHERE id = :id"), {"id": task_id}
    ).first()
    return dict(row._mapping) if row is not None else None


def task_attempt_rows(conn: SqlConnection, task_id: str) -> list[dict[str, Any]]:
    rows = run(
        conn,
        text(
            "SELECT attempt, worker_id, outcome, error, finished_at FROM task_attempts "
            "WHERE task_id = :id ORDER BY attempt, id"
        ),
        {"id": task_id},
    )
    return [dict(r._mapping) for r in rows]


def peon_rows(conn: SqlConnection) -> list[dict[str, Any]]:
    rows = run(
        conn,
        text(
            "SELECT id, host, pid, queues, concurrency, pool, status, current_task, "
            "started_at, tasks_done, version, last_heartbeat, "
            "TIMESTAMPDIFF(MICROSECOND, last_heartbeat, NOW(6)) / 1e6 AS heartbeat_age "
            "FROM peon ORDER BY status = 'OFFLINE', id"
        ),
    )
    return [dict(r._mapping) for r in rows]


def schedule_view_rows(conn: SqlConnection) -> list[dict[str, Any]]:
    # schedule times are UTC (see the schedule section above): compare with UTC_TIMESTAMP
    rows = run(
        conn,
        text(
            "SELECT s.name, s.task_name, s.queue, s.cron, s.every_seconds, s.timezone, "
            "s.misfire, s.enabled, s.next_run_at, s.last_run_at, s.last_task_id, "
            "TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), s.next_run_at) / 1e6 AS due_in, "
            "(SELECT t.outcome FROM schedule_tick AS t WHERE t.schedule_name = s.name "
            " ORDER BY t.tick_at DESC LIMIT 1) AS last_outcome, "
            "(SELECT t.created_at FROM schedule_tick AS t WHERE t.schedule_name = s.name "
            " ORDER BY t.tick_at DESC LIMIT 1) AS last_fired_at "
            "FROM schedule AS s ORDER BY s.name"
        ),
    )
    return [dict(r._mapping) for r in rows]


def finished_per_minute(
    conn: SqlConnection, start: datetime, queue: str | None = None
) -> list[tuple[str, int, int]]:
    """(status, minutes after ``start``, count) of tasks finished since ``start``: a
    range of (status, finished_at) per status, so only the window is read."""
    statement = text(
        "SELECT status, TIMESTAMPDIFF(MINUTE, :start, finished_at) AS bucket, COUNT(*) "
        "FROM bountyboard WHERE finished_status IN :statuses AND finished_at >= :start "
        + ("AND queue = :queue " if queue is not None else "")
        + "GROUP BY status, bucket"
    ).bindparams(bindparam("statuses", expanding=True))
    rows = run(
        conn,
        statement,
        {"start": start, "statuses": list(_FINISHED_FOR_THROUGHPUT), "queue": queue},
    )
    return [(str(s), int(b), int(n)) for s, b, n in rows]


def finished_by_queue(conn: SqlConnection, start: datetime) -> list[tuple[str, str, int]]:
    """(queue, status, count) of tasks finished since ``start``: the window's range of
    (status, finished_at) per status."""
    rows = run(
        conn,
        text(
            "SELECT queue, status, COUNT(*) FROM bountyboard "
            "WHERE finished_status IN :statuses AND finished_at >= :start "
            "GROUP BY queue, status"
        ).bindparams(bindparam("statuses", expanding=True)),
        {"start": start, "statuses": list(_FINISHED_FOR_THROUGHPUT)},
    )
    return [(str(q), str(s), int(n)) for q, s, n in rows]


def duration_buckets(
    conn: SqlConnection, window_us: int, bounds_us: list[int]
) -> list[tuple[str, int, float, list[int]]]:
    """Per queue, over tasks that finished SUCCESS or FAILURE within the window:
    (queue, count, sum of run seconds, [count at or under each bound]). One range of
    (status, finished_at) per status; the aggregation stays in the database."""
    le = ", ".join(f"SUM(us <= :b{i})" for i in range(len(bounds_us)))
    statement = text(
        f"SELECT queue, COUNT(*), SUM(us) / 1e6{', ' + le if le else ''} FROM ("
        "SELECT queue, TIMESTAMPDIFF(MICROSECOND, started_at, finished_at) AS us "
        "FROM bountyboard WHERE finished_status IN :statuses "
        "AND finished_at >= NOW(6) - INTERVAL :window MICROSECOND "
        "AND started_at IS NOT NULL) AS finished GROUP BY queue ORDER BY queue"
    ).bindparams(bindparam("statuses", expanding=True))
    params: dict[str, Any] = {"statuses": list(_FINISHED_FOR_DURATION), "window": window_us}
    params.update({f"b{i}": b for i, b in enumerate(bounds_us)})
    found = []
    for row in run(conn, statement, params):
        queue, count, total, *cumulative = row
        found.append((str(queue), int(count), float(total or 0), [int(c or 0) for c in cumulative]))
    return found


_RETRYABLE_BY_HAND = ("FAILURE", "INVALID", "CANCELLED", "EXPIRED")


def retry_task(conn: SqlConnection, task_id: str) -> tuple[str, str | None]:
    """Put a finished, unsuccessful task back to PENDING, due now.

    ("requeued", None), ("refused", its status) or ("unknown", None). attempt,
    retry_count, the last error and task_attempts stay: the history is kept, and the
    next claim's attempt number still fences out any late finisher of an old one. An
    expiry already past is dropped, or the task would only expire again. Raises
    IntegrityError (1062) when another live task holds the same unique_key.
    """
    done = run(
        conn,
        text(
            "UPDATE bountyboard SET status = 'PENDING', worker_id = NULL, result = NULL, "
            "run_at = NOW(6), started_at = NULL, finished_at = NULL, retry_stopped = FALSE, "
            "cancel_requested = FALSE, "
            "expires_at = IF(expires_at <= NOW(6), NULL, expires_at) "
            "WHERE id = :id AND status IN :statuses"
        ).bindparams(bindparam("statuses", expanding=True)),
        {"id": task_id, "statuses": list(_RETRYABLE_BY_HAND)},
    ).rowcount
    if done:
        return "requeued", None
    status = task_status(conn, task_id)
    return ("refused", status) if status is not None else ("unknown", None)


def _purge_condition(status: str) -> str:
    # a failure the reopen event will still retry is not history yet
    return "finished_status = :status AND finished_at < NOW(6) - INTERVAL :age MICROSECOND" + (
        " AND retryable IS NULL" if status == "FAILURE" else ""
    )


def count_purgeable(conn: SqlConnection, status: str, older_than_us: int) -> int:
    value = run(
        conn,
        text(f"SELECT COUNT(*) FROM bountyboard WHERE {_purge_condition(status)}"),
        {"status": status, "age": older_than_us},
    ).scalar_one()
    return int(value)


def purge_tasks(conn: SqlConnection, status: str, older_than_us: int, batch: int) -> int:
    """Delete up to ``batch`` of the oldest ``status`` rows finished longer ago than the
    age, with their attempts; the caller commits after each batch so that no run holds
    many locks for long."""
    ids = [
        str(r[0])
        for r in run(
            conn,
            text(
                f"SELECT id FROM bountyboard WHERE {_purge_condition(status)} "
                "ORDER BY finished_at LIMIT :batch FOR UPDATE"
            ),
            {"status": status, "age": older_than_us, "batch": batch},
        )
    ]
    if not ids:
        return 0
    run(
        conn,
        text("DELETE FROM task_attempts WHERE task_id IN :ids").bindparams(
            bindparam("ids", expanding=True)
        ),
        {"ids": ids},
    )
    result = run(
        conn,
        text("DELETE FROM bountyboard WHERE id IN :ids AND status = :status").bindparams(
            bindparam("ids", expanding=True)
        ),
        {"ids": ids, "status": status},
    )
    return int(result.rowcount)
