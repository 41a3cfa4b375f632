"""The task lifecycle with real peon processes on the real database: send, claim, run,
record, heal. Every wait polls a condition against a deadline."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter

import pytest

from tests.conftest import TEST_DATA_DIR
from tests.helpers import execute, query, scalar, wait_for
from tests.peons import PeonFactory
from workcraft import Workcraft
from workcraft.config import DBConfig


@pytest.fixture
def app(db_config: DBConfig) -> Workcraft:
    return Workcraft(db_config=db_config)


def row(cfg: DBConfig, task_id: str) -> dict[str, object]:
    rows = query(cfg, "SELECT * FROM bountyboard WHERE id = :id", {"id": task_id})
    assert rows, f"no task {task_id}"
    return dict(rows[0]._mapping)


def wait_status(
    cfg: DBConfig, task_id: str, *statuses: str, timeout: float = 30
) -> dict[str, object]:
    def reached() -> dict[str, object] | None:
        current = row(cfg, task_id)
        return current if current["status"] in statuses else None

    return wait_for(
        reached, timeout, message=lambda: f"task never reached {statuses}: {row(cfg, task_id)}"
    )


def executions(cfg: DBConfig, task_id: str) -> int:
    return int(scalar(cfg, "SELECT COUNT(*) FROM side_effects WHERE task_id = :t", {"t": task_id}))


def test_task_runs_and_result_comes_back(app: Workcraft, peons: PeonFactory) -> None:
    peon = peons("basic")
    task_id = app.send_task_sync("add", [2, 3])
    assert app.get_result_sync(task_id, timeout=30) == 5
    done = row(app.db_config, task_id)  # type: ignore[arg-type]
    assert done["status"] == "SUCCESS"
    assert done["worker_id"] == "basic"
    assert done["attempt"] == 1
    assert done["started_at"] is not None and done["finished_at"] >= done["started_at"]  # type: ignore[operator]
    wait_for(lambda: f"task add {task_id} SUCCESS" in peon.log(), 5, message=peon.log)


def test_killed_peon_task_is_rerun_elsewhere(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    victim = peons("victim", "--concurrency=1")
    task_id = app.send_task_sync("sleep_then", [5, "slow"])
    running = wait_status(db_config, task_id, "RUNNING")
    assert running["worker_id"] == "victim"
    rescuer = peons("rescuer", "--concurrency=1")
    victim.signal(signal.SIGKILL)
    victim.wait()

    # No peon touches the victim's row: the database's own events declare it dead
    # and requeue its task, which the rescuer then runs to the end.
    done = wait_status(db_config, task_id, "SUCCESS", timeout=60)
    assert done["worker_id"] == "rescuer"
    assert done["requeue_count"] == 1
    assert done["attempt"] == 2
    assert json.loads(str(done["result"])) == "slow"
    assert scalar(db_config, "SELECT status FROM peon WHERE id = 'victim'") == "OFFLINE"
    assert scalar(db_config, "SELECT COUNT(*) FROM bountyboard WHERE status = 'RUNNING'") == 0
    assert rescuer.alive()


def test_failing_task_is_retried_until_it_succeeds(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    peons("retrier")
    task_id = app.send_task_sync("fail_times", [2], retry_on_failure=True, retry_limit=3)
    assert app.get_result_sync(task_id, timeout=60) == "succeeded after 2 retries"
    done = row(db_config, task_id)
    assert done["retry_count"] == 2
    assert done["attempt"] == 3
    assert "planned failure 2 of 2" in str(done["error"])  # the last failure stays visible


def test_task_that_exhausts_its_retries_ends_failure_with_traceback(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    peons("exhauster")
    task_id = app.send_task_sync("fail_times", [10], retry_on_failure=True, retry_limit=1)

    def exhausted() -> dict[str, object] | None:
        current = row(db_config, task_id)
        return current if current["status"] == "FAILURE" and current["retry_count"] == 1 else None

    failed = wait_for(exhausted, 60, message=lambda: str(row(db_config, task_id)))
    assert "Traceback (most recent call last)" in str(failed["error"])
    assert "RuntimeError: planned failure 2 of 10" in str(failed["error"])
    task = app.get_task_sync(task_id)
    assert task is not None and task.finished


def test_sigterm_lets_the_running_task_finish(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    peon = peons("graceful", "--concurrency=2")
    task_id = app.send_task_sync("sleep_then", [1.5, "finished"])
    wait_status(db_config, task_id, "RUNNING")
    peon.signal(signal.SIGTERM)
    assert peon.wait(timeout=30) == 0
    done = row(db_config, task_id)
    assert done["status"] == "SUCCESS", peon.log()
    assert scalar(db_config, "SELECT status FROM peon WHERE id = 'graceful'") == "OFFLINE"


def test_second_signal_returns_unfinished_task_at_once(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    peon = peons("impatient", "--concurrency=1")
    task_id = app.send_task_sync("sleep_then", [60, "never"])
    wait_status(db_config, task_id, "RUNNING")
    peon.signal(signal.SIGTERM)
    wait_for(lambda: "signal again to stop now" in peon.log(), 10)
    peon.signal(signal.SIGTERM)
    assert peon.wait(timeout=15) == 0
    back = row(db_config, task_id)
    assert back["status"] == "PENDING", peon.log()
    assert back["worker_id"] is None
    assert back["requeue_count"] == 0  # a stop is not a death
    assert scalar(db_config, "SELECT status FROM peon WHERE id = 'impatient'") == "OFFLINE"
    # Nobody else picks it up in this test: cancel it so later tests' peons skip it.
    execute(
        db_config,
        "UPDATE bountyboard SET status = 'CANCELLED' WHERE id = :id",
        params={"id": task_id},
    )


def test_thousand_tasks_two_peons_each_runs_exactly_once(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    ids = [app.send_task_sync("record", [i], queue="bulk") for i in range(1000)]
    first = peons("bulk-1", "--concurrency=4", "--queues=bulk")
    second = peons("bulk-2", "--concurrency=4", "--queues=bulk")

    def all_done() -> bool:
        return scalar(
            db_config,
            "SELECT COUNT(*) FROM bountyboard WHERE queue = 'bulk' AND status = 'SUCCESS'",
        ) == len(ids)

    wait_for(all_done, 120, interval=0.2, message="not every bulk task reached SUCCESS")
    runs = Counter(
        r.task_id
        for r in query(
            db_config,
            "SELECT s.task_id FROM side_effects s JOIN bountyboard b ON b.id = s.task_id "
            "WHERE b.queue = 'bulk'",
        )
    )
    assert set(runs) == set(ids)
    assert max(runs.values()) == 1, [t for t, n in runs.items() if n > 1][:5]
    by_peon = dict(
        query(
            db_config,
            "SELECT worker_id, COUNT(*) FROM bountyboard WHERE queue = 'bulk' GROUP BY worker_id",
        )
    )
    assert set(by_peon) == {"bulk-1", "bulk-2"}  # both did real work
    results = {
        r.id: json.loads(r.result)
        for r in query(db_config, "SELECT id, result FROM bountyboard WHERE queue = 'bulk'")
    }
    assert [results[i] for i in ids] == list(range(1000))
    assert first.alive() and second.alive()


def test_async_tasks_share_the_loop_without_blocking_each_other(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    peons("async", "--concurrency=8")
    ids = [app.send_task_sync("async_nap", [1.0]) for _ in range(6)]
    for task_id in ids:
        assert app.get_result_sync(task_id, timeout=30) == 1.0
    spans = query(
        db_config,
        "SELECT started, ended FROM side_effects WHERE value = 'async' AND task_id IN :ids",
        {"ids": tuple(ids)},
    )
    assert len(spans) == 6
    # All six naps overlapped: the last one started before the first one ended.
    assert max(s.started for s in spans) < min(s.ended for s in spans)


def test_process_pool_runs_tasks_with_setup_in_each_child_and_survives_a_dead_child(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    peon = peons("procs", "--pool=process", "--concurrency=2")
    assert app.get_result_sync(app.send_task_sync("add", [40, 2]), timeout=60) == 42
    assert app.get_result_sync(app.send_task_sync("setup_pid"), timeout=60) is True
    task_id = app.send_task_sync("die_first_time")
    assert app.get_result_sync(task_id, timeout=60) == "survived"
    assert row(db_config, task_id)["requeue_count"] == 1
    assert peon.alive()
    assert app.get_result_sync(app.send_task_sync("add", [1, 1]), timeout=60) == 2


def test_bad_payload_becomes_invalid_and_peon_goes_on(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    peons("tolerant")
    # Not due until it is broken: a peon woken by the send would run it first.
    task_id = app.send_task_sync("add", [1, 2], delay=3600)
    execute(
        db_config,
        "UPDATE bountyboard SET payload = '{\"task_args\": 7}', run_at = NOW(6) WHERE id = :id",
        params={"id": task_id},
    )
    wrong_arity = app.send_task_sync("add", [1, 2, 3])
    invalid = wait_status(db_config, task_id, "INVALID")
    assert "task_args must be a JSON array" in str(invalid["error"])
    arity = wait_status(db_config, wrong_arity, "INVALID")
    assert "arguments do not fit add" in str(arity["error"])
    assert app.get_result_sync(app.send_task_sync("add", [5, 5]), timeout=30) == 10


def test_unregistered_task_stays_pending(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    peons("picky")
    orphan = app.send_task_sync("nobody_has_this", [])
    assert app.get_result_sync(app.send_task_sync("add", [1, 1]), timeout=30) == 2
    assert row(db_config, orphan)["status"] == "PENDING"
    execute(db_config, "DELETE FROM bountyboard WHERE id = :id", params={"id": orphan})


def test_long_task_keeps_its_peon_alive(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    # Dead-peon timeout is 2 s in the test settings; the task runs twice as long.
    peons("steady", "--concurrency=1")
    task_id = app.send_task_sync("sleep_then", [4, "steady"])
    assert app.get_result_sync(task_id, timeout=60) == "steady"
    done = row(db_config, task_id)
    assert done["attempt"] == 1 and done["requeue_count"] == 0
    assert executions(db_config, task_id) == 1


def test_worker_id_in_use_is_refused(peons: PeonFactory) -> None:
    peons("unique-id")
    twin = peons("unique-id", ready=False)
    assert twin.wait(timeout=30) == 2
    assert "in use by a live peon" in twin.log()


def test_restarted_peon_frees_what_its_dead_self_held(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    first = peons("phoenix", "--concurrency=1")
    task_id = app.send_task_sync("sleep_then", [30, "held"])
    wait_status(db_config, task_id, "RUNNING")
    first.signal(signal.SIGKILL)
    first.wait()
    peons("phoenix", "--concurrency=1")  # same id, same host: takes over at once
    wait_for(lambda: "left RUNNING by a previous phoenix" in peons.started[-1].log(), 15)
    rerun = wait_status(db_config, task_id, "RUNNING")
    assert rerun["attempt"] == 2
    execute(
        db_config,
        "UPDATE bountyboard SET status = 'CANCELLED' WHERE id = :id",
        params={"id": task_id},
    )


def _restartable_server(db_server: DBConfig) -> None:
    from workcraft import devdb

    if os.environ.get("WK_TEST_DB_URL"):
        pytest.skip("the test server is external (WK_TEST_DB_URL): not ours to restart")
    info = devdb.status(TEST_DATA_DIR)
    if info is None or info.port != db_server.port:
        pytest.skip("the test server is not the private dev database")


def test_database_restart_while_two_peons_are_busy(
    app: Workcraft, db_config: DBConfig, db_server: DBConfig, peons: PeonFactory
) -> None:
    from workcraft import devdb

    _restartable_server(db_server)
    # The tasks write to the database themselves, so one that runs into the restart
    # fails like any task and is retried: what is tested is that none is lost.
    ids = [
        app.send_task_sync(
            "sleep_then", [0.05, i], queue="restart", retry_on_failure=True, retry_limit=5
        )
        for i in range(300)
    ]
    first = peons("restart-1", "--concurrency=4", "--queues=restart")
    second = peons("restart-2", "--concurrency=4", "--queues=restart")

    def done_count() -> int:
        return int(
            scalar(
                db_config,
                "SELECT COUNT(*) FROM bountyboard WHERE queue = 'restart' AND status = 'SUCCESS'",
            )
        )

    wait_for(lambda: done_count() >= 50, 60, message="peons never got going")
    devdb.stop(TEST_DATA_DIR)
    assert first.alive() and second.alive()
    devdb.start(TEST_DATA_DIR)

    wait_for(
        lambda: done_count() == len(ids),
        120,
        interval=0.25,
        message=lambda: (
            f"only {done_count()} of {len(ids)} finished after the restart: "
            + str(
                query(
                    db_config,
                    "SELECT id, status, worker_id, attempt, LEFT(error, 300) "
                    "FROM bountyboard WHERE queue = 'restart' AND status <> 'SUCCESS'",
                )
            )
        ),
    )
    assert first.alive() and second.alive(), first.log()[-3000:] + second.log()[-3000:]
    assert (
        scalar(
            db_config,
            "SELECT COUNT(*) FROM bountyboard WHERE queue = 'restart' AND status <> 'SUCCESS'",
        )
        == 0
    )
    assert "claim failed (database unavailable)" in first.log() + second.log()


def test_peon_serves_several_queues_given_in_the_seed_list_form(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    peons("multi", '--queues=["first", "second"]')
    ids = [app.send_task_sync("add", [1, n], queue=q) for n, q in enumerate(["second", "first"])]
    assert [app.get_result_sync(i, timeout=30) for i in ids] == [1, 2]
    served = {
        r.queue for r in query(db_config, "SELECT queue FROM bountyboard WHERE worker_id = 'multi'")
    }
    assert served == {"first", "second"}
    assert json.loads(scalar(db_config, "SELECT queues FROM peon WHERE id = 'multi'")) == [
        "first",
        "second",
    ]


def test_sigusr1_prints_every_threads_stack_and_the_peon_goes_on(peons: PeonFactory) -> None:
    peon = peons("stacks")
    dump = peon.stacks()
    assert "Thread 0x" in dump and "_claim_loop" in dump, dump
    assert peon.alive()
