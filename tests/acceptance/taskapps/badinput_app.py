"""Tasks for the bad-input catalogue (tests/badinput) and the security tests.

Peons load ``badinput_app.app``. The tasks return what a careless task returns
(sets, objects, huge strings) and carry names that look like SQL.
"""

from __future__ import annotations

import time

from workcraft import Workcraft, current_task

app = Workcraft()

# Names a user may legally choose: quotes, semicolons, SQL comments, unicode, braces
# (loguru format fields) and backticks. Every statement binds them as parameters.
SQL_TASK_NAME = "weird'; DROP TABLE bountyboard; -- {x} {}"
UNICODE_TASK_NAME = 'задача ✓ "q" `tick` 名前'


@app.task("add")
def add(a: int, b: int) -> int:
    return a + b


@app.task("no_args")
def no_args() -> str:
    return "ran without arguments"


@app.task("describe")
def describe(*args: object, **kwargs: object) -> dict[str, object]:
    return {"args": list(args), "kwargs": kwargs}


@app.task("length")
def length(text: str) -> int:
    return len(text)


@app.task("return_set")
def return_set() -> set[int]:
    return {1, 2, 3}


@app.task("return_object")
def return_object() -> object:
    return object()


@app.task("return_nan")
def return_nan() -> float:
    return float("nan")


@app.task("return_big")
def return_big(size: int) -> str:
    return "x" * size


@app.task("fail_times")
def fail_times(times: int) -> str:
    retry = current_task().retry_count
    if retry < times:
        raise RuntimeError(f"planned failure {retry + 1} of {times}")
    return f"succeeded after {retry} retries"


@app.task("sleep_then")
def sleep_then(seconds: float, value: object = None) -> object:
    time.sleep(seconds)
    return value


@app.task("whoami")
def whoami() -> dict[str, str]:
    ctx = current_task()
    return {"worker": ctx.worker_id, "queue": ctx.queue, "name": ctx.name}


@app.task(SQL_TASK_NAME)
def sql_named(value: str) -> str:
    return value


@app.task(UNICODE_TASK_NAME)
def unicode_named(value: str) -> str:
    return value[::-1]
