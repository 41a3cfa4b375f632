"""Tasks for `make demo` (examples/demo.py runs two peons on this module)."""

import asyncio
import random
import time

from workcraft import Workcraft, current_task

app = Workcraft()


@app.task("add")
def add(a: int, b: int) -> int:
    return a + b


@app.task("slow_square")
def slow_square(x: int) -> int:
    time.sleep(random.uniform(0.2, 0.6))
    return x * x


@app.task("flaky")
def flaky(label: str) -> str:
    # Fails on its first two tries; the database reopens it after a backoff.
    retry = current_task().retry_count
    if retry < 2:
        raise ConnectionError(f"{label}: upstream not ready (try {retry + 1})")
    return f"{label}: ok after {retry} retries"


@app.task("fetch_async")
async def fetch_async(name: str, seconds: float) -> str:
    await asyncio.sleep(seconds)  # many of these share one event loop
    return f"fetched {name}"


@app.task("always_fails")
def always_fails() -> None:
    raise ValueError("this task is meant to fail: see its traceback in the table")
