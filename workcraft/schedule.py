"""Periodic tasks: ``@app.periodic(...)`` declares them, every peon fires them.

No beat process and no leader. Each peon runs a :class:`Scheduler` thread that
watches the ``schedule`` rows of its app's schedules and fires the due ones. Firing a
tick is one transaction:

    lock the due row (SKIP LOCKED)  ->  INSERT schedule_tick (schedule, tick)
    ->  INSERT the task  ->  UPDATE schedule SET next_run_at = ... WHERE next_run_at = tick
    ->  COMMIT

The tick row's primary key lets one insert per (schedule, tick) succeed; the task is
in the same transaction, so a tick has at most one task. The UPDATE only moves a row
that still points at the tick it read, so a peon that read an old version of the row
rolls back too. The lock only spares peons from queueing behind one another: on a
Galera cluster, where each node grants its own locks, the key and the compare-and-set
still decide (as certification conflicts, retried as deadlocks).

What is due is decided by the database's clock (UTC_TIMESTAMP), never a host's.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any, TypeVar

from loguru import logger

from workcraft import store
from workcraft.config import DBConfig, Settings
from workcraft.core import DEFAULT_QUEUE, Workcraft
from workcraft.cron import CronExpr, parse_cron, resolve_timezone
from workcraft.db import connect, driver_errors, is_duplicate_key, retry_transient
from workcraft.handle import unwrap
from workcraft.link import Link
from workcraft.payload import check_name, decode_payload, encode_payload

__all__ = [
    "MISFIRE_POLICIES",
    "Schedule",
    "Scheduler",
    "TickPlan",
    "declare",
    "fire_tick",
    "plan_tick",
]

F = TypeVar("F", bound=Callable[..., Any])

MISFIRE_POLICIES = ("run_once", "skip")
# A tick reached later than this (or than one period, if shorter) counts as missed.
MISFIRE_GRACE = timedelta(seconds=60)
_MIN_EVERY = timedelta(milliseconds=100)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
# The scheduler looks at the table at least this often (edits by hand, other peons).
_MAX_WAIT_SECONDS = 1.0
# Ticks fired for one schedule in one round while catching up within the grace.
_MAX_FIRES_PER_ROUND = 100
# A round that keeps failing gives up after this and is tried again next round.
_RETRY_SECONDS = 5.0
_HASH_VERSION = 1


# ------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class _Interval:
    every_us: int

    def next_after(self, after: datetime) -> datetime:
        """Ticks are whole multiples of the interval since 1970-01-01 UTC, so every
        peon computes the same ones (every=60 fires on each whole minute)."""
        elapsed_us = (after - _EPOCH) // _ONE_US
        return _EPOCH + (elapsed_us // self.every_us + 1) * self.every_us * _ONE_US


@dataclass(frozen=True)
class _Cron:
    expr: CronExpr
    zone: tzinfo

    def next_after(self, after: datetime) -> datetime:
        return self.expr.next_after(after, self.zone)


_Timing = _Interval | _Cron


@functools.lru_cache(maxsize=1024)
def _timing(cron: str | None, every_us: int | None, timezone: str) -> _Timing:
    """How a row's ticks are computed; ValueError for a definition that makes none."""
    if cron is not None:
        return _Cron(parse_cron(cron), resolve_timezone(timezone))
    if every_us is None or every_us <= 0:
        raise ValueError("a schedule needs cron or a positive every_seconds")
    return _Interval(every_us)


@dataclass(frozen=True)
class TickPlan:
    """What firing a due tick does: ``outcome`` FIRED (on time), CAUGHT_UP (one task
    for every missed tick) or SKIPPED (missed ticks dropped, no task)."""

    outcome: str
    next_run_at: datetime

    @property
    def fires_task(self) -> bool:
        return self.outcome != "SKIPPED"


def plan_tick(timing: _Timing, misfire: str, tick: datetime, now: datetime) -> TickPlan:
    """Decide what to do with the due ``tick`` at ``now`` (aware datetimes).

    On time (at most ``min(MISFIRE_GRACE, period)`` late): fire it, and move on to the
    tick after it. Later than that, the ticks since are missed: ``run_once`` fires one
    task for all of them, ``skip`` fires none; both move on to the first tick after
    ``now``.
    """
    following = timing.next_after(tick)
    if now - tick <= min(MISFIRE_GRACE, following - tick):
        return TickPlan("FIRED", following)
    outcome = "CAUGHT_UP" if misfire == "run_once" else "SKIPPED"
    return TickPlan(outcome, timing.next_after(now))


# --------------------------------------------------------------------- definitions


@dataclass(frozen=True)
class Schedule:
    """A periodic task as declared with ``@app.periodic``; ``app.schedules[name]``."""

    name: str
    task_name: str
    cron: str | None
    every: timedelta | None
    timezone: str
    task_args: tuple[Any, ...]
    task_kwargs: Mapping[str, Any]
    queue: str | None  # None: the task's own default queue, else DEFAULT
    misfire: str
    enabled: bool
    payload: str  # task_args and task_kwargs as stored (JSON)

    @property
    def every_us(self) -> int | None:
        return None if self.every is None else self.every // _ONE_US

    def next_after(self, after: datetime) -> datetime:
        """The first tick strictly after ``after`` (aware), in UTC."""
        return _timing(self.cron, self.every_us, self.timezone).next_after(after)

    def row_values(self, app: Workcraft) -> dict[str, Any]:
        """The ``schedule`` columns this definition writes, with its hash."""
        options = app.task_options.get(self.task_name)
        queue = self.queue or (options.queue if options else None) or DEFAULT_QUEUE
        every = None if self.every_us is None else Decimal(self.every_us) / 1_000_000
        values: dict[str, Any] = {
            "name": self.name,
            "task_name": self.task_name,
            "queue": queue,
            "cron": self.cron,
            "every_seconds": every,
            "timezone": self.timezone,
            "payload": self.payload,
            "misfire": self.misfire,
            "enabled": self.enabled,
        }
        identity = [_HASH_VERSION, *(str(v) for k, v in values.items() if k != "name")]
        values["definition_hash"] = hashlib.sha256(json.dumps(identity).encode()).hexdigest()
        return values


def declare(
    app: Workcraft,
    name: str,
    *,
    cron: str | None = None,
    every: float | timedelta | None = None,
    task: str | None = None,
    task_args: Sequence[Any] | None = None,
    task_kwargs: Mapping[str, Any] | None = None,
    queue: str | None = None,
    timezone: str = "UTC",
    misfire: str = "run_once",
    enabled: bool = True,
) -> Callable[[F], F]:
    """``Workcraft.periodic``: validate, register the schedule, return the decorator
    that registers the decorated function as its task."""
    check_name("schedule", name)
    if task is not None:
        check_name("task", task)
    if queue is not None:
        check_name("queue", queue)
    if (cron is None) == (every is None):
        raise ValueError(
            f"schedule {name!r}: give exactly one of cron='*/5 * * * *' (wall-clock times "
            "in `timezone`) or every=seconds / timedelta"
        )
    resolve_timezone(timezone)
    if every is not None and timezone not in ("UTC", "Etc/UTC"):
        raise ValueError(
            f"schedule {name!r}: timezone applies to cron schedules; every= counts "
            "absolute time. For a run at a local time write cron='0 3 * * *', "
            f"timezone={timezone!r}"
        )
    if misfire not in MISFIRE_POLICIES:
        raise ValueError(
            f"schedule {name!r}: misfire must be 'run_once' (one task for the ticks missed "
            f"while no peon ran) or 'skip' (none), got {misfire!r}"
        )
    if not isinstance(enabled, bool):
        raise TypeError(f"schedule {name!r}: enabled must be True or False")
    args, kwargs = list(task_args or []), dict(task_kwargs or {})
    task_name = task or name
    schedule = Schedule(
        name=name,
        task_name=task_name,
        cron=_check_cron(name, cron),
        every=_check_every(name, every),
        timezone=timezone,
        task_args=tuple(args),
        task_kwargs=kwargs,
        queue=queue,
        misfire=misfire,
        enabled=enabled,
        payload=encode_payload(task_name, args, kwargs, app.max_payload_bytes),
    )
    if task_name in app.tasks:
        _check_arguments(schedule, app.tasks[task_name])
    _register(app, schedule)

    def decorator(decorated: F) -> F:
        func = unwrap(decorated)  # an @app.task below gives us its handle
        current = app.schedules[name]
        registered_as = next((n for n, f in app.tasks.items() if f is func), None)
        final = replace(current, task_name=task or registered_as or name)
        if app.tasks.get(final.task_name) is not func:
            app.task(final.task_name)(func)  # keeps the options of an @app.task below
        _check_arguments(final, func)
        app.schedules[name] = final
        return decorated

    return decorator


def _check_cron(name: str, cron: str | None) -> str | None:
    if cron is None:
        return None
    try:
        parsed = parse_cron(cron)
    except ValueError as exc:
        raise ValueError(f"schedule {name!r}: {exc}") from None
    return " ".join(parsed.expression.split())


def _check_every(name: str, every: float | timedelta | None) -> timedelta | None:
    if every is None:
        return None
    if isinstance(every, bool) or not isinstance(every, int | float | timedelta):
        raise TypeError(
            f"schedule {name!r}: every must be seconds (a number) or a timedelta, "
            f"got {type(every).__name__}"
        )
    seconds = every.total_seconds() if isinstance(every, timedelta) else float(every)
    if not math.isfinite(seconds) or seconds < _MIN_EVERY.total_seconds():
        raise ValueError(
            f"schedule {name!r}: every must be at least {_MIN_EVERY.total_seconds():g} "
            f"seconds, got {every!r}"
        )
    return timedelta(microseconds=round(seconds * 1e6))


def _check_arguments(schedule: Schedule, func: Callable[..., Any]) -> None:
    try:
        inspect.signature(func).bind(*schedule.task_args, **schedule.task_kwargs)
    except TypeError as exc:
        raise TypeError(
            f"schedule {schedule.name!r}: task_args/task_kwargs do not fit task "
            f"{schedule.task_name!r}: {exc}"
        ) from None


def _register(app: Workcraft, schedule: Schedule) -> None:
    existing = app.schedules.get(schedule.name)
    if existing is not None and existing != schedule:
        raise ValueError(f"schedule name {schedule.name!r} is already declared in this app")
    app.schedules[schedule.name] = schedule


# -------------------------------------------------------------------------- firing


@dataclass(frozen=True)
class Fired:
    """One committed decision about a tick (its task, if any, is queued)."""

    name: str
    tick_at: datetime
    outcome: str
    task_id: str | None
    next_run_at: datetime
    now: datetime


def _aware(naive_utc: datetime) -> datetime:
    return naive_utc.replace(tzinfo=UTC)


def _naive(aware: datetime) -> datetime:
    return aware.astimezone(UTC).replace(tzinfo=None)


def fire_tick(
    conn: Link, app: Workcraft, row: store.ScheduleRow, now: datetime, owner: str
) -> Fired | None:
    """Fire the tick ``row.next_run_at`` of a due row read at database time ``now``
    (naive UTC), in ``conn``'s transaction, which the caller commits.

    Returns None, having written nothing, when the tick is taken (another peon fired
    it) or the row moved on since it was read. The row need not be locked: the tick's
    primary key and the compare-and-set on ``next_run_at`` decide.
    """
    timing = _timing(row.cron, row.every_us, row.timezone)
    tick = _aware(row.next_run_at)
    plan = plan_tick(timing, row.misfire, tick, _aware(now))
    try:
        with conn.begin_nested():
            store.insert_schedule_tick(
                conn,
                schedule_name=row.name,
                tick_at=row.next_run_at,
                task_id=None,
                outcome=plan.outcome,
                fired_by=owner,
            )
    except driver_errors() as exc:
        if not is_duplicate_key(exc):
            raise
        # Taken. Normally by a peon whose commit moved the row on already (then the
        # compare-and-set below finds nothing); if the row still points at a tick that
        # was fired (set back by hand), step past it without a second task.
        if store.advance_schedule(
            conn,
            name=row.name,
            expected_next_run_at=row.next_run_at,
            next_run_at=_naive(plan.next_run_at),
            fired_tick=None,
            task_id=None,
        ):
            logger.warning(
                "schedule {}: tick {} was fired before; moved on to {} without a task",
                row.name,
                tick.isoformat(),
                plan.next_run_at.isoformat(),
            )
        return None
    task_id = None
    if plan.fires_task:
        args, kwargs = decode_payload(row.payload)
        task_id = app.send_task_sync(row.task_name, args, kwargs, queue=row.queue, connection=conn)
        store.set_schedule_tick_task(
            conn, schedule_name=row.name, tick_at=row.next_run_at, task_id=task_id
        )
    advanced = store.advance_schedule(
        conn,
        name=row.name,
        expected_next_run_at=row.next_run_at,
        next_run_at=_naive(plan.next_run_at),
        fired_tick=row.next_run_at if task_id else None,
        task_id=task_id,
    )
    if not advanced:
        conn.rollback()
        return None
    return Fired(row.name, tick, plan.outcome, task_id, plan.next_run_at, _aware(now))


# ----------------------------------------------------------------------- scheduler


class Scheduler:
    """Keeps an app's schedules in the table and fires their ticks; one per peon.

    ``sync()`` once at start, then ``run(stop)`` in a daemon thread. Any number of
    schedulers, on any hosts, may run the same schedules: each tick fires once.
    """

    def __init__(self, cfg: DBConfig, app: Workcraft, owner: str, settings: Settings) -> None:
        self.cfg, self.app, self.owner, self.settings = cfg, app, owner, settings
        self.schedules: dict[str, Schedule] = dict(getattr(app, "schedules", {}))
        self.names = sorted(self.schedules)
        self._synced = False
        self._last_problem: str | None = None
        self._bad_rows: dict[str, str] = {}

    # ----------------------------------------------------------------- sync

    def sync(self, deadline: float = 30.0) -> None:
        """Write this app's schedules into the table (a peon calls it once at start).

        A new schedule gets its first tick after now. A changed definition is written
        over the row; its next tick is recomputed when the timing changed or it was
        re-enabled, else kept. An unchanged definition leaves the row alone, also
        what was changed by hand (a pause: enabled = 0). Rows of schedules this app
        does not declare are left alone: another app may own them. Transient
        database errors are retried for ``deadline`` seconds.
        """
        if not self.schedules:
            self._synced = True
            return
        for schedule in self.schedules.values():
            func = self.app.tasks.get(schedule.task_name)
            if func is not None:
                _check_arguments(schedule, func)
        definitions = [s.row_values(self.app) for s in self.schedules.values()]
        changes = self._sync_with_retries(definitions, deadline)
        for message in changes:
            logger.info(message)
        self._synced = True

    def _sync_with_retries(self, definitions: list[dict[str, Any]], deadline: float) -> list[str]:
        attempts = 3
        for attempt in range(1, attempts + 1):
            try:
                return retry_transient(
                    functools.partial(self._sync_once, definitions),
                    what="sync schedules",
                    deadline=deadline,
                )
            except driver_errors() as exc:
                # two peons inserted the same new schedule at once: read it again
                if not is_duplicate_key(exc) or attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    def _sync_once(self, definitions: list[dict[str, Any]]) -> list[str]:
        changes = []
        with connect(self.cfg) as conn:
            now = _aware(store.utc_now(conn))
            rows = store.schedule_rows(conn, self.names, lock=True)
            for values in definitions:
                schedule = self.schedules[values["name"]]
                row = rows.get(schedule.name)
                if row is None:
                    first = schedule.next_after(now)
                    store.insert_schedule(conn, values, _naive(first))
                    changes.append(f"schedule {schedule.name} added; first tick {first}")
                elif row.definition_hash != values["definition_hash"]:
                    retimed = (row.cron, row.every_us, row.timezone) != (
                        schedule.cron,
                        schedule.every_us,
                        schedule.timezone,
                    ) or (schedule.enabled and not row.enabled)
                    following = schedule.next_after(now) if retimed else None
                    store.update_schedule_definition(
                        conn, values, None if following is None else _naive(following)
                    )
                    changes.append(
                        f"schedule {schedule.name} changed in code; table updated"
                        + (f", next tick {following}" if following else "")
                    )
            others = sorted(store.schedule_names(conn) - set(self.names))
        if others:
            logger.debug("schedules in the table not declared by this app (left alone): {}", others)
        return changes

    # ------------------------------------------------------------------ run

    def run(self, stop: threading.Event) -> None:
        """Fire due ticks until ``stop`` is set. Database errors are logged, never
        raised: the thread lives as long as the peon."""
        if not self.schedules:
            return
        while not stop.is_set():
            try:
                if not self._synced:
                    self.sync(deadline=_RETRY_SECONDS)
                wait = self.fire_due()
                if self._last_problem is not None:
                    logger.info("scheduler works again")
                    self._last_problem = None
            except Exception as exc:
                wait = _MAX_WAIT_SECONDS
                problem = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                log = logger.debug if problem == self._last_problem else logger.warning
                log("scheduler round failed ({}); trying again", problem)
                self._last_problem = problem
            stop.wait(wait)

    def fire_due(self) -> float:
        """One round: fire every due schedule; return the seconds to wait before the
        next round (until the next tick, at most a second)."""
        waits = retry_transient(self._waits, what="read schedules", deadline=_RETRY_SECONDS)
        fired_any = False
        for name in sorted(n for n, w in waits.items() if w <= 0):
            fired_any |= self._fire_schedule(name)
        if fired_any:
            return 0.0
        upcoming = [w for w in waits.values() if w > 0]
        return min([_MAX_WAIT_SECONDS, *(w + 0.002 for w in upcoming)])

    def _waits(self) -> dict[str, float]:
        with connect(self.cfg) as conn:
            return store.schedule_waits(conn, self.names)

    def _fire_schedule(self, name: str) -> bool:
        fired_any = False
        for _ in range(_MAX_FIRES_PER_ROUND):
            fired = retry_transient(
                functools.partial(self._fire_once, name),
                what=f"fire schedule {name}",
                deadline=_RETRY_SECONDS,
            )
            if fired is None:
                break
            fired_any = True
            self._log(fired)
            if fired.next_run_at > fired.now:
                break
        return fired_any

    def _fire_once(self, name: str) -> Fired | None:
        with connect(self.cfg) as conn:
            locked = store.lock_due_schedule(conn, name)
            if locked is None:
                return None
            row, now = locked
            try:
                return fire_tick(conn, self.app, row, now, self.owner)
            except (ValueError, TypeError) as exc:
                # A definition edited by hand into something that cannot fire.
                conn.rollback()
                problem = str(exc)
                if self._bad_rows.get(name) != problem:
                    self._bad_rows[name] = problem
                    logger.error("schedule {} cannot fire: {}", name, problem)
                return None

    def _log(self, fired: Fired) -> None:
        self._bad_rows.pop(fired.name, None)
        if fired.outcome == "FIRED":
            logger.debug(
                "schedule {} fired task {} for {}", fired.name, fired.task_id, fired.tick_at
            )
        elif fired.outcome == "CAUGHT_UP":
            logger.info(
                "schedule {} missed ticks from {}: one task {} for them (misfire=run_once)",
                fired.name,
                fired.tick_at,
                fired.task_id,
            )
        else:
            logger.info(
                "schedule {} missed ticks from {}: skipped (misfire=skip), next {}",
                fired.name,
                fired.tick_at,
                fired.next_run_at,
            )
