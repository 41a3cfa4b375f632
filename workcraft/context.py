"""What a running task may ask about itself: ``current_task()``.

Tasks are called with exactly the arguments that were sent. A task that needs its
own id, attempt or retry count asks for them here, explicitly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from workcraft.errors import Cancelled

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
    # set when someone cancels the running task, or its timeout passed
    cancel_event: threading.Event = field(
        default_factory=threading.Event, repr=False, compare=False
    )

    @property
    def cancelled(self) -> bool:
        """True once the task was asked to stop (``cancel()``, or its timeout)."""
        return self.cancel_event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`~workcraft.errors.Cancelled` if the task was asked to stop:
        call it between steps of a long task; the task then ends CANCELLED."""
        if self.cancel_event.is_set():
            raise Cancelled(f"task {self.id} was cancelled")


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
