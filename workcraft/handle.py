"""What ``@app.task`` returns: the function, still callable, plus ways to queue it.

@app.task(queue="emails")
def send_welcome(user_id: int) -> None: ...

send_welcome(7)                               # runs here, now
send_welcome.send(7)                          # queued; returns the task id
await send_welcome.launch(7)                  # the same from async code
send_welcome.options(delay=60).send(7)        # with send options
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypedDict, TypeVar, Unpack

from workcraft.config import DBConfig

if TYPE_CHECKING:
    from workcraft.core import Workcraft

__all__ = ["SendOptions", "TaskHandle"]

P = ParamSpec("P")
R = TypeVar("R")


class SendOptions(TypedDict, total=False):
    """The per-send options of ``send_task_sync`` / ``send_task``."""

    queue: str
    retry_on_failure: bool
    retry_limit: int
    db_config: DBConfig
    priority: int
    delay: float | timedelta
    run_at: datetime
    expires: float | timedelta | datetime
    timeout: float
    unique_key: str
    delete_on_success: bool


class TaskHandle(Generic[P, R]):
    """A registered task. Calling it runs the function directly, in this process."""

    def __init__(
        self,
        app: Workcraft,
        name: str,
        func: Callable[P, R],
        send_options: SendOptions | None = None,
    ) -> None:
        self.app = app
        self.name = name
        self.func = func
        self._send_options: SendOptions = send_options or {}
        functools.update_wrapper(self, func)

    def __repr__(self) -> str:
        return f"<task {self.name!r}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.func(*args, **kwargs)

    def options(self, **send_options: Unpack[SendOptions]) -> TaskHandle[P, R]:
        """The same task with these send options (they win over the decorator's)."""
        merged: SendOptions = {**self._send_options, **send_options}
        return TaskHandle(self.app, self.name, self.func, merged)

    def send(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """Queue ``task(*args, **kwargs)``; returns the task id once the row is written."""
        return self.app.send_task_sync(self.name, list(args), kwargs, **self._send_options)

    async def launch(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """:meth:`send` for async code, through the async driver."""
        return await self.app.send_task(self.name, list(args), kwargs, **self._send_options)


def unwrap(func: Any) -> Any:
    """The plain function behind a handle (stacked decorators see handles)."""
    return func.func if isinstance(func, TaskHandle) else func
