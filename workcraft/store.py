"""Every SQL statement workcraft runs, in one place (the files in ``sql/`` aside).

The peon, the client API, the CLI and the setup code call these functions with a
``Connection`` they manage; none of them writes SQL. Every value is a bound
parameter; the only identifier ever formatted into a statement is a database name
that :class:`~workcraft.config.DBConfig` validated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, text

from workcraft.models import ClaimedTask, NewTask, Outcome, TaskStatus

# --------------------------------------------------------------------------- admin


@dataclass(frozen=True)
class EventInfo:
    name: str
    status: str
    interval_seconds: int | None
    last_executed: datetime | None


def server_version(conn: Connection) -> str:
    return str(conn.execute(text("SELECT VERSION()")).scalar_one())


def create_database(conn: Connection, name: str) -> None:
    # name was validated by DBConfig (letters, digits, underscore): safe to quote.
    conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4"))


def drop_database(conn: Connection, name: str) -> None:
    conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))


def database_exists(conn: Connection, name: str) -> bool:
    row = conn.execute(
        text("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :name"),
        {"name": name},
    ).first()
    return row is not None


def get_setup_lock(conn: Connection, name: str, timeout: int) -> bool:
    return bool(conn.execute(text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": timeout}).scalar())


def release_setup_lock(conn: Connection, name: str) -> None:
    conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": name})


def table_names(conn: Connection) -> set[str]:
    rows = conn.execute(
        text("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
    )
    return {str(r[0]) for r in rows}


def schema_version(conn: Connection) -> int | None:
    """The highest migration applied, 0 for a table with no rows, None with no table."""
    if "workcraft_schema" not in table_names(conn):
        return None
    value = conn.execute(text("SELECT MAX(version) FROM workcraft_schema")).scalar()
    return int(value) if value is not None else 0


def record_migration(conn: Connection, version: int, name: str, package_version: str) -> None:
    conn.execute(
        text("INSERT INTO workcraft_schema (version, name, package_version) VALUES (:v, :n, :p)"),
        {"v": version, "n": name, "p": package_version},
    )


def run_script_statement(conn: Connection, statement: str) -> None:
    """One statement from a file in sql/ (DDL, procedures, events)."""
    # exec_driver_sql: procedure bodies contain ':' and '%' that text() would parse
    conn.exec_driver_sql(statement.replace("%", "%%"))


def event_scheduler(conn: Connection) -> str:
    return str(conn.execute(text("SELECT @@GLOBAL.event_scheduler")).scalar_one()).upper()


def enable_event_scheduler(conn: Connection) -> None:
    conn.execute(text("SET GLOBAL event_scheduler = ON"))


def events(conn: Connection) -> list[EventInfo]:
    rows = conn.execute(
        text(
            "SELECT EVENT_NAME, STATUS, INTERVAL_VALUE, INTERVAL_FIELD, LAST_EXECUTED "
            "FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE() "
            "ORDER BY EVENT_NAME"
        )
    )
    found = []
    for name, status, value, unit, last in rows:
        seconds = int(value) if value is not None and str(unit).upper() == "SECOND" else None
        found.append(EventInfo(str(name), str(status), seconds, last))
    return found


def routines(conn: Connection) -> set[str]:
    rows = conn.execute(
        text(
            "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()"
        )
    )
    return {str(r[0]) for r in rows}


def grants(conn: Connection) -> list[str]:
    return [str(r[0]) for r in conn.execute(text("SHOW GRANTS"))]


def current_user(conn: Connection) -> str:
    return str(conn.execute(text("SELECT CURRENT_USER()")).scalar_one())


def call_procedure(conn: Connection, name: str, caller: str = "manual") -> None:
    """Run a maintenance procedure by hand (tests, and peons where events cannot run).

    ``caller`` is recorded in ``maintenance.last_run_by``; only ``'event'`` counts as
    the database's own scheduler having ticked.
    """
    if name not in _MAINTENANCE_PROCEDURES:
        raise ValueError(f"unknown maintenance procedure {name!r}")
    conn.execute(text(f"CALL {name}(:caller)"), {"caller": caller})


_MAINTENANCE_PROCEDURES = frozenset(
    {
        "wc_check_dead_peons_v1",
        "wc_self_correct_tasks_v1",
        "wc_reopen_failed_tasks_v1",
        "wc_purge_history_v1",
    }
)


def row_counts_by_status(conn: Connection) -> dict[str, int]:
    rows = conn.execute(text("SELECT status, COUNT(*) FROM bountyboard GROUP BY status"))
    return {str(s): int(n) for s, n in rows}


def recent_logs(conn: Connection, limit: int = 20) -> list[dict[str, Any]]:
    rows = conn.execute(
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


_INSERT_BATCH = 1000
_TASK_INSERT_COLUMNS = (
    "id, task_name, queue, payload, priority, retry_on_failure, retry_limit, run_at, "
    "expires_at, timeout_seconds, unique_key, delete_on_success"
)


def insert_tasks(conn: Connection, rows: list[NewTask], ignore_existing: bool = False) -> None:
    """Multi-row INSERTs of up to 1,000 rows each: one round trip per batch.

    ``ignore_existing`` skips rows whose id is already there (a retried send whose
    first try committed before its connection broke).
    """
    verb = "INSERT IGNORE" if ignore_existing else "INSERT"
    for start in range(0, len(rows), _INSERT_BATCH):
        batch = rows[start : start + _INSERT_BATCH]
        values = []
        params: dict[str, Any] = {}
        for i, row in enumerate(batch):
            values.append(
                f"(:id{i}, :name{i}, :queue{i}, :payload{i}, :priority{i}, :retry{i}, "
                f":limit{i}, NOW(6) + INTERVAL :delay{i} MICROSECOND, "
                f"IF(:expires{i} IS NULL, NULL, NOW(6) + INTERVAL :expires{i} MICROSECOND), "
                f":timeout{i}, :unique{i}, :delete{i})"
            )
            params.update(
                {
                    f"id{i}": row.id,
                    f"name{i}": row.task_name,
                    f"queue{i}": row.queue,
                    f"payload{i}": row.payload,
                    f"priority{i}": row.priority,
                    f"retry{i}": row.retry_on_failure,
                    f"limit{i}": row.retry_limit,
                    f"delay{i}": row.delay_us,
                    f"expires{i}": row.expires_us,
                    f"timeout{i}": row.timeout_seconds,
                    f"unique{i}": row.unique_key,
                    f"delete{i}": row.delete_on_success,
                }
            )
        conn.execute(
            text(f"{verb} INTO bountyboard ({_TASK_INSERT_COLUMNS}) VALUES {', '.join(values)}"),
            params,
        )


def live_task_with_key(conn: Connection, task_name: str, unique_key: str) -> str | None:
    value = conn.execute(
        text("SELECT id FROM bountyboard WHERE task_name = :name AND unique_live = :key"),
        {"name": task_name, "key": unique_key},
    ).scalar()
    return str(value) if value is not None else None


def get_task_row(conn: Connection, task_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        text(f"SELECT {_TASK_COLUMNS} FROM bountyboard WHERE id = :id"), {"id": task_id}
    ).first()
    return dict(row._mapping) if row is not None else None


def task_status(conn: Connection, task_id: str) -> str | None:
    value = conn.execute(
        text("SELECT status FROM bountyboard WHERE id = :id"), {"id": task_id}
    ).scalar()
    return str(value) if value is not None else None


def list_task_rows(
    conn: Connection, statuses: list[str], queue: str | None, limit: int
) -> list[dict[str, Any]]:
    # One statement per status, each reading backwards along (status[, queue], id):
    # ids are time-ordered, so the newest rows come first without a sort, however
    # much history the table keeps.
    rows: list[dict[str, Any]] = []
    for status in statuses:
        where = "status = :status" + (" AND queue = :queue" if queue is not None else "")
        result = conn.execute(
            text(
                f"SELECT {_TASK_COLUMNS} FROM bountyboard WHERE {where} "
                "ORDER BY id DESC LIMIT :limit"
            ),
            {"status": status, "queue": queue, "limit": limit},
        )
        rows.extend(dict(r._mapping) for r in result)
    rows.sort(key=lambda r: str(r["id"]), reverse=True)
    return rows[:limit]


_CLAIM_SELECT = text(
    "SELECT id, task_name, queue, payload, attempt, retry_count, retry_limit, "
    "retry_on_failure, timeout_seconds, delete_on_success "
    "FROM bountyboard FORCE INDEX (ix_claim) "
    "WHERE status = 'PENDING' AND queue = :queue AND run_at <= NOW(6) "
    "AND task_name IN :names "
    "AND (expires_at IS NULL OR expires_at > NOW(6)) "
    # uncorrelated, so evaluated once; a locking read does not lock a subquery's rows
    "AND NOT EXISTS (SELECT 1 FROM queue_state WHERE queue_state.queue = :queue "
    "AND queue_state.paused) "
    "ORDER BY priority DESC, run_at, id LIMIT :limit FOR UPDATE SKIP LOCKED"
).bindparams(bindparam("names", expanding=True))

_CLAIM_UPDATE = text(
    "UPDATE bountyboard SET status = 'RUNNING', worker_id = :worker, attempt = attempt + 1, "
    "started_at = NOW(6), finished_at = NULL WHERE id IN :ids"
).bindparams(bindparam("ids", expanding=True))


def claim_tasks(
    conn: Connection, worker_id: str, queues: list[str], names: list[str], limit: int
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
        rows = conn.execute(_CLAIM_SELECT, {"queue": queue, "names": names, "limit": want})
        claimed.extend(
            ClaimedTask(
                id=str(r.id),
                task_name=str(r.task_name),
                queue=str(r.queue),
                payload=r.payload,
                attempt=int(r.attempt) + 1,
                retry_count=int(r.retry_count),
                retry_limit=int(r.retry_limit),
                retry_on_failure=bool(r.retry_on_failure),
                timeout_seconds=float(r.timeout_seconds) if r.timeout_seconds else None,
                delete_on_success=bool(r.delete_on_success),
            )
            for r in rows
        )
    if claimed:
        conn.execute(_CLAIM_UPDATE, {"worker": worker_id, "ids": [t.id for t in claimed]})
    return claimed


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
    conn: Connection,
    worker_id: str,
    outcomes: list[Outcome],
    default_backoff: Callable[[int], float] = lambda retry_count: 0.0,
) -> list[Outcome]:
    """Write finished attempts; return the ones fenced out (requeued or taken elsewhere).

    A failure to be retried goes back to PENDING with its backoff; every failed
    attempt also lands in task_attempts; a success sent with delete_on_success
    deletes its row instead.
    """
    fenced = []
    for o in outcomes:
        fence = {"id": o.task_id, "worker": worker_id, "attempt": o.attempt}
        if o.retry:
            after = o.retry_after if o.retry_after is not None else default_backoff(o.retry_count)
            result = conn.execute(
                _RETRY, {**fence, "error": o.error, "after_us": max(0, round(after * 1e6))}
            )
        elif o.status == TaskStatus.SUCCESS and o.delete_on_success:
            result = conn.execute(_DELETE_DONE, fence)
        else:
            result = conn.execute(
                _FINISH,
                {**fence, "status": str(o.status), "result": o.result_json, "error": o.error},
            )
        if result.rowcount == 0:
            fenced.append(o)
        elif o.status in (TaskStatus.FAILURE, TaskStatus.INVALID):
            outcome = "RETRY" if o.retry else str(o.status)
            conn.execute(_ATTEMPT, {**fence, "outcome": outcome, "error": o.error})
    done = len(outcomes) - len(fenced)
    if done:
        conn.execute(
            text("UPDATE peon SET tasks_done = tasks_done + :n WHERE id = :id"),
            {"n": done, "id": worker_id},
        )
    return fenced


def already_recorded(conn: Connection, worker_id: str, outcome: Outcome) -> bool:
    """Whether this very outcome was written: a write whose COMMIT reply was lost may
    have committed, and its retry is then fenced out by itself."""
    if outcome.retry or outcome.status in (TaskStatus.FAILURE, TaskStatus.INVALID):
        found = conn.execute(
            text(
                "SELECT 1 FROM task_attempts WHERE task_id = :id AND attempt = :attempt "
                "AND worker_id = :worker"
            ),
            {"id": outcome.task_id, "attempt": outcome.attempt, "worker": worker_id},
        ).first()
        return found is not None
    row = conn.execute(
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


def release_task(conn: Connection, worker_id: str, task_id: str, attempt: int, died: bool) -> bool:
    """Put a RUNNING task of ours back to PENDING (shutdown, or its process died)."""
    result = conn.execute(
        text(
            "UPDATE bountyboard SET status = 'PENDING', worker_id = NULL, "
            "requeue_count = requeue_count + :died "
            "WHERE id = :id AND status = 'RUNNING' AND worker_id = :worker AND attempt = :attempt"
        ),
        {"id": task_id, "worker": worker_id, "attempt": attempt, "died": int(died)},
    )
    return result.rowcount == 1


def running_tasks_of(conn: Connection, worker_id: str) -> list[tuple[str, int]]:
    """(id, attempt) of every task the database has RUNNING under this peon."""
    rows = conn.execute(
        text("SELECT id, attempt FROM bountyboard WHERE status = 'RUNNING' AND worker_id = :w"),
        {"w": worker_id},
    )
    return [(str(r.id), int(r.attempt)) for r in rows]


def release_all_tasks_of(conn: Connection, worker_id: str) -> int:
    """A restarted peon frees what its previous, dead incarnation held."""
    result = conn.execute(
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


def get_peon(conn: Connection, worker_id: str) -> PeonRow | None:
    row = conn.execute(
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
    conn: Connection,
    *,
    worker_id: str,
    queues_json: str,
    host: str,
    pid: int,
    concurrency: int,
    pool: str,
    version: str,
) -> None:
    conn.execute(
        text(
            "INSERT INTO peon (id, status, last_heartbeat, current_task, queues, host, pid, "
            "concurrency, pool, version, started_at) VALUES (:id, 'PREPARING', NOW(6), NULL, "
            ":queues, :host, :pid, :concurrency, :pool, :version, NOW(6)) "
            "ON DUPLICATE KEY UPDATE status = 'PREPARING', last_heartbeat = NOW(6), "
            "current_task = NULL, queues = :queues, host = :host, pid = :pid, "
            "concurrency = :concurrency, pool = :pool, version = :version, "
            "started_at = NOW(6)"
        ),
        {
            "id": worker_id,
            "queues": queues_json,
            "host": host,
            "pid": pid,
            "concurrency": concurrency,
            "pool": pool,
            "version": version,
        },
    )


def heartbeat(conn: Connection, worker_id: str, status: str, current_task: str | None) -> bool:
    """Stamp the peon alive. False when the database had declared it OFFLINE (or lost it)."""
    result = conn.execute(
        text(
            "UPDATE peon SET last_heartbeat = NOW(6), status = :status, current_task = :task "
            "WHERE id = :id AND status <> 'OFFLINE'"
        ),
        {"id": worker_id, "status": status, "task": current_task},
    )
    return result.rowcount == 1


def set_peon_offline(conn: Connection, worker_id: str) -> None:
    conn.execute(
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


def maintenance_states(conn: Connection) -> dict[str, MaintenanceJobState]:
    rows = conn.execute(
        text(
            "SELECT name, TIMESTAMPDIFF(MICROSECOND, last_event_at, NOW(6)) / 1e6, "
            "TIMESTAMPDIFF(MICROSECOND, last_run_at, NOW(6)) / 1e6, last_run_by "
            "FROM maintenance"
        )
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


def take_maintenance_lease(conn: Connection, job: str, owner: str, seconds: float) -> bool:
    """One peon at a time may stand in for a job: a conditional UPDATE with an expiry.

    Not GET_LOCK: on a Galera cluster each node grants its own GET_LOCK, so two
    peons on two nodes would both hold it. A row update is certified cluster-wide.
    """
    result = conn.execute(
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


def cancel_task(conn: Connection, task_id: str) -> tuple[str, str | None]:
    """Cancel: ("cancelled", _) for a waiting task, ("stop_requested", _) for a running
    one (its peon stops it), ("finished", status) when it had ended, or ("unknown", None)."""
    done = conn.execute(
        text(
            "UPDATE bountyboard SET status = 'CANCELLED', finished_at = NOW(6) "
            "WHERE id = :id AND (status = 'PENDING' OR retryable = 1)"
        ),
        {"id": task_id},
    ).rowcount
    if done:
        return "cancelled", None
    asked = conn.execute(
        text(
            "UPDATE bountyboard SET cancel_requested = TRUE WHERE id = :id AND status = 'RUNNING'"
        ),
        {"id": task_id},
    ).rowcount
    if asked:
        return "stop_requested", None
    status = task_status(conn, task_id)
    return ("finished", status) if status is not None else ("unknown", None)


def cancel_requests_of(conn: Connection, worker_id: str) -> list[tuple[str, int]]:
    """(id, attempt) of this peon's running tasks that someone asked to stop."""
    rows = conn.execute(
        text(
            "SELECT id, attempt FROM bountyboard WHERE status = 'RUNNING' "
            "AND worker_id = :w AND cancel_requested"
        ),
        {"w": worker_id},
    )
    return [(str(r.id), int(r.attempt)) for r in rows]


def set_queue_paused(conn: Connection, queue: str, paused: bool, by: str) -> None:
    conn.execute(
        text(
            "INSERT INTO queue_state (queue, paused, changed_by) VALUES (:q, :p, :by) "
            "ON DUPLICATE KEY UPDATE paused = :p, changed_by = :by"
        ),
        {"q": queue, "p": paused, "by": by},
    )


def paused_queues(conn: Connection) -> list[str]:
    rows = conn.execute(text("SELECT queue FROM queue_state WHERE paused ORDER BY queue"))
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


def utc_now(conn: Connection) -> datetime:
    """The database's clock, in UTC (naive, like every DATETIME read back)."""
    value: datetime = conn.execute(text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
    return value


def schedule_rows(conn: Connection, names: list[str], *, lock: bool) -> dict[str, ScheduleRow]:
    """The rows of these schedules; ``lock`` holds them (in name order) until commit."""
    if not names:
        return {}
    statement = text(
        f"SELECT {_SCHEDULE_COLUMNS} FROM schedule WHERE name IN :names ORDER BY name"
        + (" FOR UPDATE" if lock else "")
    ).bindparams(bindparam("names", expanding=True))
    return {str(r.name): _schedule_row(r) for r in conn.execute(statement, {"names": names})}


def schedule_names(conn: Connection) -> set[str]:
    return {str(r[0]) for r in conn.execute(text("SELECT name FROM schedule"))}


def insert_schedule(conn: Connection, definition: dict[str, Any], next_run_at: datetime) -> None:
    """A new schedule row. ``definition`` holds every column of the definition."""
    conn.execute(
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
    conn: Connection, definition: dict[str, Any], next_run_at: datetime | None
) -> None:
    """Write a changed definition; ``next_run_at`` None keeps the row's next tick."""
    conn.execute(
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


def schedule_waits(conn: Connection, names: list[str]) -> dict[str, float]:
    """Seconds until each enabled schedule's next tick, by the database's clock
    (zero or less: due)."""
    if not names:
        return {}
    rows = conn.execute(
        text(
            "SELECT name, TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), next_run_at) "
            "FROM schedule WHERE enabled = 1 AND name IN :names"
        ).bindparams(bindparam("names", expanding=True)),
        {"names": names},
    )
    return {str(name): int(us) / 1e6 for name, us in rows}


def lock_due_schedule(conn: Connection, name: str) -> tuple[ScheduleRow, datetime] | None:
    """The schedule's row, locked, with the database's UTC time, if it is due.

    SKIP LOCKED: a row another peon is firing right now is its business. The lock
    only saves work; what makes a tick fire once is the tick's primary key.
    """
    row = conn.execute(
        text(
            f"SELECT {_SCHEDULE_COLUMNS}, UTC_TIMESTAMP(6) AS db_now FROM schedule "
            "WHERE name = :name AND enabled = 1 AND next_run_at <= UTC_TIMESTAMP(6) "
            "FOR UPDATE SKIP LOCKED"
        ),
        {"name": name},
    ).first()
    return None if row is None else (_schedule_row(row), row.db_now)


def insert_schedule_tick(
    conn: Connection,
    *,
    schedule_name: str,
    tick_at: datetime,
    task_id: str | None,
    outcome: str,
    fired_by: str,
) -> None:
    """Claim one tick of a schedule. A duplicate key (1062) means it was claimed."""
    conn.execute(
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
    conn: Connection,
    *,
    name: str,
    expected_next_run_at: datetime,
    next_run_at: datetime,
    fired_tick: datetime | None,
    task_id: str | None,
) -> bool:
    """Move the schedule to its next tick, only if it still points at the tick read
    (compare-and-set) and is enabled; False when it does not."""
    result = conn.execute(
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
    conn: Connection, *, schedule_name: str, tick_at: datetime, task_id: str
) -> None:
    conn.execute(
        text(
            "UPDATE schedule_tick SET task_id = :task_id "
            "WHERE schedule_name = :name AND tick_at = :tick_at"
        ),
        {"task_id": task_id, "name": schedule_name, "tick_at": tick_at},
    )
