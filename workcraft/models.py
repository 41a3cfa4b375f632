"""The shapes of rows and outcomes that move between the database and Python."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

__all__ = ["ClaimedTask", "NewTask", "Outcome", "PeonStatus", "Task", "TaskOptions", "TaskStatus"]


class TaskStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    INVALID = "INVALID"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


class PeonStatus(StrEnum):
    IDLE = "IDLE"
    PREPARING = "PREPARING"
    WORKING = "WORKING"
    OFFLINE = "OFFLINE"


@dataclass(frozen=True)
class Task:
    """One bountyboard row, decoded."""

    id: str
    task_name: str
    status: TaskStatus
    queue: str
    priority: int
    args: list[Any]
    kwargs: dict[str, Any]
    result: Any
    error: str | None
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

    @property
    def finished(self) -> bool:
        """True when nothing more will happen to the task by itself."""
        if self.status == TaskStatus.FAILURE:
            # the database's reopen event may still retry a failure no peon decided on
            retry_left = self.retry_on_failure and self.retry_count < self.retry_limit
            return self.retry_stopped or not retry_left
        return self.status in _FINAL

    @property
    def duration(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


_FINAL = frozenset(
    {TaskStatus.SUCCESS, TaskStatus.INVALID, TaskStatus.CANCELLED, TaskStatus.EXPIRED}
)


@dataclass(frozen=True)
class ClaimedTask:
    """What a peon needs to run a task it has just claimed."""

    id: str
    task_name: str
    queue: str
    payload: str | None
    attempt: int
    retry_count: int
    retry_limit: int
    retry_on_failure: bool
    timeout_seconds: float | None = None
    delete_on_success: bool = False


@dataclass
class Outcome:
    """The result of one attempt, waiting to be written back (fenced by attempt).

    ``status`` is what the attempt came to: SUCCESS, FAILURE, INVALID, CANCELLED, or
    PENDING for "give it back, its process died". A FAILURE with ``retry`` set goes
    back to PENDING to run again after ``retry_after`` seconds (None: the default
    exponential backoff).
    """

    task_id: str
    attempt: int
    status: TaskStatus
    result_json: str | None = None
    error: str | None = None
    task_name: str = ""
    duration: float = 0.0
    retry: bool = False
    retry_after: float | None = None
    retry_count: int = 0  # of the attempt, for the default backoff
    delete_on_success: bool = False


@dataclass(frozen=True)
class TaskOptions:
    """What a task declares in ``@app.task(...)``: defaults for each send of it (the
    send's own arguments win) and how the peon treats its failures."""

    queue: str | None = None
    priority: int | None = None
    retry_on_failure: bool | None = None
    retry_limit: int | None = None
    # only these exceptions are retried (None: any exception)
    retry_on: tuple[type[BaseException], ...] | None = None
    # seconds before each retry: fixed, or a function of retry_count (0 for the first)
    backoff: float | Callable[[int], float] | None = None
    timeout: float | None = None
    expires: float | None = None
    delete_on_success: bool | None = None


class NewTask(NamedTuple):
    """A validated row about to be inserted (a tuple: bulk sends make them by the
    hundred thousand)."""

    id: str
    task_name: str
    queue: str
    payload: str
    priority: int
    retry_on_failure: bool
    retry_limit: int
    delay_us: int
    expires_us: int | None
    timeout_seconds: float | None
    unique_key: str | None
    delete_on_success: bool
