"""What a running task may ask about itself: ``current_task()``.

Tasks are called with exactly the arguments that were sent. A task that needs its
own id, attempt or retry count asks for them here, explicitly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["TaskContext", "current_task"]


@dataclass(frozen=True)
class TaskContext:
    id: str
    name: str
    queue: str
    attempt: int
    retry_count: int
    retry_limit: int
    worker_id: str


_current: ContextVar[TaskContext | None] = ContextVar("workcraft_task", default=None)


def current_task() -> TaskContext:
    """The task this code runs in. Raises RuntimeError outside a task run by a peon."""
    context = _current.get()
    if context is None:
        raise RuntimeError("current_task() is only available inside a task run by a peon")
    return context


@contextmanager
def running(context: TaskContext) -> Iterator[None]:
    token = _current.set(context)
    try:
        yield
    finally:
        _current.reset(token)
