"""Tasks the acceptance tests run in real peons. Each records its executions in the
`side_effects` table so tests can count how often a body really ran."""

from __future__ import annotations

import asyncio
import os
import time

from sqlalchemy import text

from workcraft import Workcraft, current_task, get_db_config
from workcraft.db import connect

app = Workcraft()
SETUP_MARKER = {"pid": None}


def _record(value: object, started: float | None = None) -> None:
    ctx = current_task()
    with connect(get_db_config()) as conn:
        conn.execute(
            text(
                "INSERT INTO side_effects (task_id, attempt, worker, pid, value, started, ended) "
                "VALUES (:t, :a, :w, :p, :v, :s, :e)"
            ),
            {
                "t": ctx.id,
                "a": ctx.attempt,
                "w": ctx.worker_id,
                "p": os.getpid(),
                "v": str(value),
                "s": started,
                "e": time.time(),
            },
        )


@app.setup_handler()
def setup() -> None:
    SETUP_MARKER["pid"] = os.getpid()


@app.task("add")
def add(a: int, b: int) -> int:
    return a + b


@app.task("record")
def record(n: int) -> int:
    _record(n)
    return n


@app.task("sleep_then")
def sleep_then(seconds: float, value: object = None) -> object:
    started = time.time()
    _record(f"start {value}", started)
    time.sleep(seconds)
    return value


@app.task("fail_times")
def fail_times(times: int) -> str:
    retry = current_task().retry_count
    if retry < times:
        raise RuntimeError(f"planned failure {retry + 1} of {times}")
    return f"succeeded after {retry} retries"


@app.task("async_nap")
async def async_nap(seconds: float) -> float:
    started = time.time()
    await asyncio.sleep(seconds)
    _record("async", started)
    return seconds


@app.task("die_first_time")
def die_first_time() -> str:
    if current_task().attempt == 1:
        os._exit(3)  # the child process dies mid-task
    return "survived"


@app.task("setup_pid")
def setup_pid() -> bool:
    return SETUP_MARKER["pid"] == os.getpid()


@app.task("chaos_step")
def chaos_step(n: int) -> int:
    _record(n)
    time.sleep(0.005)
    return 2 * n
