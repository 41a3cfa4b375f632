"""Tasks for the control tests: retry policies, timeouts, cancellation."""

from __future__ import annotations

import asyncio
import os
import threading
import time

from workcraft import Workcraft, current_task
from workcraft.errors import Discard, Retry

app = Workcraft()


class Flaky(Exception):
    pass


@app.task("quick")
def quick(x: int) -> int:
    return x


@app.task("flaky_then_ok", retry_on=Flaky, backoff=0.1)
def flaky_then_ok(times: int) -> str:
    if current_task().retry_count < times:
        raise Flaky(f"flaky {current_task().retry_count}")
    return "ok"


@app.task("wrong_kind", retry_on=Flaky, backoff=0.1)
def wrong_kind() -> None:
    raise KeyError("not a Flaky: no retry")


@app.task("asks_to_retry")
def asks_to_retry() -> str:
    if current_task().retry_count == 0:
        raise Retry(after=0.2, reason="not yet")
    return "second time lucky"


@app.task("discards", retry_on_failure=True, retry_limit=5)
def discards() -> None:
    raise Discard("input is hopeless")


@app.task("sleepy")
def sleepy(seconds: float) -> str:
    time.sleep(seconds)
    return "woke"


@app.task("polite_sleeper")
def polite_sleeper(seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        current_task().raise_if_cancelled()
        time.sleep(0.05)
    return "finished"


@app.task("async_sleeper")
async def async_sleeper(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "woke"


@app.task("short_timeout", timeout=0.5, backoff=0.1)
def short_timeout() -> str:
    time.sleep(30)
    return "never"


@app.task("thread_name")
def thread_name(wait_for_path: str = "") -> str:
    """The name of the thread that ran it, once ``wait_for_path`` exists."""
    deadline = time.monotonic() + 30
    while wait_for_path and not os.path.exists(wait_for_path) and time.monotonic() < deadline:
        time.sleep(0.01)
    return threading.current_thread().name
