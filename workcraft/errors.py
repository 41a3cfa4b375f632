"""Exceptions a workcraft user may catch."""

from __future__ import annotations

__all__ = ["ResultTimeout", "TaskFailed", "WorkcraftError"]


class WorkcraftError(Exception):
    """Base class for workcraft's own errors."""


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
