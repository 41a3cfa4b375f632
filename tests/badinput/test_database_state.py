"""A database that is reachable but not ready: no workcraft tables, an older schema,
events switched off. Every entry point must say what to run.

That peons stand in for disabled events (and verify says the events are not doing
the work) is covered by tests/acceptance/test_maintenance_stand_in.py; here only
verify's report on disabled events is checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.badinput.support import (
    BADINPUT_APP,
    TASKAPPS,
    Spawner,
    assert_no_traceback,
    assert_peon_healthy,
    error_lines,
)
from tests.helpers import execute, run_cli, scalar, wait_for, wk_env
from workcraft import DatabaseError, SchemaError, Workcraft, db, sql_files, store
from workcraft.config import DBConfig, Settings
from workcraft.schema import setup_database

EVENTS = ("wc_check_dead_peons", "wc_self_correct_tasks", "wc_reopen_failed_tasks")


def _verify_rows(stdout: str) -> dict[str, str]:
    lines = stdout.splitlines()[2:]  # header and rule
    return {line.split("  ")[0].strip(): line for line in lines}


def test_verify_on_a_database_without_tables_says_to_run_setup(
    empty_database: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    result = run_cli(["verify"], wk_env(empty_database, test_settings, tmp_path), tmp_path)
    assert result.returncode == 1, result
    schema = _verify_rows(result.stdout)["schema"]
    assert " fail " in schema and "missing tables" in schema
    assert "setup_database_tables" in schema
    assert_no_traceback(result.output)


def test_send_to_a_database_without_tables_says_to_run_setup(empty_database: DBConfig) -> None:
    with pytest.raises(Exception) as info:
        Workcraft(db_config=empty_database).send_task_sync("add", [1, 2])
    assert isinstance(info.value, DatabaseError | SchemaError), repr(info.value)
    assert "setup_database_tables" in str(info.value)


def test_the_peon_on_a_database_without_tables_says_to_run_setup(
    empty_database: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    result = run_cli(
        ["peon", f"--workcraft_path={BADINPUT_APP}", "--worker-id=too-early"],
        wk_env(empty_database, test_settings, tmp_path),
        TASKAPPS,
        timeout=60,
    )
    assert result.returncode == 2, result
    assert_no_traceback(result.output)
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "setup_database_tables" in lines[0], result


def _apply_migrations(cfg: DBConfig, count: int) -> None:
    """What an older workcraft left behind (as tests/integration/test_schema.py does):
    the first ``count`` migrations, no routines."""
    with db.connect(cfg) as conn:
        for statement in sql_files.statements(
            (sql_files.sql_dir() / "schema_version.sql").read_text()
        ):
            store.run_script_statement(conn, statement)
        for migration in sql_files.migrations()[:count]:
            for statement in migration.statements():
                store.run_script_statement(conn, statement)
            store.record_migration(conn, migration.version, migration.name, "0.9.0")


def _apply_first_migration_only(cfg: DBConfig) -> None:
    _apply_migrations(cfg, 1)


def test_verify_on_an_older_schema_fails_and_names_setup(
    empty_database: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    _apply_first_migration_only(empty_database)
    result = run_cli(["verify"], wk_env(empty_database, test_settings, tmp_path), tmp_path)
    assert result.returncode == 1, result
    schema = _verify_rows(result.stdout)["schema"]
    assert " fail " in schema and "setup_database_tables" in schema
    assert_no_traceback(result.output)


def test_verify_on_an_older_schema_says_to_upgrade(
    empty_database: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    _apply_first_migration_only(empty_database)
    result = run_cli(["verify"], wk_env(empty_database, test_settings, tmp_path), tmp_path)
    schema = _verify_rows(result.stdout)["schema"]
    assert "version 1" in schema and "upgrade" in schema, schema


def test_a_peon_newer_than_the_schema_names_the_upgrade_then_works_after_it(
    empty_database: DBConfig, test_settings: Settings, tmp_path: Path, spawn: Spawner
) -> None:
    # A rolling upgrade with the peon first: the schema one migration behind, so the
    # claim reads a column the last migration adds.
    _apply_migrations(empty_database, len(sql_files.migrations()) - 1)
    peon = spawn(empty_database, wk_env(empty_database, test_settings, tmp_path), "too-new")
    wait_for(
        lambda: "older than this version" in peon.log() and "setup_database_tables" in peon.log(),
        30,
        message=peon.log,
    )
    assert_no_traceback(peon.log())
    setup_database(empty_database, test_settings)
    assert_peon_healthy(Workcraft(db_config=empty_database), peon)


def test_verify_reports_events_disabled_in_this_database(
    db_config: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    # Only this module's database: the global scheduler serves every other test.
    execute(db_config, *(f"ALTER EVENT {name} DISABLE" for name in EVENTS))
    try:
        result = run_cli(["verify"], wk_env(db_config, test_settings, tmp_path), tmp_path)
    finally:
        execute(db_config, *(f"ALTER EVENT {name} ENABLE" for name in EVENTS))
    assert result.returncode == 1, result
    rows = _verify_rows(result.stdout)
    for name in EVENTS:
        assert " fail " in rows[f"event {name}"], result.stdout
        assert "DISABLED" in rows[f"event {name}"]
    assert " ok " in rows["event scheduler"]  # the server's scheduler is still on
    assert scalar(db_config, "SELECT @@GLOBAL.event_scheduler") == "ON"
