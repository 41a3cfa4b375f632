"""One claimed task, run to an :class:`~workcraft.models.Outcome`.

decode -> check -> prerun -> run -> postrun, then the retry decision for a failure.
Used in the peon's threads and inside process-pool children alike; it never touches
the database.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from loguru import logger

from workcraft.context import TaskContext, running
from workcraft.core import Workcraft
from workcraft.errors import Cancelled, Discard, Retry
from workcraft.models import ClaimedTask, Outcome, TaskOptions, TaskStatus
from workcraft.payload import DEFAULT_MAX_BYTES, InvalidPayload, decode_payload, encode_result

__all__ = [
    "call_handler",
    "cancelled",
    "execute",
    "execute_async",
    "released",
    "task_timeout",
    "timed_out",
]


class _Prepared:
    def __init__(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> None:
        self.func, self.args, self.kwargs = func, args, kwargs


def _prepare(app: Workcraft, job: ClaimedTask) -> _Prepared | Outcome:
    func = app.tasks.get(job.task_name)
    if func is None:  # claims filter by name: a changed registry
        return _invalid(job, f"no task named {job.task_name!r} is registered on this peon")
    try:
        args, kwargs = decode_payload(job.payload)
    except InvalidPayload as exc:
        return _invalid(job, f"{exc}; the row's payload was written outside workcraft?")
    error = app._argument_error(job.task_name, args, kwargs)
    if error is not None:
        signature = app._task_signature(job.task_name)
        return _invalid(job, f"arguments do not fit {job.task_name}{signature}: {error}")
    return _Prepared(func, args, kwargs)


def _invalid(job: ClaimedTask, reason: str) -> Outcome:
    return Outcome(job.id, job.attempt, TaskStatus.INVALID, error=reason, task_name=job.task_name)


def call_handler(name: str, handler: Callable[..., Any] | None, *args: Any) -> None:
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
    if isinstance(error, Cancelled):
        return cancelled(job, f"cancelled while running: {error}"), None
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


def _context(job: ClaimedTask, worker_id: str, cancel: threading.Event | None) -> TaskContext:
    return TaskContext(
        id=job.id,
        name=job.task_name,
        queue=job.queue,
        attempt=job.attempt,
        retry_count=job.retry_count,
        retry_limit=job.retry_limit,
        worker_id=worker_id,
        cancel_event=cancel or threading.Event(),
    )


def execute(
    app: Workcraft,
    job: ClaimedTask,
    worker_id: str,
    cancel: threading.Event | None = None,
) -> Outcome:
    """Run one task to an outcome in this thread (``async def`` tasks on a new loop).

    Timeouts are the pool's business (a thread cannot be stopped from inside).
    """
    prepared = _prepare(app, job)
    if isinstance(prepared, Outcome):
        return prepared
    call_handler("prerun", app.prerun_handler_fn, job.id, job.task_name)
    started = time.perf_counter()
    with running(_context(job, worker_id, cancel)):
        try:
            value = prepared.func(*prepared.args, **prepared.kwargs)
            if inspect.isawaitable(value):
                value = asyncio.run(_await(value))
            outcome, result = _finish(job, started, value, app=app)
        # SystemExit too: a task calling sys.exit() must end as FAILURE, not kill
        # its worker thread and leave the row RUNNING forever.
        except (Exception, SystemExit) as exc:
            outcome, result = _finish(job, started, error=exc, app=app)
    call_handler(
        "postrun", app.postrun_handler_fn, job.id, job.task_name, result, str(outcome.status)
    )
    return outcome


async def _await(awaitable: Any) -> Any:
    return await awaitable


async def execute_async(
    app: Workcraft,
    job: ClaimedTask,
    worker_id: str,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
) -> Outcome:
    """Like :func:`execute`, for ``async def`` tasks on a shared event loop; a timeout
    really cancels the coroutine."""
    prepared = _prepare(app, job)
    if isinstance(prepared, Outcome):
        return prepared
    call_handler("prerun", app.prerun_handler_fn, job.id, job.task_name)
    started = time.perf_counter()
    with running(_context(job, worker_id, cancel)):
        try:
            coroutine = prepared.func(*prepared.args, **prepared.kwargs)
            value = await asyncio.wait_for(coroutine, timeout)
            outcome, result = _finish(job, started, value, app=app)
        except TimeoutError:
            outcome, result = _finish(job, started, error=task_timeout(timeout), app=app)
        except (Exception, SystemExit) as exc:
            outcome, result = _finish(job, started, error=exc, app=app)
    call_handler(
        "postrun", app.postrun_handler_fn, job.id, job.task_name, result, str(outcome.status)
    )
    return outcome


def task_timeout(seconds: float | None) -> TimeoutError:
    return TimeoutError(f"the task ran longer than its timeout of {seconds:g} s")


def timed_out(app: Workcraft | None, job: ClaimedTask, started: float, seconds: float) -> Outcome:
    """A failure like any other (the task's retry policy applies)."""
    return _finish(job, started, error=task_timeout(seconds), app=app)[0]


def cancelled(job: ClaimedTask, reason: str) -> Outcome:
    return Outcome(job.id, job.attempt, TaskStatus.CANCELLED, error=reason, task_name=job.task_name)


def released(job: ClaimedTask, reason: str) -> Outcome:
    """Give the task back to the queue: its process died under it."""
    return Outcome(job.id, job.attempt, TaskStatus.PENDING, error=reason, task_name=job.task_name)
