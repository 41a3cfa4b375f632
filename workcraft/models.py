"""The shapes of rows and outcomes that move between the database and Python."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = ["ClaimedTask", "Outcome", "PeonStatus", "Task", "TaskStatus"]


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
    created_at: datetime
    updated_at: datetime
    run_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        """True when nothing more will happen to the task by itself."""
        if self.status == TaskStatus.FAILURE:
            return not (self.retry_on_failure and self.retry_count < self.retry_limit)
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


@dataclass
class Outcome:
    """The result of one attempt, waiting to be written back (fenced by attempt)."""

    task_id: str
    attempt: int
    status: TaskStatus
    result_json: str | None = None
    error: str | None = None
    task_name: str = ""
    duration: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
