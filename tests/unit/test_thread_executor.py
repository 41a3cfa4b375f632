"""``ThreadExecutor``: slot threads start as work needs them, and a task can run in
the caller's thread (a hinted claim's). No database."""

from __future__ import annotations

import json
import threading

import pytest

from tests.helpers import wait_for
from workcraft.core import Workcraft
from workcraft.executors import ThreadExecutor
from workcraft.models import ClaimedTask, Outcome, TaskStatus

app = Workcraft()
gate = threading.Event()


@app.task("blocks")
def blocks() -> str:
    gate.wait(10)
    return threading.current_thread().name


@app.task("where")
def where() -> str:
    return threading.current_thread().name


@app.task("limited", timeout=5)
def limited() -> None:
    return None


@app.task("coroutine")
async def coroutine() -> None:
    return None


def _job(name: str, n: int) -> ClaimedTask:
    payload = json.dumps({"task_args": [], "task_kwargs": {}})
    return ClaimedTask(f"id-{n}", name, "DEFAULT", payload, 1, 0, 0, False)


class _Pool:
    def __init__(self, capacity: int) -> None:
        self.outcomes: list[Outcome] = []
        self.executor = ThreadExecutor(app, "w", capacity, self.outcomes.append)
        self.executor.start()

    def threads(self) -> list[str]:
        # "task-loop" is the event loop's (this app has an async task)
        return sorted(t.name for t in threading.enumerate() if t.name[5:].isdigit())

    def finished(self, count: int) -> list[Outcome]:
        wait_for(lambda: len(self.outcomes) >= count, 10, 0.01, "tasks did not finish")
        return self.outcomes


@pytest.fixture
def pool():  # type: ignore[no-untyped-def]
    gate.clear()
    made = _Pool(capacity=3)
    yield made
    gate.set()
    made.executor.stop(force=False)
    wait_for(lambda: not made.threads(), 10, 0.01, "slot threads did not stop")


def test_no_thread_before_work_and_a_free_one_is_reused(pool: _Pool) -> None:
    assert pool.threads() == []
    for n in range(5):  # one after the other: the one thread takes each
        pool.executor.submit(_job("where", n))
        pool.finished(n + 1)
    assert {o.result_json for o in pool.outcomes} == {'"task-0"'}
    assert pool.threads() == ["task-0"]


def test_threads_grow_with_work_in_flight_up_to_the_capacity(pool: _Pool) -> None:
    for n in range(3):
        pool.executor.submit(_job("blocks", n))
    wait_for(lambda: len(pool.threads()) == 3, 10, 0.01, "three blocked tasks, three threads")
    gate.set()
    pool.finished(3)
    gate.clear()
    for n in range(3, 6):  # all three threads are back: no more are made
        pool.executor.submit(_job("blocks", n))
    # submit() starts any thread it decides on before it returns
    assert pool.threads() == ["task-0", "task-1", "task-2"]
    gate.set()
    assert [o.status for o in pool.finished(6)] == [TaskStatus.SUCCESS] * 6


def test_take_inline_runs_in_the_callers_thread_and_is_in_flight_until_done(
    pool: _Pool,
) -> None:
    run = pool.executor.take_inline(_job("where", 1))
    assert run is not None
    assert [j.id for j in pool.executor.in_flight()] == ["id-1"]  # before it runs
    run()
    assert pool.outcomes[0].result_json == json.dumps(threading.current_thread().name)
    assert pool.executor.in_flight() == [] and pool.threads() == []


@pytest.mark.parametrize("name", ["limited", "coroutine"])
def test_take_inline_leaves_tasks_that_need_their_own_thread(pool: _Pool, name: str) -> None:
    # A timeout is enforced by waiting on the task from another thread; an async
    # task runs on the pool's event loop.
    assert pool.executor.take_inline(_job(name, 1)) is None
    assert pool.executor.in_flight() == []
