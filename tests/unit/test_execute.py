"""``workcraft.execute.execute``: one claimed task to one Outcome, no database."""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from loguru import logger

from workcraft.context import TaskContext, current_task
from workcraft.core import Workcraft
from workcraft.execute import execute
from workcraft.models import ClaimedTask, Outcome, TaskStatus

TASK_ID = "0190f5d2-7a3b-7c1d-8e2f-0123456789ab"


def _job(
    task_name: str = "simple_task",
    payload: str | None = None,
    *,
    args: list[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    attempt: int = 1,
    retry_count: int = 0,
    retry_limit: int = 3,
    queue: str = "DEFAULT",
) -> ClaimedTask:
    if payload is None:
        payload = json.dumps(
            {
                "task_args": [1, 2] if args is None else args,
                "task_kwargs": {"c": 3} if kwargs is None else kwargs,
            }
        )
    return ClaimedTask(
        id=TASK_ID,
        task_name=task_name,
        queue=queue,
        payload=payload,
        attempt=attempt,
        retry_count=retry_count,
        retry_limit=retry_limit,
        retry_on_failure=True,
    )


@pytest.fixture
def app() -> Workcraft:
    app = Workcraft()

    @app.task("simple_task")
    def simple_task(a: int, b: int, c: int) -> int:
        return a + b + c

    return app


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Everything loguru logs while the test runs (message plus any traceback)."""
    lines: list[str] = []
    # The package silences its own logs (logger.disable in workcraft/__init__.py).
    logger.enable("workcraft")
    sink_id = logger.add(lines.append, level="DEBUG", format="{level} {message}\n{exception}")
    try:
        yield lines
    finally:
        logger.remove(sink_id)
        logger.disable("workcraft")


# ------------------------------------------------------------------ outcomes


def test_success_records_the_result_as_json(app: Workcraft) -> None:
    outcome = execute(app, _job(args=[1, 2], kwargs={"c": 39}), "w1")
    assert isinstance(outcome, Outcome)
    assert outcome.status == TaskStatus.SUCCESS
    assert outcome.task_id == TASK_ID
    assert outcome.attempt == 1
    assert outcome.task_name == "simple_task"
    assert json.loads(outcome.result_json or "null") == 42
    assert outcome.error is None
    assert outcome.duration >= 0


def test_structured_result_round_trips_through_json(app: Workcraft) -> None:
    @app.task("structured")
    def structured() -> dict[str, Any]:
        return {"name": "队列", "items": [1, 2.5, None, True], "nested": {"k": "v"}}

    outcome = execute(app, _job("structured", args=[], kwargs={}), "w1")
    assert outcome.status == TaskStatus.SUCCESS
    assert json.loads(outcome.result_json or "null") == {
        "name": "队列",
        "items": [1, 2.5, None, True],
        "nested": {"k": "v"},
    }


def test_task_that_raises_is_a_failure_with_its_traceback(app: Workcraft) -> None:
    @app.task("boom")
    def boom(x: int) -> None:
        raise ValueError(f"boom with {x}")

    outcome = execute(app, _job("boom", args=[7], kwargs={}, attempt=2), "w1")
    assert outcome.status == TaskStatus.FAILURE
    assert outcome.attempt == 2
    assert outcome.result_json is None
    assert outcome.error is not None
    assert "Traceback (most recent call last)" in outcome.error
    assert "ValueError: boom with 7" in outcome.error
    assert "in boom" in outcome.error  # the frame of the task itself


def test_result_that_is_not_json_serializable_is_a_clear_failure(app: Workcraft) -> None:
    @app.task("returns_set")
    def returns_set() -> set[int]:
        return {1, 2, 3}

    outcome = execute(app, _job("returns_set", args=[], kwargs={}), "w1")
    assert outcome.status == TaskStatus.FAILURE
    assert outcome.result_json is None
    assert outcome.error is not None
    assert "the task returned a set, which is not JSON-serializable" in outcome.error
    assert "return plain data" in outcome.error


def test_result_nan_is_refused_rather_than_stored_as_invalid_json(app: Workcraft) -> None:
    @app.task("returns_nan")
    def returns_nan() -> float:
        return float("nan")

    outcome = execute(app, _job("returns_nan", args=[], kwargs={}), "w1")
    assert outcome.status == TaskStatus.FAILURE
    assert outcome.error is not None
    assert "the task returned a float, which is not JSON-serializable" in outcome.error


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("{not json", "payload is not valid JSON"),
        ('{"task_args": "1, 2", "task_kwargs": {}}', "payload task_args must be a JSON array"),
        ('{"task_args": {"a": 1}, "task_kwargs": {}}', "payload task_args must be a JSON array"),
        ('{"task_args": [1, 2], "task_kwargs": [3]}', "payload task_kwargs must be a JSON object"),
        ("[1, 2, 3]", "payload must be a JSON object, got list"),
    ],
)
def test_bad_payload_is_invalid_with_the_reason(app: Workcraft, payload: str, reason: str) -> None:
    called: list[Any] = []
    app.prerun_handler()(lambda *a: called.append(a))
    outcome = execute(app, _job(payload=payload), "w1")
    assert outcome.status == TaskStatus.INVALID
    assert outcome.error is not None
    assert reason in outcome.error
    assert outcome.result_json is None
    assert outcome.task_id == TASK_ID
    assert outcome.attempt == 1
    assert called == []  # the task was never started


@pytest.mark.parametrize(
    ("args", "kwargs", "detail"),
    [
        ([1], {}, "missing a required argument: 'b'"),
        ([1, 2, 3, 4], {}, "too many positional arguments"),
        ([1, 2], {"c": 3, "d": 4}, "unexpected keyword argument 'd'"),
    ],
)
def test_wrong_arguments_are_invalid_naming_the_signature(
    app: Workcraft, args: list[Any], kwargs: dict[str, Any], detail: str
) -> None:
    outcome = execute(app, _job(args=args, kwargs=kwargs), "w1")
    assert outcome.status == TaskStatus.INVALID
    assert outcome.error is not None
    signature = inspect.signature(app.tasks["simple_task"])
    assert f"arguments do not fit simple_task{signature}" in outcome.error
    assert detail in outcome.error


def test_unregistered_task_is_invalid(app: Workcraft) -> None:
    outcome = execute(app, _job("nobody_registered_me"), "w1")
    assert outcome.status == TaskStatus.INVALID
    assert "no task named 'nobody_registered_me'" in (outcome.error or "")


def test_async_task_succeeds(app: Workcraft) -> None:
    @app.task("async_add")
    async def async_add(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    outcome = execute(app, _job("async_add", args=[20, 22], kwargs={}), "w1")
    assert outcome.status == TaskStatus.SUCCESS
    assert json.loads(outcome.result_json or "null") == 42


def test_async_task_that_raises_is_a_failure(app: Workcraft) -> None:
    @app.task("async_boom")
    async def async_boom() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("async went wrong")

    outcome = execute(app, _job("async_boom", args=[], kwargs={}), "w1")
    assert outcome.status == TaskStatus.FAILURE
    assert "RuntimeError: async went wrong" in (outcome.error or "")


def test_task_calling_sys_exit_is_a_failure_not_an_escape(app: Workcraft) -> None:
    @app.task("exits")
    def exits() -> None:
        sys.exit(3)

    outcome = execute(app, _job("exits", args=[], kwargs={}), "w1")
    assert outcome.status == TaskStatus.FAILURE
    assert "SystemExit" in (outcome.error or "")


# ------------------------------------------------------------------- context


def test_current_task_inside_a_task(app: Workcraft) -> None:
    seen: list[TaskContext] = []

    @app.task("introspect")
    def introspect() -> dict[str, Any]:
        ctx = current_task()
        seen.append(ctx)
        return {"id": ctx.id, "attempt": ctx.attempt, "retry_count": ctx.retry_count}

    job = _job(
        "introspect", args=[], kwargs={}, attempt=3, retry_count=2, retry_limit=5, queue="emails"
    )
    outcome = execute(app, job, "peon-7")
    assert outcome.status == TaskStatus.SUCCESS
    assert json.loads(outcome.result_json or "null") == {
        "id": TASK_ID,
        "attempt": 3,
        "retry_count": 2,
    }
    assert seen == [
        TaskContext(
            id=TASK_ID,
            name="introspect",
            queue="emails",
            attempt=3,
            retry_count=2,
            retry_limit=5,
            worker_id="peon-7",
        )
    ]


def test_current_task_inside_an_async_task(app: Workcraft) -> None:
    @app.task("async_introspect")
    async def async_introspect() -> str:
        await asyncio.sleep(0)
        return current_task().worker_id

    outcome = execute(app, _job("async_introspect", args=[], kwargs={}), "peon-async")
    assert outcome.status == TaskStatus.SUCCESS
    assert json.loads(outcome.result_json or "null") == "peon-async"


def test_current_task_outside_a_task_raises() -> None:
    with pytest.raises(RuntimeError, match="only available inside a task"):
        current_task()


def test_current_task_is_cleared_after_the_task_even_when_it_raised(app: Workcraft) -> None:
    @app.task("fails")
    def fails() -> None:
        current_task()
        raise KeyError("x")

    assert execute(app, _job("fails", args=[], kwargs={}), "w1").status == TaskStatus.FAILURE
    with pytest.raises(RuntimeError):
        current_task()


# ------------------------------------------------------------------ handlers


def test_prerun_and_postrun_handlers_get_the_seed_arguments(app: Workcraft) -> None:
    calls: list[tuple[str, tuple[Any, ...]]] = []

    @app.prerun_handler()
    def prerun(task_id: str, task_name: str) -> None:
        calls.append(("prerun", (task_id, task_name)))

    @app.postrun_handler()
    def postrun(task_id: str, task_name: str, result: Any, status: str) -> None:
        calls.append(("postrun", (task_id, task_name, result, status)))

    outcome = execute(app, _job(args=[1, 2], kwargs={"c": 3}), "w1")
    assert outcome.status == TaskStatus.SUCCESS
    assert calls == [
        ("prerun", (TASK_ID, "simple_task")),
        ("postrun", (TASK_ID, "simple_task", 6, "SUCCESS")),
    ]
    assert type(calls[1][1][3]) is str  # the seed compares status to plain strings


def test_postrun_handler_sees_failure_status_and_no_result(app: Workcraft) -> None:
    calls: list[tuple[Any, ...]] = []
    app.postrun_handler()(lambda *a: calls.append(a))

    @app.task("boom")
    def boom() -> None:
        raise ValueError("nope")

    execute(app, _job("boom", args=[], kwargs={}), "w1")
    assert calls == [(TASK_ID, "boom", None, "FAILURE")]


def test_raising_prerun_handler_is_logged_and_the_task_still_succeeds(
    app: Workcraft, log_lines: list[str]
) -> None:
    @app.prerun_handler()
    def prerun(task_id: str, task_name: str) -> None:
        raise RuntimeError("prerun exploded")

    outcome = execute(app, _job(), "w1")
    assert outcome.status == TaskStatus.SUCCESS
    assert json.loads(outcome.result_json or "null") == 6
    logged = "".join(log_lines)
    assert "prerun handler failed" in logged
    assert "prerun exploded" in logged


def test_raising_postrun_handler_is_logged_and_the_outcome_is_still_success(
    app: Workcraft, log_lines: list[str]
) -> None:
    @app.postrun_handler()
    def postrun(task_id: str, task_name: str, result: Any, status: str) -> None:
        raise RuntimeError("postrun exploded")

    outcome = execute(app, _job(), "w1")
    assert outcome.status == TaskStatus.SUCCESS
    assert json.loads(outcome.result_json or "null") == 6
    logged = "".join(log_lines)
    assert "postrun handler failed" in logged
    assert "postrun exploded" in logged


def test_arguments_are_checked_again_for_a_shape_not_seen_before(app: Workcraft) -> None:
    # Shapes that bound are remembered (the sender's check and the peon's share them):
    # a fitting call must not let a different, misfitting one through.
    assert execute(app, _job(args=[1, 2], kwargs={"c": 3}), "w1").status == TaskStatus.SUCCESS
    assert execute(app, _job(args=[1, 2], kwargs={"c": 3}), "w1").status == TaskStatus.SUCCESS
    outcome = execute(app, _job(args=[1, 2], kwargs={"d": 3}), "w1")
    assert outcome.status == TaskStatus.INVALID
    assert outcome.error is not None and "missing a required argument: 'c'" in outcome.error
