"""The read model: what the CLI views, the dashboard and the metrics show.

Plain frozen dataclasses, and functions that take a connection (a Link, from
``workcraft.db.connect(cfg)``) and read through :mod:`workcraft.store`; none of them
writes. ``read(cfg, fn)`` runs one of them on a fresh connection with the usual
retries of transient errors.

Times: every ``bountyboard`` and ``peon`` time is the database's clock (``NOW(6)``),
naive, exactly as stored; ages and durations are computed by the database, so hosts
with drifting clocks agree on them. Schedule times are UTC (the ``schedule`` table
stores UTC) and are returned timezone-aware. A filter's naive datetime is read as the
database's clock; an aware one is converted to it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from workcraft import store
from workcraft.config import ConfigError, DBConfig, Settings
from workcraft.db import connect, retry_transient
from workcraft.link import Link
from workcraft.models import TaskStatus
from workcraft.payload import InvalidPayload, check_name, decode_payload

__all__ = [
    "DEFAULT_DURATION_BUCKETS",
    "FINISHED_STATUSES",
    "STATUSES",
    "AttemptView",
    "DurationHistogram",
    "FilterError",
    "PeonView",
    "QueueStats",
    "ScheduleView",
    "TaskDetail",
    "TaskFilter",
    "TaskPage",
    "TaskSummary",
    "ThroughputPoint",
    "count_purgeable",
    "duration_histograms",
    "finished_by_queue",
    "finished_statuses",
    "last_line",
    "list_tasks",
    "parse_duration",
    "parse_time",
    "peons",
    "queue_stats",
    "read",
    "schedules",
    "task_detail",
    "throughput",
]

T = TypeVar("T")

STATUSES: tuple[str, ...] = tuple(s.value for s in TaskStatus)
# What can be purged, and what `retry` accepts besides SUCCESS: nothing more will
# happen to these rows by themselves.
FINISHED_STATUSES: tuple[str, ...] = ("SUCCESS", "FAILURE", "INVALID", "CANCELLED", "EXPIRED")
DEFAULT_DURATION_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)
MAX_PAGE = 1000
MAX_THROUGHPUT_MINUTES = 24 * 60
_CURSOR = re.compile(r"^[0-9A-Za-z-]{1,36}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


class FilterError(ConfigError):
    """A filter, cursor, limit or duration that cannot be used; the message says what
    would. (A ``ValueError``; the CLI prints it as one line and exits 2.)"""


def read(cfg: DBConfig, fn: Callable[[Link], T]) -> T:
    """``fn(conn)`` on a fresh connection; transient errors (deadlock, lost
    connection) are retried for up to 30 s."""

    def attempt() -> T:
        with connect(cfg) as conn:
            return fn(conn)

    return retry_transient(attempt, what="read overview")


# ------------------------------------------------------------------------- queues


@dataclass(frozen=True)
class QueueStats:
    queue: str
    counts: dict[str, int]  # every TaskStatus name, 0 when none
    oldest_pending_age: float | None  # seconds the oldest due PENDING task has waited
    paused: bool

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def queue_stats(conn: Link) -> list[QueueStats]:
    """Every queue that has tasks or is paused, by name.

    Costs one pass over the covering index (status, queue, id): about a tenth of a
    second per million rows kept (turn on retention to bound it), plus the PENDING
    range of the claim index and the paused queues.
    """
    counts: dict[str, dict[str, int]] = {}
    for queue, status, n in store.task_counts(conn):
        counts.setdefault(queue, dict.fromkeys(STATUSES, 0))[status] = n
    oldest = store.oldest_due_pending(conn)
    paused = set(store.paused_queues(conn))
    for queue in paused:
        counts.setdefault(queue, dict.fromkeys(STATUSES, 0))
    return [
        QueueStats(queue, counts[queue], oldest.get(queue), queue in paused)
        for queue in sorted(counts)
    ]


# -------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class TaskFilter:
    """Which tasks a list shows; every field given must match. ``since``/``until``
    bound ``created_at`` (since inclusive, until exclusive)."""

    queue: str | None = None
    status: str | None = None
    name: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        for kind, value in (("queue", self.queue), ("task", self.name)):
            if value is not None:
                try:
                    check_name(kind, value)
                except (TypeError, ValueError) as exc:
                    raise FilterError(f"filter: {exc}") from None
        if self.status is not None:
            object.__setattr__(self, "status", _status(self.status, STATUSES, "filter"))
        for bound, when in (("since", self.since), ("until", self.until)):
            if when is not None and not isinstance(when, datetime):
                raise FilterError(f"filter: {bound} must be a datetime, got {when!r}")
        if (
            self.since is not None
            and self.until is not None
            and (self.since.tzinfo is None) == (self.until.tzinfo is None)
            and self.since >= self.until
        ):
            raise FilterError(
                f"filter: since ({self.since.isoformat()}) must be before until "
                f"({self.until.isoformat()})"
            )


@dataclass(frozen=True)
class TaskSummary:
    id: str
    task_name: str
    queue: str
    status: str
    priority: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    worker_id: str | None
    attempt: int
    retry_count: int
    error_line: str | None  # the last line of the error: "ValueError: boom"


@dataclass(frozen=True)
class TaskPage:
    rows: list[TaskSummary]
    next_cursor: str | None  # pass as cursor= for the next (older) page; None: last page


def list_tasks(
    conn: Link, flt: TaskFilter, *, cursor: str | None = None, limit: int = 50
) -> TaskPage:
    """Tasks matching ``flt``, newest first, ``limit`` at a time.

    ``cursor`` is the ``next_cursor`` of the page before (the last id it showed):
    pages never repeat or skip a row, however many tasks arrive meanwhile, and each
    costs the same however deep it is. Every filter reads an index in id order and
    stops after a page; see ``store.task_page`` for the plan of each combination.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise FilterError(f"limit must be a whole number from 1 to {MAX_PAGE}, got {limit!r}")
    if cursor is not None and (not isinstance(cursor, str) or not _CURSOR.match(cursor)):
        raise FilterError(f"cursor {cursor!r} is not one a task list gave (a task id)")
    offset_us = _utc_offset(conn, flt.since, flt.until)
    rows = store.task_page(
        conn,
        queue=flt.queue,
        status=flt.status,
        task_name=flt.name,
        created_from=_db_clock(flt.since, offset_us),
        created_before=_db_clock(flt.until, offset_us),
        before_id=cursor,
        limit=limit + 1,
    )
    summaries = [_summary(r) for r in rows[:limit]]
    more = len(rows) > limit
    return TaskPage(summaries, summaries[-1].id if more else None)


def _summary(row: dict[str, Any]) -> TaskSummary:
    return TaskSummary(
        id=str(row["id"]),
        task_name=str(row["task_name"]),
        queue=str(row["queue"]),
        status=str(row["status"]),
        priority=int(row["priority"]),
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        worker_id=row["worker_id"],
        attempt=int(row["attempt"]),
        retry_count=int(row["retry_count"]),
        error_line=last_line(row["error_tail"]),
    )


def last_line(error: str | None) -> str | None:
    """The last non-blank line of an error: a traceback's exception and message."""
    if not error:
        return None
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    return lines[-1] if lines else None


def _utc_offset(conn: Link, *times: datetime | None) -> int:
    if any(t is not None and t.tzinfo is not None for t in times):
        return store.db_utc_offset_us(conn)
    return 0


def _db_clock(value: datetime | None, offset_us: int) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None) + timedelta(microseconds=offset_us)


@dataclass(frozen=True)
class AttemptView:
    attempt: int
    worker_id: str | None
    outcome: str  # RETRY, FAILURE, INVALID; or the row's status for its latest attempt
    error: str | None
    finished_at: datetime | None


@dataclass(frozen=True)
class TaskDetail:
    id: str
    task_name: str
    status: str
    queue: str
    priority: int
    args: list[Any]
    kwargs: dict[str, Any]
    payload_error: str | None  # why the payload could not be read as args/kwargs
    result: Any
    error: str | None  # the last error's whole traceback (kept after a later success)
    worker_id: str | None
    attempt: int
    retry_on_failure: bool
    retry_count: int
    retry_limit: int
    requeue_count: int
    retry_stopped: bool
    created_at: datetime
    updated_at: datetime
    run_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None
    duration: float | None  # seconds the latest attempt ran
    wait: float | None  # seconds from due (run_at) to the latest attempt's start
    timeout_seconds: float | None
    unique_key: str | None
    cancel_requested: bool
    delete_on_success: bool
    attempts: list[AttemptView]


def task_detail(conn: Link, task_id: str) -> TaskDetail | None:
    """The whole task and every attempt (None for an unknown id).

    ``task_attempts`` records failed attempts; the latest attempt, when it ended
    otherwise or still runs, is added from the row itself.
    """
    row = store.task_detail_row(conn, task_id)
    if row is None:
        return None
    try:
        args, kwargs = decode_payload(_text(row["payload"]))
        payload_error = None
    except InvalidPayload as exc:
        args, kwargs, payload_error = [], {}, str(exc)
    attempts = [
        AttemptView(
            int(a["attempt"]), a["worker_id"], str(a["outcome"]), a["error"], a["finished_at"]
        )
        for a in store.task_attempt_rows(conn, task_id)
    ]
    status, attempt = str(row["status"]), int(row["attempt"])
    recorded = {a.attempt for a in attempts}
    if attempt > 0 and attempt not in recorded and status != "PENDING":
        attempts.append(
            AttemptView(
                attempt,
                row["worker_id"],
                status,
                row["error"] if status in ("FAILURE", "INVALID") else None,
                row["finished_at"],
            )
        )
    started, finished = row["started_at"], row["finished_at"]
    return TaskDetail(
        id=str(row["id"]),
        task_name=str(row["task_name"]),
        status=status,
        queue=str(row["queue"]),
        priority=int(row["priority"]),
        args=args,
        kwargs=kwargs,
        payload_error=payload_error,
        result=_result(row["result"]),
        error=row["error"],
        worker_id=row["worker_id"],
        attempt=attempt,
        retry_on_failure=bool(row["retry_on_failure"]),
        retry_count=int(row["retry_count"]),
        retry_limit=int(row["retry_limit"]),
        requeue_count=int(row["requeue_count"]),
        retry_stopped=bool(row["retry_stopped"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        run_at=row["run_at"],
        started_at=started,
        finished_at=finished,
        expires_at=row["expires_at"],
        duration=(finished - started).total_seconds() if started and finished else None,
        wait=max(0.0, (started - row["run_at"]).total_seconds()) if started else None,
        timeout_seconds=_float(row["timeout_seconds"]),
        unique_key=row["unique_key"],
        cancel_requested=bool(row["cancel_requested"]),
        delete_on_success=bool(row["delete_on_success"]),
        attempts=attempts,
    )


def _text(value: str | bytes | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _result(value: str | bytes | None) -> Any:
    text = _text(value)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text  # edited by hand into something that is not JSON: show it as it is


def _float(value: float | Decimal | None) -> float | None:
    return None if value is None else float(value)


# -------------------------------------------------------------------------- peons


@dataclass(frozen=True)
class PeonView:
    id: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    pool: str
    status: str
    current_task: str | None
    heartbeat_age: float  # seconds since its last heartbeat, by the database's clock
    started_at: datetime
    tasks_done: int
    version: str
    alive: bool  # not OFFLINE, and heard from within the dead-peon timeout
    late: bool  # silent for more than two heartbeat intervals: stalled, or dying


def peons(conn: Link, settings: Settings) -> list[PeonView]:
    """Every peon row (OFFLINE ones are kept a week), live ones first.

    ``settings`` gives the heartbeat interval and the dead-peon timeout the flags
    are judged by: use the ones the peons and setup ran with.
    """
    found = []
    for r in store.peon_rows(conn):
        age = max(0.0, float(r["heartbeat_age"]))
        status = str(r["status"])
        found.append(
            PeonView(
                id=str(r["id"]),
                host=str(r["host"]),
                pid=int(r["pid"]),
                queues=_queue_names(r["queues"]),
                concurrency=int(r["concurrency"]),
                pool=str(r["pool"]),
                status=status,
                current_task=r["current_task"],
                heartbeat_age=age,
                started_at=r["started_at"],
                tasks_done=int(r["tasks_done"]),
                version=str(r["version"]),
                alive=status != "OFFLINE" and age <= settings.dead_peon_timeout,
                late=age > 2 * settings.peon_heartbeat_interval,
            )
        )
    return found


def _queue_names(value: str | bytes | None) -> list[str]:
    try:
        names = json.loads(_text(value) or "[]")
    except ValueError:
        return []
    return [str(n) for n in names] if isinstance(names, list) else []


# ---------------------------------------------------------------------- schedules


@dataclass(frozen=True)
class ScheduleView:
    name: str
    task_name: str
    queue: str
    spec: str  # "cron 30 2 * * *" or "every 60s"
    timezone: str
    misfire: str
    enabled: bool
    next_run_at: datetime  # UTC
    due_in: float  # seconds until next_run_at by the database's clock (<= 0: due)
    last_run_at: datetime | None  # UTC: the tick of the last task fired
    last_task_id: str | None
    last_outcome: str | None  # FIRED, CAUGHT_UP or SKIPPED: what the last tick did
    last_fired_at: datetime | None  # UTC: when that tick was handled


def schedules(conn: Link) -> list[ScheduleView]:
    """Every periodic schedule, by name, with its last tick."""
    return [
        ScheduleView(
            name=str(r["name"]),
            task_name=str(r["task_name"]),
            queue=str(r["queue"]),
            spec=(
                f"cron {r['cron']}"
                if r["cron"] is not None
                else f"every {_seconds_text(float(r['every_seconds']))}"
            ),
            timezone=str(r["timezone"]),
            misfire=str(r["misfire"]),
            enabled=bool(r["enabled"]),
            next_run_at=_utc(r["next_run_at"]),
            due_in=float(r["due_in"]),
            last_run_at=_utc(r["last_run_at"]) if r["last_run_at"] else None,
            last_task_id=r["last_task_id"],
            last_outcome=None if r["last_outcome"] is None else str(r["last_outcome"]),
            last_fired_at=_utc(r["last_fired_at"]) if r["last_fired_at"] else None,
        )
        for r in store.schedule_view_rows(conn)
    ]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def _seconds_text(seconds: float) -> str:
    return f"{seconds:g}s"


# ------------------------------------------------------------------- throughput


@dataclass(frozen=True)
class ThroughputPoint:
    minute: datetime  # the minute's start, database clock
    succeeded: int
    failed: int  # FAILURE and INVALID


def throughput(conn: Link, minutes: int = 60, queue: str | None = None) -> list[ThroughputPoint]:
    """Tasks finished per minute over the last ``minutes`` (the current minute last),
    zero-filled. Reads only the window, through (status, finished_at)."""
    if queue is not None:
        TaskFilter(queue=queue)
    start = _window_start(conn, minutes)
    succeeded = [0] * minutes
    failed = [0] * minutes
    for status, bucket, n in store.finished_per_minute(conn, start, queue):
        if 0 <= bucket < minutes:
            (succeeded if status == "SUCCESS" else failed)[bucket] += n
    return [
        ThroughputPoint(start + timedelta(minutes=i), succeeded[i], failed[i])
        for i in range(minutes)
    ]


def finished_by_queue(conn: Link, minutes: int = 60) -> dict[str, tuple[int, int]]:
    """Per queue, (succeeded, failed) over the same window as :func:`throughput` (the
    last ``minutes`` whole minutes, the current one included); queues that finished
    nothing are absent."""
    found: dict[str, tuple[int, int]] = {}
    for queue, status, n in store.finished_by_queue(conn, _window_start(conn, minutes)):
        succeeded, failed = found.get(queue, (0, 0))
        found[queue] = (succeeded + n, failed) if status == "SUCCESS" else (succeeded, failed + n)
    return found


def _window_start(conn: Link, minutes: int) -> datetime:
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise FilterError(f"minutes must be a whole number, got {minutes!r}")
    if not 1 <= minutes <= MAX_THROUGHPUT_MINUTES:
        raise FilterError(f"minutes must be from 1 to {MAX_THROUGHPUT_MINUTES}, got {minutes}")
    now = store.db_now(conn)
    return now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)


@dataclass(frozen=True)
class DurationHistogram:
    """Run times (started_at to finished_at) of one queue's tasks that finished SUCCESS
    or FAILURE within a window: ``cumulative[i]`` ran at most ``bounds[i]`` seconds."""

    queue: str
    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    count: int
    sum: float


def duration_histograms(
    conn: Link,
    minutes: float = 5.0,
    bounds: Iterable[float] = DEFAULT_DURATION_BUCKETS,
) -> list[DurationHistogram]:
    """One histogram per queue that finished tasks in the last ``minutes``: one
    aggregate over the (status, finished_at) range of the window."""
    if isinstance(minutes, bool) or not isinstance(minutes, int | float):
        raise FilterError(f"minutes must be a number, got {minutes!r}")
    if not math.isfinite(minutes) or minutes <= 0:
        raise FilterError(f"minutes must be positive, got {minutes!r}")
    edges = tuple(sorted(float(b) for b in bounds))
    if any(not math.isfinite(b) or b <= 0 for b in edges):
        raise FilterError(f"histogram bounds must be positive and finite, got {edges}")
    rows = store.duration_buckets(conn, round(minutes * 60e6), [round(b * 1e6) for b in edges])
    return [
        DurationHistogram(queue, edges, tuple(cumulative), count, total)
        for queue, count, total, cumulative in rows
    ]


# ------------------------------------------------------------------------ purging


def finished_statuses(statuses: str | Iterable[str] | None) -> tuple[str, ...]:
    """Statuses that may be purged: all finished ones for None; a comma-separated
    string or a list otherwise. PENDING and RUNNING are refused."""
    if statuses is None:
        return FINISHED_STATUSES
    items = statuses.split(",") if isinstance(statuses, str) else list(statuses)
    found = tuple(dict.fromkeys(_status(str(s), FINISHED_STATUSES, "purge") for s in items))
    if not found:
        raise FilterError(f"purge: give one or more of {', '.join(FINISHED_STATUSES)}")
    return found


def count_purgeable(
    conn: Link, older_than: timedelta, statuses: Iterable[str] | None = None
) -> dict[str, int]:
    """How many rows of each status a purge with these arguments would delete."""
    age_us = _age_us(older_than)
    return {s: store.count_purgeable(conn, s, age_us) for s in finished_statuses(statuses)}


def _age_us(older_than: timedelta) -> int:
    if not isinstance(older_than, timedelta) or older_than.total_seconds() < 0:
        raise FilterError(f"older_than must be a duration of 0 or more, got {older_than!r}")
    return round(older_than.total_seconds() * 1e6)


def _status(value: str, allowed: tuple[str, ...], where: str) -> str:
    status = value.strip().upper() if isinstance(value, str) else value
    if status not in allowed:
        if where == "purge" and status in STATUSES:
            raise FilterError(
                f"purge: {status} tasks are not finished and are never purged; "
                f"give any of {', '.join(allowed)}"
            )
        raise FilterError(f"{where}: unknown status {value!r}; use one of {', '.join(allowed)}")
    return str(status)


# ------------------------------------------------------------------------ parsing


def parse_duration(value: str | float | int | timedelta) -> timedelta:
    """``"7d"``, ``"12h"``, ``"30m"``, ``"45s"``, ``"2w"``, ``"1.5h"`` or a number of
    seconds."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise FilterError(
                f"{value!r} is not a duration: use seconds or a number with s, m, h, d or w "
                "(45s, 30m, 12h, 7d, 2w)"
            )
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if not math.isfinite(seconds) or seconds < 0:
        raise FilterError(f"{value!r} is not a duration of 0 or more")
    return timedelta(seconds=seconds)


def parse_time(value: str | datetime, now: datetime | None = None) -> datetime:
    """A datetime, an ISO 8601 text (naive: the database's clock, like every time
    shown), or a duration meaning that long ago (``"1h"``: an aware UTC datetime)."""
    if isinstance(value, datetime):
        return value
    text = str(value).strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        ago = parse_duration(text)
    except FilterError:
        raise FilterError(
            f"{value!r} is neither a time (2026-01-31T14:00, ISO 8601) nor a duration "
            "ago (45s, 30m, 12h, 7d)"
        ) from None
    return (now or datetime.now(UTC)) - ago
