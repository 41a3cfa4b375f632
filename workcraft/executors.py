"""Running claimed tasks: in threads (plus one event loop for ``async def`` tasks) or
in a pool of child processes.

Both pools share :func:`execute`, which turns one claimed task into an
:class:`~workcraft.models.Outcome`: decode, check, prerun, run, postrun. An
executor reports every outcome through ``on_done``; it never touches the database.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import multiprocessing
import queue
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from loguru import logger

from workcraft.context import TaskContext, running
from workcraft.core import Workcraft
from workcraft.errors import Discard, Retry
from workcraft.models import ClaimedTask, Outcome, TaskOptions, TaskStatus
from workcraft.payload import DEFAULT_MAX_BYTES, InvalidPayload, decode_payload, encode_result

__all__ = ["Executor", "ProcessExecutor", "ThreadExecutor", "execute"]

OnDone = Callable[[Outcome], None]


class Executor(Protocol):
    capacity: int

    def start(self) -> None: ...

    def submit(self, job: ClaimedTask) -> None: ...

    def in_flight(self) -> list[ClaimedTask]: ...

    def stop(self, force: bool) -> None: ...


# ------------------------------------------------------------------ one task


class _Prepared:
    def __init__(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> None:
        self.func, self.args, self.kwargs = func, args, kwargs


def _prepare(app: Workcraft, job: ClaimedTask) -> _Prepared | Outcome:
    func = app.tasks.get(job.task_name)
    if func is None:  # claims filter by name, so only a changed registry gets here
        return _invalid(job, f"no task named {job.task_name!r} is registered on this peon")
    try:
        args, kwargs = decode_payload(job.payload)
    except InvalidPayload as exc:
        return _invalid(job, f"{exc}; the row's payload was written outside workcraft?")
    try:
        inspect.signature(func).bind(*args, **kwargs)
    except TypeError as exc:
        return _invalid(
            job, f"arguments do not fit {job.task_name}{inspect.signature(func)}: {exc}"
        )
    return _Prepared(func, args, kwargs)


def _invalid(job: ClaimedTask, reason: str) -> Outcome:
    return Outcome(job.id, job.attempt, TaskStatus.INVALID, error=reason, task_name=job.task_name)


def _call_handler(name: str, handler: Callable[..., Any] | None, *args: Any) -> None:
    if handler is None:
        return
    try:
        handler(*args)
    except Exception:
        logger.opt(exception=True).error("{} handler failed (the task is not affected)", name)


_MAX_ERROR_CHARS = 64 * 1024


def _finish(
    job: ClaimedTask,
    started: float,
    value: Any = None,
    error: BaseException | None = None,
    app: Workcraft | None = None,
) -> tuple[Outcome, Any]:
    duration = time.perf_counter() - started
    if error is None:
        try:
            result = encode_result(value, app.max_payload_bytes if app else DEFAULT_MAX_BYTES)
        except (TypeError, ValueError) as exc:
            # The same value would come back on every retry: no retry.
            return _failure(job, duration, exc, retry=False), None
        outcome = Outcome(
            job.id,
            job.attempt,
            TaskStatus.SUCCESS,
            result,
            task_name=job.task_name,
            duration=duration,
            delete_on_success=job.delete_on_success,
        )
        return outcome, value
    options = app.task_options.get(job.task_name, TaskOptions()) if app else TaskOptions()
    retry, after = _retry_decision(job, options, error)
    return _failure(job, duration, error, retry, after), None


def _retry_decision(
    job: ClaimedTask, options: TaskOptions, error: BaseException
) -> tuple[bool, float | None]:
    """(retry?, after how many seconds; None: the default exponential backoff)."""
    if isinstance(error, Discard) or job.retry_count >= job.retry_limit:
        return False, None
    if isinstance(error, Retry):
        return True, error.after
    if not job.retry_on_failure:
        return False, None
    if options.retry_on is not None and not isinstance(error, options.retry_on):
        return False, None
    if options.backoff is None:
        return True, None
    backoff = options.backoff
    return True, float(backoff(job.retry_count) if callable(backoff) else backoff)


def _failure(
    job: ClaimedTask,
    duration: float,
    error: BaseException,
    retry: bool,
    retry_after: float | None = None,
) -> Outcome:
    text = "".join(traceback.format_exception(error))
    if len(text) > _MAX_ERROR_CHARS:
        # Keep where it started and how it ended (deep recursion makes megabytes).
        half = _MAX_ERROR_CHARS // 2
        text = f"{text[:half]}\n... {len(text) - 2 * half:,} characters cut ...\n{text[-half:]}"
    return Outcome(
        job.id,
        job.attempt,
        TaskStatus.FAILURE,
        error=text,
        task_name=job.task_name,
        duration=duration,
        retry=retry,
        retry_after=retry_after,
        retry_count=job.retry_count,
    )


def _context(job: ClaimedTask, worker_id: str) -> TaskContext:
    return TaskContext(
        id=job.id,
        name=job.task_name,
        queue=job.queue,
        attempt=job.attempt,
        retry_count=job.retry_count,
        retry_limit=job.retry_limit,
        worker_id=worker_id,
    )


def execute(app: Workcraft, job: ClaimedTask, worker_id: str) -> Outcome:
    """Run one task to an outcome in this thread (``async def`` tasks on a new loop)."""
    prepared = _prepare(app, job)
    if isinstance(prepared, Outcome):
        return prepared
    _call_handler("prerun", app.prerun_handler_fn, job.id, job.task_name)
    started = time.perf_counter()
    with running(_context(job, worker_id)):
        try:
            value = prepared.func(*prepared.args, **prepared.kwargs)
            if inspect.isawaitable(value):
                value = asyncio.run(_await(value))
            outcome, result = _finish(job, started, value, app=app)
        # SystemExit too: a task calling sys.exit() must end as FAILURE, not kill
        # its worker thread and leave the row RUNNING forever.
        except (Exception, SystemExit) as exc:
            outcome, result = _finish(job, started, error=exc, app=app)
    _call_handler(
        "postrun", app.postrun_handler_fn, job.id, job.task_name, result, str(outcome.status)
    )
    return outcome


async def _await(awaitable: Any) -> Any:
    return await awaitable


async def execute_async(app: Workcraft, job: ClaimedTask, worker_id: str) -> Outcome:
    """Like :func:`execute`, for ``async def`` tasks on a shared event loop."""
    prepared = _prepare(app, job)
    if isinstance(prepared, Outcome):
        return prepared
    _call_handler("prerun", app.prerun_handler_fn, job.id, job.task_name)
    started = time.perf_counter()
    with running(_context(job, worker_id)):
        try:
            value = await prepared.func(*prepared.args, **prepared.kwargs)
            outcome, result = _finish(job, started, value, app=app)
        # SystemExit too: a task calling sys.exit() must end as FAILURE, not kill
        # its worker thread and leave the row RUNNING forever.
        except (Exception, SystemExit) as exc:
            outcome, result = _finish(job, started, error=exc, app=app)
    _call_handler(
        "postrun", app.postrun_handler_fn, job.id, job.task_name, result, str(outcome.status)
    )
    return outcome


# --------------------------------------------------------------- thread pool


class ThreadExecutor:
    """``capacity`` worker threads for sync tasks, one event loop for async ones.

    Threads are daemons: a task stuck in C code must not keep a stopping peon alive
    (its row is requeued and a late result is fenced out).
    """

    def __init__(self, app: Workcraft, worker_id: str, capacity: int, on_done: OnDone) -> None:
        self.app, self.worker_id, self.capacity, self.on_done = app, worker_id, capacity, on_done
        self._jobs: queue.SimpleQueue[ClaimedTask | None] = queue.SimpleQueue()
        self._running: dict[str, ClaimedTask] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        for i in range(self.capacity):
            thread = threading.Thread(target=self._work, name=f"task-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if any(inspect.iscoroutinefunction(f) for f in self.app.tasks.values()):
            self._loop = asyncio.new_event_loop()
            threading.Thread(target=self._loop.run_forever, name="task-loop", daemon=True).start()

    def submit(self, job: ClaimedTask) -> None:
        with self._lock:
            self._running[job.id] = job
        func = self.app.tasks.get(job.task_name)
        if self._loop is not None and func is not None and inspect.iscoroutinefunction(func):
            future = asyncio.run_coroutine_threadsafe(
                execute_async(self.app, job, self.worker_id), self._loop
            )
            future.add_done_callback(functools.partial(self._done_async, job))
        else:
            self._jobs.put(job)

    def in_flight(self) -> list[ClaimedTask]:
        with self._lock:
            return list(self._running.values())

    def stop(self, force: bool) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            self._complete(job, execute(self.app, job, self.worker_id))

    def _done_async(self, job: ClaimedTask, future: Future[Outcome]) -> None:
        try:
            outcome = future.result()
        except BaseException as exc:  # cancelled at shutdown, or a bug in execute_async
            outcome, _ = _finish(job, time.perf_counter(), error=Exception(repr(exc)))
        self._complete(job, outcome)

    def _complete(self, job: ClaimedTask, outcome: Outcome) -> None:
        # Hand the outcome over before forgetting the job: the peon's reconciliation
        # must always find a claimed task in one of the two places.
        self.on_done(outcome)
        with self._lock:
            self._running.pop(job.id, None)


# -------------------------------------------------------------- process pool

_child_app: Workcraft | None = None


def _child_init(workcraft_path: str, log_level: str) -> None:
    from workcraft.loader import load_workcraft
    from workcraft.log import configure_logging

    global _child_app
    configure_logging(log_level, component="peon-child")
    _child_app = load_workcraft(workcraft_path)
    _call_handler("setup", _child_app.setup_handler_fn)


def _child_execute(job: ClaimedTask, worker_id: str) -> Outcome:
    assert _child_app is not None, "process pool child was not initialised"
    return execute(_child_app, job, worker_id)


class ProcessExecutor:
    """``capacity`` child processes, started with "spawn": forking a process that
    already runs threads (heartbeat, recorder) can copy a held lock into the child.

    When a child dies (segfault, os._exit, OOM kill) the pool breaks; every task in
    it is released back to PENDING as "its process died" and a new pool starts.
    """

    def __init__(
        self,
        workcraft_path: str,
        worker_id: str,
        capacity: int,
        on_done: OnDone,
        log_level: str = "INFO",
    ) -> None:
        self.workcraft_path, self.worker_id = workcraft_path, worker_id
        self.capacity, self.on_done, self.log_level = capacity, on_done, log_level
        self._running: dict[str, ClaimedTask] = {}
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._stopped = False

    def start(self) -> None:
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.capacity,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_child_init,
            initargs=(self.workcraft_path, self.log_level),
        )

    def submit(self, job: ClaimedTask) -> None:
        with self._lock:
            self._running[job.id] = job
            pool = self._pool
        assert pool is not None, "start() the executor first"
        try:
            future = pool.submit(_child_execute, job, self.worker_id)
        except BrokenProcessPool:
            self._died(job, pool)
            return
        future.add_done_callback(functools.partial(self._done, job, pool))

    def _done(self, job: ClaimedTask, pool: ProcessPoolExecutor, future: Future[Outcome]) -> None:
        try:
            outcome = future.result()
        except BrokenProcessPool:
            self._died(job, pool)
            return
        except BaseException as exc:  # e.g. a result that cannot be pickled back
            outcome, _ = _finish(job, time.perf_counter(), error=Exception(repr(exc)))
        self.on_done(outcome)
        with self._lock:
            self._running.pop(job.id, None)

    def _died(self, job: ClaimedTask, pool: ProcessPoolExecutor) -> None:
        logger.error("the child process running {} {} died; releasing it", job.task_name, job.id)
        self.on_done(
            Outcome(
                job.id,
                job.attempt,
                TaskStatus.PENDING,
                error="its process died",
                task_name=job.task_name,
            )
        )
        with self._lock:
            self._running.pop(job.id, None)
            if self._pool is pool and not self._stopped:
                self._pool = self._new_pool()

    def in_flight(self) -> list[ClaimedTask]:
        with self._lock:
            return list(self._running.values())

    def stop(self, force: bool) -> None:
        with self._lock:
            self._stopped = True
            pool = self._pool
        if pool is None:
            return
        if force:
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
        pool.shutdown(wait=not force, cancel_futures=True)
