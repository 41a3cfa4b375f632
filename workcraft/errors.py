"""Exceptions a workcraft user may catch."""

from __future__ import annotations

from datetime import timedelta

__all__ = [
    "Cancelled",
    "DevDBError",
    "Discard",
    "ResultTimeout",
    "Retry",
    "TaskFailed",
    "WorkcraftError",
]


class WorkcraftError(Exception):
    """Base class for workcraft's own errors."""


class DevDBError(RuntimeError):
    """The development database (``python -m workcraft devdb``) could not be found,
    started, reached or stopped."""


class TaskFailed(WorkcraftError):
    """The task ended without a result. ``remote_traceback`` is the peon's traceback."""

    def __init__(self, task_id: str, status: str, remote_traceback: str | None) -> None:
        last_line = (remote_traceback or "").strip().splitlines()[-1:] or ["no error recorded"]
        super().__init__(f"task {task_id} ended {status}: {last_line[0]}")
        self.task_id = task_id
        self.status = status
        self.remote_traceback = remote_traceback

    def __str__(self) -> str:
        text = super().__str__()
        if self.remote_traceback:
            return f"{text}\n\nremote traceback:\n{self.remote_traceback.rstrip()}"
        return text


class ResultTimeout(WorkcraftError, TimeoutError):
    """``get_result`` waited longer than its timeout; the task may still finish."""


class Retry(WorkcraftError):
    """Raise in a task to run it again later, on purpose: ``raise Retry(after=30)``.

    It counts as a retry (``retry_count`` goes up, ``retry_limit`` bounds it) whether
    or not the task was sent with ``retry_on_failure``; ``after`` (seconds or a
    timedelta) replaces the backoff for this one retry.
    """

    def __init__(self, after: float | timedelta | None = None, reason: str = "") -> None:
        seconds = after.total_seconds() if isinstance(after, timedelta) else after
        if seconds is not None and seconds < 0:
            raise ValueError(f"Retry(after=...) must not be negative, got {seconds}")
        super().__init__(reason or "retry requested by the task")
        self.after = seconds
        self.reason = reason


class Discard(WorkcraftError):
    """Raise in a task to stop it for good, without retries: ``raise Discard("why")``."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason or "discarded by the task")
        self.reason = reason


class Cancelled(WorkcraftError):
    """Raised by ``current_task().raise_if_cancelled()``; the task ends CANCELLED."""
