"""Without the database's events, the peons keep the system healthy themselves: one
at a time, under a lease row."""

from __future__ import annotations

import signal

from tests.helpers import execute, query, scalar, wait_for
from tests.peons import PeonFactory
from workcraft import Workcraft, doctor
from workcraft.config import DBConfig, Settings

EVENTS = (
    "wc_check_dead_peons",
    "wc_self_correct_tasks",
    "wc_reopen_failed_tasks",
    "wc_purge_history",
)


def _disable_events(cfg: DBConfig) -> None:
    # Only this module's database: the server's global scheduler serves other tests.
    execute(cfg, *(f"ALTER EVENT {name} DISABLE" for name in EVENTS))
    execute(cfg, "UPDATE maintenance SET last_event_at = NULL, last_run_at = NULL")


def test_peons_stand_in_for_disabled_events(
    db_config: DBConfig, test_settings: Settings, peons: PeonFactory
) -> None:
    _disable_events(db_config)
    app = Workcraft(db_config=db_config)
    victim = peons("standin-victim", "--concurrency=1")
    task_id = app.send_task_sync("sleep_then", [3, "rescued"])
    wait_for(
        lambda: (
            scalar(db_config, "SELECT status FROM bountyboard WHERE id = :i", {"i": task_id})
            == "RUNNING"
        ),
        30,
    )
    victim.signal(signal.SIGKILL)
    victim.wait()
    helpers = [peons("standin-a", "--concurrency=1"), peons("standin-b", "--concurrency=1")]

    # The dead peon is declared OFFLINE and its task rerun, with no event enabled.
    assert app.get_result_sync(task_id, timeout=60) == "rescued"
    assert scalar(db_config, "SELECT status FROM peon WHERE id = 'standin-victim'") == "OFFLINE"
    # Peons ran every job (the victim too, while it lived); its death was noticed by a
    # survivor, under the lease.
    runners = dict(query(db_config, "SELECT name, last_run_by FROM maintenance"))
    assert set(runners.values()) <= {"standin-victim", "standin-a", "standin-b"}, runners
    wait_for(
        lambda: (
            scalar(db_config, "SELECT last_run_by FROM maintenance WHERE name = 'check_dead_peons'")
            in {"standin-a", "standin-b"}
        ),
        30,
    )
    assert all(
        r.last_event_at is None for r in query(db_config, "SELECT last_event_at FROM maintenance")
    )
    assert any("peons run it instead" in p.log() for p in helpers)

    # verify tells the operator that the events are not doing the work.
    checks = {c.name: c for c in doctor.run_checks(db_config, test_settings)}
    assert checks["event wc_check_dead_peons"].outcome == "fail"


def test_failed_task_is_retried_without_events(db_config: DBConfig, peons: PeonFactory) -> None:
    _disable_events(db_config)
    app = Workcraft(db_config=db_config)
    peons("standin-retry")
    task_id = app.send_task_sync("fail_times", [1], retry_on_failure=True, retry_limit=2)
    assert app.get_result_sync(task_id, timeout=60) == "succeeded after 1 retries"
