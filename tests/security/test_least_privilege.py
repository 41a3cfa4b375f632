"""Apps and peons under an account that can only use the tables (README, "Least-privilege
accounts"): everything at run time works, including the peons standing in for disabled
events; nothing that changes the schema does, and the errors say to use an admin."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from tests.badinput.support import (
    Spawner,
    assert_no_traceback,
    assert_peon_healthy,
    error_lines,
    row,
    wait_status,
)
from tests.helpers import execute, query, run_cli, scalar, temporary_user, wait_for, wk_env
from workcraft import Workcraft, db, doctor
from workcraft.config import DBConfig, Settings
from workcraft.schema import SchemaError, setup_database

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNTIME_GRANTS = "SELECT, INSERT, UPDATE, DELETE, EXECUTE"
EVENTS = (
    "wc_check_dead_peons",
    "wc_self_correct_tasks",
    "wc_reopen_failed_tasks",
    "wc_purge_history",
)
WORKCRAFT_TABLES = {"bountyboard", "peon", "logs", "maintenance", "workcraft_schema"}


@pytest.fixture(scope="module")
def account(db_server: DBConfig, db_config: DBConfig) -> Iterator[DBConfig]:
    """The README's app/peon account, on this module's (admin-set-up) database."""
    with temporary_user(db_server, db_config.database, privileges=RUNTIME_GRANTS) as cfg:
        yield cfg


@pytest.fixture
def env(account: DBConfig, test_settings: Settings, tmp_path: Path) -> dict[str, str]:
    return wk_env(account, test_settings, tmp_path)


@pytest.fixture
def app(account: DBConfig) -> Workcraft:
    return Workcraft(db_config=account)


def _grants(account: DBConfig) -> list[str]:
    return [str(r[0]) for r in query(account, "SHOW GRANTS")]


def test_the_account_holds_exactly_the_runtime_grants(account: DBConfig) -> None:
    lines = [g for g in _grants(account) if " ON `" in g]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"GRANT {RUNTIME_GRANTS} ON `{account.database}`.*"), lines


def test_tasks_run_and_failures_are_retried_by_the_events(
    app: Workcraft, account: DBConfig, env: dict[str, str], spawn: Spawner
) -> None:
    peon = spawn(account, env, "lp-worker")
    assert app.get_result_sync(app.send_task_sync("add", [2, 3]), timeout=30) == 5
    retried = app.send_task_sync("fail_times", [1], retry_on_failure=True, retry_limit=2)
    assert app.get_result_sync(retried, timeout=30) == "succeeded after 1 retries"
    assert row(account, retried)["retry_count"] == 1
    assert "denied" not in peon.log()
    assert_peon_healthy(app, peon)


def test_a_killed_peons_task_is_rescued(
    app: Workcraft, account: DBConfig, env: dict[str, str], spawn: Spawner
) -> None:
    victim = spawn(account, env, "lp-victim", "--queues=lp-rescue", "--concurrency=1")
    task_id = app.send_task_sync("sleep_then", [1.5, "rescued"], queue="lp-rescue")
    assert wait_status(account, task_id, "RUNNING")["worker_id"] == "lp-victim"
    victim.signal(signal.SIGKILL)
    victim.wait()
    rescuer = spawn(account, env, "lp-rescuer", "--queues=lp-rescue", "--concurrency=1")
    assert app.get_result_sync(task_id, timeout=30) == "rescued"
    done = row(account, task_id)
    assert (done["worker_id"], done["requeue_count"]) == ("lp-rescuer", 1)
    assert scalar(account, "SELECT status FROM peon WHERE id = 'lp-victim'") == "OFFLINE"
    assert_peon_healthy(app, rescuer, queue="lp-rescue")


def test_the_account_cannot_change_the_schema(
    account: DBConfig, env: dict[str, str], test_settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(SchemaError) as info:
        setup_database(account, test_settings)
    assert "Run setup as an admin account" in str(info.value)
    assert account.user in str(info.value)

    result = run_cli(["setup_database_tables"], env, tmp_path)
    assert result.returncode == 2, result
    assert_no_traceback(result.output)
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "admin" in lines[0], result

    for statement in (
        "DROP TABLE bountyboard",
        "TRUNCATE TABLE bountyboard",
        "ALTER TABLE bountyboard ADD COLUMN evil INT",
        "CREATE TABLE evil (id INT)",
        "DROP PROCEDURE wc_self_correct_tasks_v1",
        "ALTER EVENT wc_check_dead_peons DISABLE",
    ):
        with pytest.raises(pymysql.err.Error) as refused:
            execute(account, statement)
        assert db.error_code(refused.value) in {1142, 1044, 1370}, (statement, refused.value)
    tables = {str(r[0]) for r in query(account, "SHOW TABLES")}
    assert tables >= WORKCRAFT_TABLES and "evil" not in tables


def test_verify_as_the_account_warns_about_setup_privileges_only(
    account: DBConfig, test_settings: Settings
) -> None:
    checks = {c.name: c for c in doctor.run_checks(account, test_settings)}
    assert checks["connection"].outcome == "ok"
    assert checks["schema"].outcome == "ok"
    runtime = checks["privileges (peons, apps)"]
    assert runtime.outcome == "ok", runtime
    setup = checks["privileges (setup)"]
    assert setup.outcome == "warn", setup
    assert "CREATE" in setup.detail and "EVENT" in setup.detail
    assert "setup_database_tables needs an admin" in setup.detail


def test_verify_as_the_account_does_not_report_the_events_missing(
    account: DBConfig, test_settings: Settings
) -> None:
    checks = doctor.run_checks(account, test_settings)
    failing = [c for c in checks if c.outcome == "fail"]
    assert not failing, failing


def test_the_readme_lists_the_grants_that_work() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Least-privilege accounts", 1)[1].split("\n### ", 1)[0]
    grant = re.search(r"GRANT ([A-Z ,]+?)\s+ON workcraft\.\* TO 'workcraft_app'", section)
    assert grant, section
    listed = {p.strip() for p in grant.group(1).split(",")}
    assert listed == {p.strip() for p in RUNTIME_GRANTS.split(",")}
    assert listed == set(doctor.RUNTIME_PRIVILEGES)


def test_the_accounts_peons_stand_in_for_disabled_events(
    app: Workcraft,
    account: DBConfig,
    db_config: DBConfig,
    env: dict[str, str],
    spawn: Spawner,
) -> None:
    # Switched off by the admin, in this database only (other tests share the server).
    execute(db_config, *(f"ALTER EVENT {name} DISABLE" for name in EVENTS))
    execute(db_config, "UPDATE maintenance SET last_event_at = NULL, last_run_at = NULL")
    try:
        victim = spawn(account, env, "lp-standin-victim", "--queues=lp-standin", "--concurrency=1")
        task_id = app.send_task_sync("sleep_then", [1.5, "rescued"], queue="lp-standin")
        wait_status(account, task_id, "RUNNING")
        victim.signal(signal.SIGKILL)
        victim.wait()
        helper = spawn(account, env, "lp-standin", "--queues=lp-standin", "--concurrency=2")
        retried = app.send_task_sync(
            "fail_times", [1], queue="lp-standin", retry_on_failure=True, retry_limit=2
        )

        # Dead peon found, its task rerun, the failure retried: all by the peons, with
        # nothing more than EXECUTE on the procedures.
        assert app.get_result_sync(task_id, timeout=45) == "rescued"
        assert app.get_result_sync(retried, timeout=45) == "succeeded after 1 retries"
        assert scalar(account, "SELECT status FROM peon WHERE id = 'lp-standin-victim'") == (
            "OFFLINE"
        )
        ran = {r.name: r for r in query(account, "SELECT * FROM maintenance")}
        assert ran["check_dead_peons"].last_run_by == "lp-standin"
        assert ran["reopen_failed_tasks"].last_run_by == "lp-standin"
        assert all(r.last_event_at is None for r in ran.values())
        wait_for(lambda: "peons run it instead" in helper.log(), 10, message=helper.log)
        assert "denied" not in helper.log()
        assert_peon_healthy(app, helper, queue="lp-standin")
    finally:
        execute(db_config, *(f"ALTER EVENT {name} ENABLE" for name in EVENTS))
