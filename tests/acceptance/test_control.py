"""Control over running tasks, with real peons: retry policies, timeouts, cancellation,
pausing queues, expiry."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import query, run_cli, scalar, wait_for, wk_env
from tests.peons import PeonFactory
from workcraft import TaskFailed, TaskStatus, Workcraft
from workcraft.config import DBConfig, Settings

APP = "control_app.app"


@pytest.fixture
def app(db_config: DBConfig) -> Workcraft:
    return Workcraft(db_config=db_config)


def status(app: Workcraft, task_id: str) -> TaskStatus | None:
    return app.status(task_id)


def test_retry_on_limits_retries_to_those_exceptions(app: Workcraft, peons: PeonFactory) -> None:
    peons("policy", workcraft_path=APP)
    ok = app.send_task_sync("flaky_then_ok", [2], retry_on_failure=True, retry_limit=3)
    assert app.get_result_sync(ok, timeout=30) == "ok"
    task = app.get_task_sync(ok)
    assert task is not None and task.retry_count == 2
    attempts = query(
        app.db_config,  # type: ignore[arg-type]
        "SELECT attempt, outcome, error FROM task_attempts WHERE task_id = :t ORDER BY attempt",
        {"t": ok},
    )
    assert [(a.attempt, a.outcome) for a in attempts] == [(1, "RETRY"), (2, "RETRY")]
    assert "flaky 0" in attempts[0].error and "flaky 1" in attempts[1].error

    wrong = app.send_task_sync("wrong_kind", retry_on_failure=True, retry_limit=3)
    with pytest.raises(TaskFailed, match="KeyError"):
        app.get_result_sync(wrong, timeout=30)
    assert app.get_task_sync(wrong).retry_count == 0  # type: ignore[union-attr]


def test_retry_and_discard_raised_by_the_task(app: Workcraft, peons: PeonFactory) -> None:
    peons("raiser", workcraft_path=APP)
    again = app.send_task_sync("asks_to_retry")  # Retry works without retry_on_failure
    assert app.get_result_sync(again, timeout=30) == "second time lucky"
    gone = app.send_task_sync("discards")
    with pytest.raises(TaskFailed, match="input is hopeless"):
        app.get_result_sync(gone, timeout=30)
    assert app.get_task_sync(gone).retry_count == 0  # type: ignore[union-attr]


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_timeout_fails_the_attempt_and_the_peon_goes_on(
    app: Workcraft, peons: PeonFactory, pool: str
) -> None:
    peon = peons(f"timer-{pool}", f"--pool={pool}", "--concurrency=1", workcraft_path=APP)
    task_id = app.send_task_sync("sleepy", [30], timeout=0.5)
    with pytest.raises(TaskFailed, match=r"longer than its timeout of 0\.5 s"):
        app.get_result_sync(task_id, timeout=30)
    # the same peon, its one slot free again, runs the next task
    assert app.get_result_sync(app.send_task_sync("quick", [7]), timeout=30) == 7
    assert peon.alive()


def test_timeout_counts_as_a_failure_for_retries(app: Workcraft, peons: PeonFactory) -> None:
    peons("timer-retry", "--pool=process", "--concurrency=1", workcraft_path=APP)
    # the timeout is the task's own (declared where it is defined, applied by the peon)
    task_id = app.send_task_sync("short_timeout", retry_on_failure=True, retry_limit=1)
    with pytest.raises(TaskFailed, match="timeout"):
        app.get_result_sync(task_id, timeout=60)
    task = app.get_task_sync(task_id)
    assert task is not None and task.retry_count == 1 and task.attempt == 2


def test_async_timeout_really_cancels(app: Workcraft, peons: PeonFactory) -> None:
    peons("timer-async", workcraft_path=APP)
    task_id = app.send_task_sync("async_sleeper", [30], timeout=0.3)
    with pytest.raises(TaskFailed, match="timeout"):
        app.get_result_sync(task_id, timeout=30)


def test_cancel_a_pending_task(app: Workcraft, db_config: DBConfig) -> None:
    task_id = app.send_task_sync("quick", [1], queue="nobody-serves-this")
    assert app.cancel(task_id) == "cancelled"
    assert app.status(task_id) == TaskStatus.CANCELLED
    assert app.cancel(task_id) == "finished: CANCELLED"  # idempotent, changes nothing
    assert app.cancel("no-such-id") == "unknown"


@pytest.mark.parametrize(
    ("pool", "task"),
    [("thread", "polite_sleeper"), ("process", "sleepy"), ("thread", "async_sleeper")],
)
def test_cancel_a_running_task(app: Workcraft, peons: PeonFactory, pool: str, task: str) -> None:
    peon = peons(f"cancel-{pool}-{task}", f"--pool={pool}", "--concurrency=1", workcraft_path=APP)
    task_id = app.send_task_sync(task, [60])
    wait_for(lambda: app.status(task_id) == TaskStatus.RUNNING, 30)
    assert app.cancel(task_id) == "stop_requested"
    wait_for(lambda: app.status(task_id) == TaskStatus.CANCELLED, 30, message=peon.log)
    assert app.get_result_sync(app.send_task_sync("quick", [3]), timeout=30) == 3
    assert app.cancel(task_id) == "finished: CANCELLED"


def test_a_paused_queue_waits(app: Workcraft, peons: PeonFactory) -> None:
    app.pause_queue("held")
    assert "held" in app.paused_queues()
    peons("pausable", "--queues=held,free", workcraft_path=APP)
    held = app.send_task_sync("quick", [1], queue="held")
    free = app.send_task_sync("quick", [2], queue="free")
    assert app.get_result_sync(free, timeout=30) == 2
    assert app.status(held) == TaskStatus.PENDING
    app.resume_queue("held")
    assert app.get_result_sync(held, timeout=30) == 1
    assert "held" not in app.paused_queues()


def test_an_expired_task_never_runs(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    task_id = app.send_task_sync("quick", [1], queue="late", expires=0.2, delay=0.5)
    peons("expirer", "--queues=late", workcraft_path=APP)
    wait_for(lambda: app.status(task_id) == TaskStatus.EXPIRED, 30)
    assert (
        scalar(db_config, "SELECT started_at FROM bountyboard WHERE id = :i", {"i": task_id})
        is None
    )


def test_cli_pause_resume_and_cancel(
    app: Workcraft, db_config: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    env = wk_env(db_config, test_settings, tmp_path)
    paused = run_cli(["pause", "0x10"], env, tmp_path)
    assert paused.returncode == 0, paused
    assert app.paused_queues() == ["0x10"]  # the name as typed, not the number 16
    task_id = app.send_task_sync("quick", [1], queue="0x10")
    cancelled = run_cli(["cancel", task_id], env, tmp_path)
    assert f"{task_id}: cancelled" in cancelled.stdout, cancelled
    again = run_cli(["cancel", task_id], env, tmp_path)
    assert "finished: CANCELLED" in again.stdout, again
    resumed = run_cli(["resume", "0x10"], env, tmp_path)
    assert resumed.returncode == 0 and "paused queues: none" in resumed.stdout, resumed
