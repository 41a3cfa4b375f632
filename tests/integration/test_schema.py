"""setup_database against a real server: create, re-run, rebuild, upgrade, refuse."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.helpers import drop_test_database, execute, query, scalar, unique_database_name
from workcraft import db, sql_files, store
from workcraft.config import DBConfig, Settings
from workcraft.schema import SchemaError, latest_version, package_version, setup_database

WORKCRAFT_TABLES = ("bountyboard", "peon", "logs", "maintenance", "workcraft_schema")
ALL_MIGRATIONS = [f"{m.version:04d}_{m.name}" for m in sql_files.migrations()]
_AUTO_INCREMENT = re.compile(r" AUTO_INCREMENT=\d+")


def _insert_task(cfg: DBConfig, **columns: Any) -> str:
    task_id = str(uuid.uuid4())
    values = {
        "id": task_id,
        "task_name": "wct.add",
        "queue": "DEFAULT",
        "payload": '{"args": [1, 2], "kwargs": {}}',
        **columns,
    }
    names = ", ".join(values)
    params = ", ".join(f":{k}" for k in values)
    execute(cfg, f"INSERT INTO bountyboard ({names}) VALUES ({params})", params=values)
    return task_id


def _rows(cfg: DBConfig, table: str, order: str) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in query(cfg, f"SELECT * FROM {table} ORDER BY {order}")]


def _kept(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``after`` cut down to the columns ``before`` had: a migration may add columns."""
    return [{k: row[k] for k in old} for row, old in zip(after, before, strict=True)]


def _table_definitions(cfg: DBConfig) -> dict[str, str]:
    with db.connect(cfg) as conn:
        return {
            table: _AUTO_INCREMENT.sub(
                "", str(conn.execute(text(f"SHOW CREATE TABLE {table}")).one()[1])
            )
            for table in WORKCRAFT_TABLES
        }


def _routine_definitions(cfg: DBConfig) -> dict[str, str]:
    rows = query(
        cfg,
        "SELECT ROUTINE_NAME, ROUTINE_DEFINITION FROM information_schema.ROUTINES "
        "WHERE ROUTINE_SCHEMA = DATABASE()",
    )
    events = query(
        cfg,
        "SELECT EVENT_NAME, EVENT_DEFINITION, INTERVAL_VALUE, INTERVAL_FIELD, STATUS "
        "FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()",
    )
    found = {str(name): str(body) for name, body in rows}
    found.update({f"event {e[0]}": " ".join(str(v) for v in e[1:]) for e in events})
    return found


@pytest.fixture
def missing_database(db_server: DBConfig) -> Iterator[DBConfig]:
    """A database name that does not exist yet (dropped afterwards if a test made it)."""
    cfg = db_server.with_database(unique_database_name("missing"))
    try:
        yield cfg
    finally:
        drop_test_database(db_server, cfg.database)


def test_setup_creates_everything_on_an_empty_database(
    empty_database: DBConfig, test_settings: Settings
) -> None:
    report = setup_database(empty_database, test_settings)
    assert report.database == empty_database.database
    assert report.version_before is None
    assert report.version_after == latest_version()
    assert report.applied == ALL_MIGRATIONS
    assert report.event_scheduler == "ON"
    with db.connect(empty_database) as conn:
        assert set(WORKCRAFT_TABLES) <= store.table_names(conn)
        assert store.schema_version(conn) == latest_version()
        assert {e.name for e in store.events(conn)} == {
            "wc_check_dead_peons",
            "wc_self_correct_tasks",
            "wc_reopen_failed_tasks",
            "wc_purge_history",
        }
        assert {e.interval_seconds for e in store.events(conn)} == {1}
    recorded = query(empty_database, "SELECT version, name, package_version FROM workcraft_schema")
    assert [tuple(r) for r in recorded] == [
        (m.version, m.name, package_version()) for m in sql_files.migrations()
    ]


def test_setup_twice_applies_nothing_and_changes_no_rows(
    empty_database: DBConfig, test_settings: Settings
) -> None:
    setup_database(empty_database, test_settings)
    task_id = _insert_task(empty_database, priority=3)
    before = {
        "bountyboard": _rows(empty_database, "bountyboard", "id"),
        "workcraft_schema": _rows(empty_database, "workcraft_schema", "version"),
        "peon": _rows(empty_database, "peon", "id"),
        "logs": _rows(empty_database, "logs", "id"),
    }
    definitions = _table_definitions(empty_database)

    report = setup_database(empty_database, test_settings)

    assert report.applied == []
    assert report.version_before == latest_version()
    assert report.version_after == latest_version()
    assert report.warnings == []
    for table, rows in before.items():
        assert _rows(empty_database, table, "1") == rows, table
    assert before["bountyboard"][0]["id"] == task_id
    assert _table_definitions(empty_database) == definitions


def test_drop_tables_rebuilds_from_scratch(
    empty_database: DBConfig, test_settings: Settings
) -> None:
    setup_database(empty_database, test_settings)
    _insert_task(empty_database)
    execute(empty_database, "INSERT INTO peon (id, status) VALUES ('wct-peon', 'IDLE')")
    assert scalar(empty_database, "SELECT COUNT(*) FROM bountyboard") == 1

    report = setup_database(empty_database, test_settings, drop_tables=True)

    assert report.applied == ALL_MIGRATIONS
    assert report.version_after == latest_version()
    assert scalar(empty_database, "SELECT COUNT(*) FROM bountyboard") == 0
    assert scalar(empty_database, "SELECT COUNT(*) FROM peon") == 0
    assert scalar(empty_database, "SELECT MAX(version) FROM workcraft_schema") == latest_version()
    assert scalar(empty_database, "SELECT COUNT(*) FROM maintenance") == 4


def test_drop_tables_leaves_other_tables_alone(
    empty_database: DBConfig, test_settings: Settings
) -> None:
    execute(
        empty_database,
        "CREATE TABLE app_users (id INT PRIMARY KEY)",
        "INSERT INTO app_users VALUES (7)",
    )
    setup_database(empty_database, test_settings)
    setup_database(empty_database, test_settings, drop_tables=True)
    assert scalar(empty_database, "SELECT id FROM app_users") == 7


def test_upgrade_from_the_previous_version_keeps_rows_and_matches_a_fresh_setup(
    empty_database: DBConfig, db_config: DBConfig, test_settings: Settings
) -> None:
    previous = sql_files.migrations()[:-1]
    assert previous, "only one migration: nothing to upgrade from"
    with db.connect(empty_database) as conn:
        for statement in sql_files.statements(
            (sql_files.sql_dir() / "schema_version.sql").read_text()
        ):
            store.run_script_statement(conn, statement)
        for migration in previous:
            for statement in migration.statements():
                store.run_script_statement(conn, statement)
            store.record_migration(conn, migration.version, migration.name, "0.9.0")
    task_id = _insert_task(
        empty_database,
        status="FAILURE",
        error="boom",
        retry_on_failure=0,
        priority=-2,
        queue="emails",
    )
    execute(empty_database, "INSERT INTO peon (id, status) VALUES ('old-peon', 'OFFLINE')")
    task_before = _rows(empty_database, "bountyboard", "id")
    with db.connect(empty_database) as conn:
        assert store.schema_version(conn) == len(previous)

    report = setup_database(empty_database, test_settings)

    assert report.version_before == len(previous)
    assert report.version_after == latest_version()
    assert report.applied == ALL_MIGRATIONS[len(previous) :]
    assert _kept(task_before, _rows(empty_database, "bountyboard", "id")) == task_before
    assert task_before[0]["id"] == task_id
    assert scalar(empty_database, "SELECT status FROM peon WHERE id = 'old-peon'") == "OFFLINE"
    with db.connect(empty_database) as conn:
        assert store.schema_version(conn) == latest_version()
    # the old rows of workcraft_schema stay as they were recorded
    assert [
        tuple(r)
        for r in query(
            empty_database, "SELECT version, package_version FROM workcraft_schema ORDER BY version"
        )
    ][: len(previous)] == [(m.version, "0.9.0") for m in previous]
    # and the result is the same schema a fresh setup builds
    assert _table_definitions(empty_database) == _table_definitions(db_config)
    assert _routine_definitions(empty_database) == _routine_definitions(db_config)


def test_a_foreign_bountyboard_table_is_refused_and_kept(
    empty_database: DBConfig, test_settings: Settings
) -> None:
    execute(
        empty_database,
        "CREATE TABLE bountyboard (id VARCHAR(36) PRIMARY KEY, status VARCHAR(16))",
        "INSERT INTO bountyboard VALUES ('legacy-1', 'PENDING')",
    )
    with pytest.raises(SchemaError) as info:
        setup_database(empty_database, test_settings)
    message = str(info.value)
    assert "back up" in message
    assert "--drop_tables=True" in message
    assert empty_database.database in message
    assert [tuple(r) for r in query(empty_database, "SELECT * FROM bountyboard")] == [
        ("legacy-1", "PENDING")
    ]
    with db.connect(empty_database) as conn:
        assert store.table_names(conn) == {"bountyboard"}


def test_a_schema_newer_than_the_package_is_refused(
    empty_database: DBConfig, test_settings: Settings
) -> None:
    setup_database(empty_database, test_settings)
    newer = latest_version() + 1
    execute(
        empty_database,
        "INSERT INTO workcraft_schema (version, name, package_version) "
        "VALUES (:v, 'from_the_future', '99.0')",
        params={"v": newer},
    )
    with pytest.raises(SchemaError) as info:
        setup_database(empty_database, test_settings)
    message = str(info.value)
    assert f"schema version {newer}" in message
    assert f"({latest_version()})" in message
    assert "upgrade workcraft" in message
    assert scalar(empty_database, "SELECT MAX(version) FROM workcraft_schema") == newer


def test_setup_creates_a_missing_database(
    missing_database: DBConfig, db_server: DBConfig, test_settings: Settings
) -> None:
    with db.connect(db_server, with_database=False) as conn:
        assert not store.database_exists(conn, missing_database.database)
    report = setup_database(missing_database, test_settings)
    assert report.applied == ALL_MIGRATIONS
    with db.connect(db_server, with_database=False) as conn:
        assert store.database_exists(conn, missing_database.database)
    charset = scalar(
        db_server,
        "SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :n",
        {"n": missing_database.database},
    )
    assert charset == "utf8mb4"


def test_setup_settings_are_baked_into_the_events(
    empty_database: DBConfig,
) -> None:
    setup_database(empty_database, Settings(check_dead_peon_interval=7, reopen_failed_interval=3))
    intervals = {
        str(r[0]): int(r[1])
        for r in query(
            empty_database,
            "SELECT EVENT_NAME, INTERVAL_VALUE FROM information_schema.EVENTS "
            "WHERE EVENT_SCHEMA = DATABASE()",
        )
    }
    assert intervals == {
        "wc_check_dead_peons": 7,
        "wc_self_correct_tasks": 10,
        "wc_reopen_failed_tasks": 3,
        "wc_purge_history": 60,
    }
    # re-running with other settings re-creates the events with the new values
    setup_database(empty_database, Settings(check_dead_peon_interval=2))
    assert (
        scalar(
            empty_database,
            "SELECT INTERVAL_VALUE FROM information_schema.EVENTS "
            "WHERE EVENT_SCHEMA = DATABASE() AND EVENT_NAME = 'wc_check_dead_peons'",
        )
        == "2"
    )


def test_workcraft_tables_in_another_database_do_not_confuse_setup(
    db_config: DBConfig, empty_database: DBConfig, test_settings: Settings
) -> None:
    # db_config (same server) holds a complete workcraft schema: checks that forget to
    # filter information_schema by the current database would think this one is set up
    with db.connect(empty_database) as conn:
        assert store.table_names(conn) == set()
        assert store.schema_version(conn) is None
        assert store.routines(conn) == set()
        assert store.events(conn) == []
    assert setup_database(empty_database, test_settings).applied == ALL_MIGRATIONS
