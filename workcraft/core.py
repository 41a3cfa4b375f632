"""The application's side of workcraft: register tasks, send them, read them back."""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple, ParamSpec, TypeGuard, TypeVar, cast

from loguru import logger

from workcraft import store
from workcraft.batches import TaskBatches
from workcraft.config import DBConfig, get_db_config
from workcraft.db import (
    connect,
    database_errors,
    driver_cursor,
    driver_error,
    driver_errors,
    is_duplicate_key,
    retry_transient,
)
from workcraft.errors import ResultTimeout, TaskFailed
from workcraft.handle import TaskHandle, unwrap
from workcraft.link import Link, SqlConnection
from workcraft.models import NewTask, Task, TaskOptions, TaskStatus
from workcraft.overview import finished_statuses, parse_duration
from workcraft.payload import (
    DEFAULT_MAX_BYTES,
    check_name,
    decode_payload,
    decode_result,
    encode_payload,
)
from workcraft.wakeup import Hinter

if TYPE_CHECKING:
    # SQLAlchemy loads only with a caller's own Connection or Session, or the async
    # client: a peon and a plain sender never need it (some 13 MiB).
    from sqlalchemy import Connection
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
    from sqlalchemy.orm import Session

__all__ = ["DEFAULT_QUEUE", "Workcraft", "new_task_id", "workcraft"]

DEFAULT_QUEUE = "DEFAULT"
_NO_OPTIONS = TaskOptions()


class _Settings(NamedTuple):
    """What a send's own options and its task's defaults come to."""

    queue: str
    priority: int
    retry_on_failure: bool
    retry_limit: int
    timeout_seconds: float | None
    delete_on_success: bool
    expires: float | timedelta | None


# send_tasks_sync's item keys: send_task_sync's arguments less unique_key
_BULK_KEYS = frozenset(
    {
        "task_name",
        "task_args",
        "task_kwargs",
        "queue",
        "retry_on_failure",
        "retry_limit",
        "priority",
        "delay",
        "run_at",
        "expires",
        "timeout",
        "delete_on_success",
    }
)
F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")
_DEFAULT_RETRY_LIMIT = 3
_UNIQUE_RACE_ATTEMPTS = 5
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


_id_lock = threading.Lock()
_id_state = {"ms": 0, "counter": 0}
_COUNTER_BITS = 74  # rand_a (12) + rand_b (62) of RFC 9562, used as one counter


def new_task_id() -> str:
    """A UUIDv7: time-ordered, so new rows append to the primary key's B-tree.

    Within one process ids also increase within a millisecond (RFC 9562's monotonic
    counter), so ``ORDER BY id`` is creation order for one sender.
    """
    with _id_lock:
        ms = max(time.time_ns() // 1_000_000, _id_state["ms"])
        if ms == _id_state["ms"]:
            counter = _id_state["counter"] + 1
            if counter >> _COUNTER_BITS:
                ms, counter = ms + 1, 0
        else:
            # Random start, top bit clear: room to count up within this millisecond.
            counter = int.from_bytes(os.urandom(10), "big") >> (80 - _COUNTER_BITS + 1)
        _id_state["ms"], _id_state["counter"] = ms, counter
    value = (
        ms << 80
        | 0x7 << 76  # version 7
        | (counter >> 62) << 64
        | 0x2 << 62  # RFC 4122 variant
        | (counter & ((1 << 62) - 1))
    )
    # What str(uuid.UUID(int=value)) gives, without its checks: ids are made by the
    # thousand in bulk sends.
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Workcraft:
    """A registry of tasks and handlers, and the client that sends and reads tasks.

    The same instance serves the app (``send_task_sync``, ``get_result_sync``, and
    their async twins ``send_task``, ``get_result``) and the peon
    (``python -m workcraft peon --workcraft_path=module.instance``).
    """

    def __init__(
        self, db_config: DBConfig | None = None, *, max_payload_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        self.db_config = db_config
        # The largest arguments (on send) and result (on the peon) accepted, as JSON.
        self.max_payload_bytes = max_payload_bytes
        self.tasks: dict[str, Callable[..., Any]] = {}
        self.task_options: dict[str, TaskOptions] = {}
        self._signatures: dict[str, tuple[Callable[..., Any], inspect.Signature]] = {}
        self._bound_shapes: set[tuple[Callable[..., Any], int, tuple[str, ...]]] = set()
        # task name -> (the TaskOptions it was worked out from, the settings of a send
        # with no options of its own)
        self._declared_settings: dict[str, tuple[TaskOptions, _Settings]] = {}
        self._hinter = Hinter()
        self.setup_handler_fn: Callable[[], Any] | None = None
        self.prerun_handler_fn: Callable[..., Any] | None = None
        self.postrun_handler_fn: Callable[..., Any] | None = None
        # name -> workcraft.schedule.Schedule, declared with @app.periodic
        self.schedules: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"Workcraft(tasks={sorted(self.tasks)!r})"

    def configure(self, db_config: DBConfig) -> None:
        """Set the database once, so calls may leave out ``db_config``."""
        self.db_config = db_config

    # ------------------------------------------------------------ registration

    def task(
        self,
        name: str | None = None,
        *,
        queue: str | None = None,
        priority: int | None = None,
        retry_on_failure: bool | None = None,
        retry_limit: int | None = None,
        retry_on: type[BaseException] | tuple[type[BaseException], ...] | None = None,
        backoff: float | Callable[[int], float] | None = None,
        timeout: float | None = None,
        expires: float | timedelta | None = None,
        delete_on_success: bool | None = None,
    ) -> Callable[[Callable[P, R]], TaskHandle[P, R]]:
        """Register a function (sync or ``async def``) as the task ``name``.

        Returns a :class:`~workcraft.handle.TaskHandle`: still callable as the
        function, plus ``.send(...)``, ``await .launch(...)`` and ``.options(...)``.

        The keyword options are this task's defaults for every send (a send's own
        arguments win) and its retry policy: ``retry_on`` limits retries to those
        exceptions; ``backoff`` is a fixed number of seconds or a function of the
        retry count; ``timeout`` (seconds) fails an attempt that runs longer.
        """
        if isinstance(retry_on, type):
            retry_on = (retry_on,)
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        options = TaskOptions(
            queue=check_name("queue", queue) if queue is not None else None,
            priority=priority,
            retry_on_failure=retry_on_failure,
            retry_limit=retry_limit,
            retry_on=retry_on,
            backoff=backoff,
            timeout=timeout,
            expires=_seconds(expires, "expires"),
            delete_on_success=delete_on_success,
        )

        def decorator(func: Callable[P, R]) -> TaskHandle[P, R]:
            func = unwrap(func)
            task_name = check_name("task", name or func.__name__)
            if task_name in self.tasks and self.tasks[task_name] is not func:
                raise ValueError(f"task name {task_name!r} is already registered")
            self.tasks[task_name] = func
            self.task_options[task_name] = options
            return TaskHandle(self, task_name, func)

        return decorator

    def setup_handler(self) -> Callable[[F], F]:
        """Runs once per peon process (and per child of a process pool) before work."""

        def decorator(func: F) -> F:
            self.setup_handler_fn = func
            return func

        return decorator

    def prerun_handler(self) -> Callable[[F], F]:
        """Called as ``handler(task_id, task_name)`` before every task."""

        def decorator(func: F) -> F:
            self.prerun_handler_fn = func
            return func

        return decorator

    def postrun_handler(self) -> Callable[[F], F]:
        """Called as ``handler(task_id, task_name, result, status)`` after every task."""

        def decorator(func: F) -> F:
            self.postrun_handler_fn = func
            return func

        return decorator

    def periodic(
        self,
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
        """Declare the schedule ``name``: send a task on every tick, once per tick
        however many peons run. Give ``cron`` (five fields, wall-clock in
        ``timezone``) or ``every`` (seconds or a timedelta).

        As a decorator it also registers the function as the task (named ``task``,
        else the name it is already registered under, else ``name``). Without one,
        ``task`` names a task registered elsewhere. ``misfire``: after downtime,
        ``"run_once"`` sends one task for the missed ticks, ``"skip"`` none. Peons
        write schedules to the ``schedule`` table when they start.
        """
        from workcraft.schedule import declare  # workcraft.schedule imports this module

        return declare(
            self,
            name,
            cron=cron,
            every=every,
            task=task,
            task_args=task_args,
            task_kwargs=task_kwargs,
            queue=queue,
            timezone=timezone,
            misfire=misfire,
            enabled=enabled,
        )

    # ----------------------------------------------------------------- sending

    def send_task_sync(
        self,
        task_name: str,
        task_args: Sequence[Any] | None = None,
        task_kwargs: Mapping[str, Any] | None = None,
        queue: str | None = None,
        retry_on_failure: bool | None = None,
        retry_limit: int | None = None,
        db_config: DBConfig | None = None,
        *,
        priority: int | None = None,
        delay: float | timedelta | None = None,
        run_at: datetime | None = None,
        expires: float | timedelta | datetime | None = None,
        timeout: float | None = None,
        unique_key: str | None = None,
        delete_on_success: bool | None = None,
        connection: Connection | Session | Link | None = None,
    ) -> str:
        """Queue ``task_name(*task_args, **task_kwargs)`` and return the task's id.

        Unset options come from the task's ``@app.task(...)`` declaration when this
        instance registered it, else: queue "DEFAULT", no retries (retry_limit 3 once
        retry_on_failure is on), priority 0. Arguments are checked before the database
        is touched: JSON-serializable, and fitting the task's signature when known.

        ``unique_key``: while a task of this name with this key is PENDING or RUNNING,
        sending another returns that task's id instead. ``connection``: your own
        SQLAlchemy Connection or Session (or a ``workcraft.db.connect()`` connection);
        the row is written in your transaction and exists only if you commit it.
        """
        row = self._new_task(
            task_name,
            task_args,
            task_kwargs,
            queue,
            retry_on_failure,
            retry_limit,
            priority,
            delay,
            run_at,
            expires,
            timeout,
            unique_key,
            delete_on_success,
        )
        if connection is not None:
            conn = _connection_of(connection)
            task_id = _write_one(conn, row, self._hinter)
            _wake_after_commit(connection, _due([row]), self._hinter)
            return task_id
        cfg = self._db(db_config)
        attempts = 0
        hinted: frozenset[str] = frozenset()

        def hint_early() -> None:
            # Naming the task, while the INSERT commits: an idle peon's claim of it
            # waits on the row lock and runs the moment the row is there. One peon:
            # the others' claims would wait on the same lock, and their wake-ups
            # would slow the commit they wait for (2 CPUs: ~0.2 ms of a pickup).
            nonlocal hinted
            if row.delay_us == 0 and not hinted:
                hinted = self._hinter.hint(_due([row]), early=True, task_id=row.id, only_first=True)

        def insert() -> str:
            nonlocal attempts
            attempts += 1
            try:
                if row.unique_key is None:
                    # One statement: committed by itself, in one round trip.
                    with driver_cursor(cfg) as cursor:
                        store.insert_task_autocommit(cursor, row, then=hint_early)
                    return row.id
                with connect(cfg) as conn:
                    return _write_one(conn, row, self._hinter)
            except driver_errors() as exc:
                # The id is ours: a duplicate on a retry means the first try committed
                # before the connection broke, so the task is already queued once.
                if attempts > 1 and _duplicate_id(exc):
                    return row.id
                raise

        task_id = retry_transient(insert, what=f"send {task_name}")
        if self._hinter.stale():
            self._look_up_peons(cfg)
        # The peon hinted during the INSERT had its early hint; the rest (all, for a
        # delayed or unique task) get theirs now, naming the task: should the first
        # not take it (busy, or gone), one of them claims it by its id.
        self._hinter.hint(_due([row]), skip=hinted, task_id=task_id)
        logger.debug("sent {} {} to queue {}", task_name, task_id, row.queue)
        return task_id

    async def send_task(
        self,
        task_name: str,
        task_args: Sequence[Any] | None = None,
        task_kwargs: Mapping[str, Any] | None = None,
        queue: str | None = None,
        retry_on_failure: bool | None = None,
        retry_limit: int | None = None,
        db_config: DBConfig | None = None,
        *,
        priority: int | None = None,
        delay: float | timedelta | None = None,
        run_at: datetime | None = None,
        expires: float | timedelta | datetime | None = None,
        timeout: float | None = None,
        unique_key: str | None = None,
        delete_on_success: bool | None = None,
        connection: AsyncConnection | AsyncSession | None = None,
    ) -> str:
        """:meth:`send_task_sync` for async code, through the async driver (aiomysql).

        ``connection``: your own ``AsyncConnection`` or ``AsyncSession``; the row is
        written in your transaction.
        """
        row = self._new_task(
            task_name,
            task_args,
            task_kwargs,
            queue,
            retry_on_failure,
            retry_limit,
            priority,
            delay,
            run_at,
            expires,
            timeout,
            unique_key,
            delete_on_success,
        )
        if connection is not None:
            conn = await _async_connection(connection)
            task_id = await conn.run_sync(_write_one, row, self._hinter)
            _wake_after_commit(_sync_target(connection), _due([row]), self._hinter)
            return task_id
        cfg = self._db(db_config)
        attempts = 0

        async def insert() -> str:
            nonlocal attempts
            attempts += 1
            try:
                async with db_async().connect_async(cfg) as conn:
                    return await conn.run_sync(_write_one, row, self._hinter)
            except driver_errors() as exc:
                if attempts > 1 and _duplicate_id(exc):  # as in send_task_sync
                    return row.id
                raise

        task_id = await db_async().retry_transient_async(insert, what=f"send {task_name}")
        self._hinter.hint(_due([row]))
        logger.debug("sent {} {} to queue {}", task_name, task_id, row.queue)
        return task_id

    def send_tasks_sync(
        self,
        tasks: Iterable[Mapping[str, Any]],
        db_config: DBConfig | None = None,
        *,
        connection: Connection | Session | Link | None = None,
    ) -> list[str]:
        """Queue many tasks in few round trips; returns their ids in order.

        Each item is a dict of ``send_task_sync``'s arguments (``task_name`` required,
        e.g. ``{"task_name": "add", "task_args": [1, 2], "priority": 5}``). They are
        inserted 1,000 per statement in one transaction, each batch checked while the
        server inserts the previous one; a bad item raises and writes none (with
        ``connection``, all are checked before the first is written).
        """
        batches = self._task_batches(tasks, "send_tasks_sync")
        if connection is not None:
            # The caller may commit whatever we wrote before a bad item: check all first.
            rows = batches.rows()
            conn = _connection_of(connection)
            _write_many(conn, [rows], self._hinter, False)
            _wake_after_commit(connection, _due(rows), self._hinter)
            return [r.id for r in rows]

        def insert() -> None:
            # A bad item rolls the whole send back, so the batches are checked as the
            # INSERTs go (the next one while the server inserts the last).
            with connect(self._db(db_config)) as conn:
                _write_many(conn, batches, self._hinter, True)

        retry_transient(insert, what="send tasks")
        rows = batches.rows()
        self._hinter.hint(_due(rows))
        return [r.id for r in rows]

    async def send_tasks(
        self,
        tasks: Iterable[Mapping[str, Any]],
        db_config: DBConfig | None = None,
        *,
        connection: AsyncConnection | AsyncSession | None = None,
    ) -> list[str]:
        """:meth:`send_tasks_sync` for async code."""
        batches = self._task_batches(tasks, "send_tasks")
        if connection is not None:
            rows = batches.rows()  # as in send_tasks_sync
            conn = await _async_connection(connection)
            await conn.run_sync(_write_many, [rows], self._hinter, False)
            _wake_after_commit(_sync_target(connection), _due(rows), self._hinter)
            return [r.id for r in rows]
        cfg = self._db(db_config)

        async def insert() -> None:
            async with db_async().connect_async(cfg) as conn:
                await conn.run_sync(_write_many, batches, self._hinter, True)

        await db_async().retry_transient_async(insert, what="send tasks")
        rows = batches.rows()
        self._hinter.hint(_due(rows))
        return [r.id for r in rows]

    def _look_up_peons(self, cfg: DBConfig) -> None:
        try:
            with connect(cfg) as conn:
                _look_up_peons(conn, self._hinter)
        except database_errors() as exc:
            # The task is queued; only its hint is lost, which polling covers.
            self._hinter.update([])
            logger.debug("cannot read peon addresses for wake-up hints: {}", exc)

    def _task_batches(self, tasks: Iterable[Mapping[str, Any]], caller: str) -> TaskBatches:
        def make(i: int, spec: Mapping[str, Any]) -> NewTask:
            unknown = set(spec) - _BULK_KEYS
            if unknown:
                raise TypeError(
                    f"{caller} item {i}: unknown key(s) {sorted(unknown)}; allowed: "
                    f"{sorted(_BULK_KEYS)} (unique_key needs a single send)"
                )
            if "task_name" not in spec:
                raise TypeError(f"{caller} item {i} has no task_name")
            get = spec.get
            return self._new_task(
                spec["task_name"],
                get("task_args"),
                get("task_kwargs"),
                get("queue"),
                get("retry_on_failure"),
                get("retry_limit"),
                get("priority"),
                get("delay"),
                get("run_at"),
                get("expires"),
                get("timeout"),
                None,
                get("delete_on_success"),
            )

        return TaskBatches(make, tasks)

    def _new_task(
        self,
        task_name: str,
        task_args: Sequence[Any] | None,
        task_kwargs: Mapping[str, Any] | None,
        queue: str | None,
        retry_on_failure: bool | None,
        retry_limit: int | None,
        priority: int | None,
        delay: float | timedelta | None,
        run_at: datetime | None,
        expires: float | timedelta | datetime | None,
        timeout: float | None,
        unique_key: str | None,
        delete_on_success: bool | None,
    ) -> NewTask:
        """A checked row for one send."""
        own = (queue, retry_on_failure, retry_limit, priority, timeout, delete_on_success)
        if type(task_name) is str and all(value is None for value in own):
            # Only the task's declared options apply: the same for every such send,
            # worked out once per declaration. Per send this path runs cold (a send
            # after idling finds little in the CPU's caches): every step is on the
            # pickup's clock.
            declared = self.task_options.get(task_name, _NO_OPTIONS)
            known = self._declared_settings.get(task_name)
            if known is not None and known[0] is declared:
                settings = known[1]
            else:
                _check_name_fast("task", task_name)
                settings = self._settings(task_name, *own)
                if len(self._declared_settings) < 4096:
                    self._declared_settings[task_name] = (declared, settings)
        else:
            _check_name_fast("task", task_name)
            settings = self._settings(task_name, *own)
        payload = encode_payload(
            task_name,
            [] if task_args is None else task_args,
            task_kwargs or {},
            self.max_payload_bytes,
        )
        error = self._argument_error(task_name, task_args or (), task_kwargs or {})
        if error is not None:
            raise TypeError(f"cannot send task {task_name!r}: {error}")
        if unique_key is not None:
            check_name("unique_key", unique_key)
        return NewTask(
            new_task_id(),
            task_name,
            settings.queue,
            payload,
            settings.priority,
            settings.retry_on_failure,
            settings.retry_limit,
            _delay_microseconds(delay, run_at),
            _expires_microseconds(_first(expires, settings.expires)),
            settings.timeout_seconds,
            unique_key,
            settings.delete_on_success,
        )

    def _settings(
        self,
        task_name: str,
        queue: str | None,
        retry_on_failure: bool | None,
        retry_limit: int | None,
        priority: int | None,
        timeout: float | None,
        delete_on_success: bool | None,
    ) -> _Settings:
        """A send's options over the task's defaults, checked."""
        options = self.task_options.get(task_name, _NO_OPTIONS)
        queue = _first(queue, options.queue, DEFAULT_QUEUE)
        _check_name_fast("queue", queue)
        retry_limit = _first(retry_limit, options.retry_limit, _DEFAULT_RETRY_LIMIT)
        if isinstance(retry_limit, bool) or not isinstance(retry_limit, int) or retry_limit < 0:
            raise ValueError(f"retry_limit must be a whole number >= 0, got {retry_limit!r}")
        priority = _first(priority, options.priority, 0)
        if (
            isinstance(priority, bool)
            or not isinstance(priority, int)
            or not _INT32_MIN <= priority <= _INT32_MAX
        ):
            raise ValueError(f"priority must be a 32-bit whole number, got {priority!r}")
        timeout = _first(timeout, options.timeout, None)
        if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        return _Settings(
            queue=queue,
            priority=priority,
            retry_on_failure=bool(_first(retry_on_failure, options.retry_on_failure, False)),
            retry_limit=retry_limit,
            timeout_seconds=float(timeout) if timeout is not None else None,
            delete_on_success=bool(_first(delete_on_success, options.delete_on_success, False)),
            expires=options.expires,
        )

    def _argument_error(
        self, task_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> str | None:
        """Why these arguments do not fit the registered task's signature, or None if
        they do (or no such task is registered here): checked on send and again on
        the peon before the call."""
        signature = self._task_signature(task_name)
        if signature is None:
            return None
        # Whether arguments bind depends only on how many are positional and which
        # names the others have: a shape that bound once binds again (bulk sends
        # repeat a few shapes thousands of times; a peon runs the same ones).
        shape = (self.tasks[task_name], len(args), tuple(kwargs))
        if shape in self._bound_shapes:
            return None
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            return str(exc)
        if len(self._bound_shapes) < 4096:
            self._bound_shapes.add(shape)
        return None

    def _task_signature(self, task_name: str) -> inspect.Signature | None:
        """The registered function's signature (senders check arguments against it, peons
        again before calling), or None if no such task is registered here."""
        func = self.tasks.get(task_name)
        if func is None:
            return None
        cached = self._signatures.get(task_name)
        if cached is None or cached[0] is not func:
            # Working a signature out costs more than the rest of a send or a no-op
            # task's run: once per task function.
            cached = self._signatures[task_name] = (func, inspect.signature(func))
        return cached[1]

    def _db(self, db_config: DBConfig | None) -> DBConfig:
        if db_config is not None:
            return db_config
        if self.db_config is None:
            self.db_config = get_db_config()
        return self.db_config

    # ----------------------------------------------------------------- reading

    def _read(self, db_config: DBConfig | None, what: str, read: Callable[[SqlConnection], R]) -> R:
        cfg = self._db(db_config)

        def attempt() -> R:
            with connect(cfg) as conn:
                return read(conn)

        return retry_transient(attempt, what=what)

    def get_task_sync(self, task_id: str, db_config: DBConfig | None = None) -> Task | None:
        """The whole row, decoded; None when no task has this id."""
        row = self._read(db_config, "read task", lambda c: store.get_task_row(c, task_id))
        return _task_from_row(row) if row is not None else None

    def status(self, task_id: str, db_config: DBConfig | None = None) -> TaskStatus | None:
        value = self._read(db_config, "read status", lambda c: store.task_status(c, task_id))
        return TaskStatus(value) if value is not None else None

    async def get_task(self, task_id: str, db_config: DBConfig | None = None) -> Task | None:
        """:meth:`get_task_sync` for async code."""
        cfg = self._db(db_config)

        async def attempt() -> dict[str, Any] | None:
            async with db_async().connect_async(cfg) as conn:
                return await conn.run_sync(store.get_task_row, task_id)

        row = await db_async().retry_transient_async(attempt, what="read task")
        return _task_from_row(row) if row is not None else None

    def get_result_sync(
        self, task_id: str, timeout: float | None = None, db_config: DBConfig | None = None
    ) -> Any:
        """Wait for the task to finish and return its result.

        Raises :class:`TaskFailed` (with the remote traceback) when it ended without
        one, :class:`ResultTimeout` after ``timeout`` seconds, KeyError for an
        unknown id. A failure that will be retried is waited through.
        """
        waiting = _ResultWait(task_id, timeout)
        while True:
            done, value = waiting.look(self.get_task_sync(task_id, db_config))
            if done:
                return value
            time.sleep(value)

    async def get_result(
        self, task_id: str, timeout: float | None = None, db_config: DBConfig | None = None
    ) -> Any:
        """:meth:`get_result_sync` for async code: awaits between looks."""
        waiting = _ResultWait(task_id, timeout)
        while True:
            done, value = waiting.look(await self.get_task(task_id, db_config))
            if done:
                return value
            await asyncio.sleep(value)

    async def aclose(self) -> None:
        """Close the async client's pooled connections of the running event loop."""
        await db_async().aclose_engines()

    # ----------------------------------------------------------------- control

    def cancel(self, task_id: str, db_config: DBConfig | None = None) -> str:
        """Cancel a task. Returns what happened, and never changes a finished task:

        - ``"cancelled"``: it was waiting (or waiting for a retry); it will not run;
        - ``"stop_requested"``: it is running; its peon stops it (a process-pool child
          is killed, an async task cancelled, a thread task sees
          ``current_task().cancelled``) and it ends CANCELLED;
        - ``"finished: SUCCESS"`` (or its other final status): nothing changed;
        - ``"unknown"``: no task has this id.
        """
        cfg = self._db(db_config)

        def cancel() -> tuple[str, str | None]:
            with connect(cfg) as conn:
                return store.cancel_task(conn, task_id)

        what, status = retry_transient(cancel, what="cancel task")
        return f"{what}: {status}" if status else what

    def pause_queue(self, queue: str, db_config: DBConfig | None = None) -> None:
        """Peons stop claiming from ``queue``; its tasks wait (running ones finish)."""
        self._set_paused(queue, True, db_config)

    def resume_queue(self, queue: str, db_config: DBConfig | None = None) -> None:
        self._set_paused(queue, False, db_config)

    def paused_queues(self, db_config: DBConfig | None = None) -> list[str]:
        return self._read(db_config, "list paused queues", store.paused_queues)

    def retry(self, task_id: str, db_config: DBConfig | None = None) -> str:
        """Run a task that ended FAILURE, INVALID, CANCELLED or EXPIRED again, now.
        Returns what happened:

        - ``"requeued"``: it is PENDING and due now. Its attempt number, retry count,
          last error and failed attempts are kept, so a task whose retries are used
          up gets one more run, and a late result of an old attempt stays fenced out;
        - ``"refused: SUCCESS"`` (or PENDING, RUNNING): nothing changed;
        - ``"refused: unique_key"``: another live task holds its unique_key;
        - ``"unknown"``: no task has this id.
        """
        cfg = self._db(db_config)

        def retry() -> tuple[str, str | None]:
            with connect(cfg) as conn:
                try:
                    return store.retry_task(conn, task_id)
                except driver_errors() as exc:
                    if not is_duplicate_key(exc):
                        raise
                    return "refused", "unique_key"

        what, detail = retry_transient(retry, what="retry task")
        return f"{what}: {detail}" if detail else what

    def purge(
        self,
        older_than: float | timedelta | str,
        statuses: str | Iterable[str] | None = None,
        *,
        batch: int = 1000,
        db_config: DBConfig | None = None,
    ) -> int:
        """Delete finished tasks, and their attempts, that finished longer ago than
        ``older_than`` (seconds, a timedelta, or text like ``"7d"``). Returns how many.

        ``statuses``: any of SUCCESS, FAILURE, INVALID, CANCELLED, EXPIRED (default: all
        of them); PENDING and RUNNING raise ValueError. A failure that will still be
        retried is kept. Deletes oldest first, ``batch`` rows per short transaction,
        so live work is never blocked for long.
        """
        wanted = finished_statuses(statuses)
        age_us = round(parse_duration(older_than).total_seconds() * 1e6)
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be a whole number >= 1, got {batch!r}")
        cfg = self._db(db_config)
        deleted = 0
        for status in wanted:
            while True:
                n = self._purge_batch(cfg, status, age_us, batch)
                deleted += n
                if n < batch:
                    break
        return deleted

    def _purge_batch(self, cfg: DBConfig, status: str, age_us: int, batch: int) -> int:
        def purge() -> int:
            with connect(cfg) as conn:
                return store.purge_tasks(conn, status, age_us, batch)

        return retry_transient(purge, what="purge tasks")

    def _set_paused(self, queue: str, paused: bool, db_config: DBConfig | None) -> None:
        check_name("queue", queue)
        cfg = self._db(db_config)
        by = f"{socket.gethostname()}:{os.getpid()}"

        def write() -> None:
            with connect(cfg) as conn:
                store.set_queue_paused(conn, queue, paused, by)

        retry_transient(write, what="pause queue" if paused else "resume queue")

    def _list(
        self, statuses: list[str], queue: str | None, limit: int, db_config: DBConfig | None
    ) -> list[Task]:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a whole number >= 1, got {limit!r}")
        rows = self._read(
            db_config, "list tasks", lambda c: store.list_task_rows(c, statuses, queue, limit)
        )
        return [_task_from_row(r) for r in rows]

    def pending(
        self, queue: str | None = None, limit: int = 100, db_config: DBConfig | None = None
    ) -> list[Task]:
        return self._list(["PENDING"], queue, limit, db_config)

    def running(
        self, queue: str | None = None, limit: int = 100, db_config: DBConfig | None = None
    ) -> list[Task]:
        return self._list(["RUNNING"], queue, limit, db_config)

    def finished(
        self, queue: str | None = None, limit: int = 100, db_config: DBConfig | None = None
    ) -> list[Task]:
        return self._list(["SUCCESS"], queue, limit, db_config)

    def failed(
        self, queue: str | None = None, limit: int = 100, db_config: DBConfig | None = None
    ) -> list[Task]:
        return self._list(["FAILURE", "INVALID"], queue, limit, db_config)


class _ResultWait:
    """The waiting of get_result(_sync): the task's state decides return, raise or wait."""

    def __init__(self, task_id: str, timeout: float | None) -> None:
        self.task_id, self.timeout = task_id, timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.pause = 0.01

    def look(self, task: Task | None) -> tuple[bool, Any]:
        """(True, result) when finished well, (False, seconds to wait) while not."""
        if task is None:
            raise KeyError(f"no task with id {self.task_id!r}")
        if task.finished:
            if task.status == TaskStatus.SUCCESS:
                return True, task.result
            raise TaskFailed(task.id, str(task.status), task.error)
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise ResultTimeout(
                f"task {self.task_id} is still {task.status} after {self.timeout} s"
            )
        pause = self.pause
        if self.deadline is not None:
            pause = min(pause, max(0.0, self.deadline - time.monotonic()))
        self.pause = min(0.5, self.pause * 1.5)
        return False, pause


def _first(*values: Any) -> Any:
    """The first value that is not None (explicit argument, task default, fallback)."""
    for value in values:  # a plain loop: this runs several times per task of a bulk send
        if value is not None:
            return value
    return None


@functools.lru_cache(maxsize=4096)
def _checked_name(kind: str, name: str) -> str:
    return check_name(kind, name)


def _check_name_fast(kind: str, name: object) -> str:
    """check_name, remembered for names seen before (a bulk send repeats a few)."""
    if type(name) is str:
        return _checked_name(kind, name)
    return check_name(kind, name)


def _seconds(value: float | timedelta | None, name: str) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return seconds


def _expires_microseconds(expires: float | timedelta | datetime | None) -> int | None:
    """How long from now the task may still start: seconds, a timedelta or a deadline."""
    if expires is None:
        return None
    if isinstance(expires, datetime):
        if expires.tzinfo is None:
            raise ValueError("expires as a datetime must be timezone-aware")
        return round((expires - datetime.now(UTC)).total_seconds() * 1e6)
    seconds = _seconds(expires, "expires")
    assert seconds is not None
    return round(seconds * 1e6)


def _write_one(conn: SqlConnection, row: NewTask, hinter: Hinter) -> str:
    task_id = _insert_one(conn, row)
    _look_up_peons(conn, hinter)
    return task_id


def _write_many(
    conn: SqlConnection, batches: Iterable[list[NewTask]], hinter: Hinter, ignore: bool
) -> None:
    store.insert_tasks(conn, batches, ignore_existing=ignore)
    _look_up_peons(conn, hinter)


def _look_up_peons(conn: SqlConnection, hinter: Hinter) -> None:
    """Refresh where to send wake-up hints, at most once a second, in the transaction
    the send opened anyway (no extra round trip to a pool)."""
    if not hinter.stale():
        return
    try:
        hinter.update(store.wake_targets(conn))
    except driver_errors() as exc:
        # A failed SELECT leaves a MySQL transaction usable: the send goes on, and
        # peons find its task by polling.
        hinter.update([])
        logger.debug("cannot read peon addresses for wake-up hints: {}", exc)


_WAKE_QUEUES = "workcraft_wake_queues"
_WAKE_HINTER = "workcraft_hinter"


def _due(rows: list[NewTask]) -> dict[str, set[int]]:
    """Queue -> in how many milliseconds its new tasks are due (0: now)."""
    due: dict[str, set[int]] = {}
    for row in rows:
        due.setdefault(row.queue, set()).add(row.delay_us // 1000)
    return due


def _wake_after_commit(
    target: Connection | Session | Link, due: dict[str, set[int]], hinter: Hinter
) -> None:
    """Hint peons once the caller commits the transaction our rows are in.

    A Session (and a Link of ours) tells us after its commit. A Connection only
    before (its "commit" event precedes the COMMIT), so that hint is marked early: a
    peon whose claim finds nothing looks again a moment later.
    """
    if isinstance(target, Link):
        target.after_commit(lambda: hinter.hint(due))
        return
    from sqlalchemy import event

    pending = target.info.setdefault(_WAKE_QUEUES, {})
    for queue, times in due.items():
        pending.setdefault(queue, set()).update(times)
    target.info[_WAKE_HINTER] = hinter
    if _is_session(target):
        if not event.contains(target, "after_commit", _hint_session_commit):
            event.listen(target, "after_commit", _hint_session_commit)
            event.listen(target, "after_rollback", _forget_wake_queues)
    elif not event.contains(target, "commit", _hint_connection_commit):
        event.listen(target, "commit", _hint_connection_commit)
        event.listen(target, "rollback", _forget_wake_queues)


def _hint(target: Connection | Session, early: bool) -> None:
    due = target.info.pop(_WAKE_QUEUES, None)
    hinter = target.info.get(_WAKE_HINTER)
    if due and isinstance(hinter, Hinter):
        hinter.hint(due, early=early)


def _hint_session_commit(session: Session) -> None:
    _hint(session, early=False)


def _hint_connection_commit(conn: Connection) -> None:
    _hint(conn, early=True)


def _forget_wake_queues(target: Connection | Session) -> None:
    target.info.pop(_WAKE_QUEUES, None)


def db_async() -> ModuleType:
    from workcraft import db_async

    return db_async


def _connection_of(connection: Connection | Session | Link) -> SqlConnection:
    if _is_session(connection):
        return connection.connection()
    return cast(SqlConnection, connection)


def _is_session(connection: object) -> TypeGuard[Session]:
    # A peon never imports the ORM (some 6 MiB); a caller who passes a Session has.
    if "sqlalchemy.orm" not in sys.modules:
        return False
    from sqlalchemy.orm import Session

    return isinstance(connection, Session)


def _is_async_session(connection: object) -> TypeGuard[AsyncSession]:
    from sqlalchemy.ext.asyncio import AsyncSession

    return isinstance(connection, AsyncSession)


async def _async_connection(connection: AsyncConnection | AsyncSession) -> AsyncConnection:
    if _is_async_session(connection):
        return await connection.connection()
    return cast("AsyncConnection", connection)


def _sync_target(connection: AsyncConnection | AsyncSession) -> Connection | Session:
    if _is_async_session(connection):
        return connection.sync_session
    return cast("AsyncConnection", connection).sync_connection  # type: ignore[return-value]


def _insert_one(conn: SqlConnection, row: NewTask) -> str:
    """Insert; with a unique key already live, return that task's id instead."""
    if row.unique_key is None:
        store.insert_tasks(conn, [[row]])
        return row.id
    for _ in range(_UNIQUE_RACE_ATTEMPTS):
        existing = store.live_task_with_key(conn, row.task_name, row.unique_key)
        if existing is not None:
            return existing
        try:
            with conn.begin_nested():
                store.insert_tasks(conn, [[row]])
            return row.id
        except driver_errors() as exc:
            if _duplicate_id(exc) or not is_duplicate_key(exc):
                raise
            # Another sender inserted the same live key between our look and our
            # insert: the unique index refused ours. Look again.
    raise RuntimeError(f"unique_key {row.unique_key!r} kept changing hands; try again")


def _duplicate_id(exc: Exception) -> bool:
    return is_duplicate_key(exc) and "PRIMARY" in str(driver_error(exc))


def _delay_microseconds(delay: float | timedelta | None, run_at: datetime | None) -> int:
    if delay is not None and run_at is not None:
        raise ValueError("give delay or run_at, not both")
    if run_at is not None:
        if run_at.tzinfo is None:
            raise ValueError("run_at must be timezone-aware (e.g. datetime.now(UTC) + ...)")
        delay = run_at - datetime.now(UTC)
    if delay is None:
        return 0
    seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
    if not math.isfinite(seconds):
        raise ValueError(f"delay must be a finite number of seconds, got {seconds!r}")
    return max(0, round(seconds * 1e6))


def _task_from_row(row: dict[str, Any]) -> Task:
    try:
        args, kwargs = decode_payload(row["payload"])
    except ValueError:
        args, kwargs = [], {}
    try:
        result = decode_result(row["result"])
    except ValueError:
        result = row["result"]
    return Task(
        id=row["id"],
        task_name=row["task_name"],
        status=TaskStatus(row["status"]),
        queue=row["queue"],
        priority=row["priority"],
        args=args,
        kwargs=kwargs,
        result=result,
        error=row["error"],
        worker_id=row["worker_id"],
        attempt=row["attempt"],
        retry_on_failure=bool(row["retry_on_failure"]),
        retry_count=row["retry_count"],
        retry_limit=row["retry_limit"],
        requeue_count=row["requeue_count"],
        retry_stopped=bool(row["retry_stopped"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        run_at=row["run_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


# The original README imports the class under this lowercase name
# (``from workcraft.core import workcraft``); both spellings are the same class.
workcraft = Workcraft
