"""doctor.run_checks against a real server: healthy, empty, refused, unreachable."""

from __future__ import annotations

import time
from dataclasses import replace

from tests.helpers import closed_port, execute, query, temporary_user, wait_for
from workcraft import db, doctor, store
from workcraft.config import DBConfig, Settings
from workcraft.doctor import Check
from workcraft.schema import latest_version, setup_database

EXPECTED_CHECKS = [
    "connection",
    "schema",
    "procedures",
    "views",
    "event scheduler",
    "event wc_check_dead_peons",
    "event wc_self_correct_tasks",
    "event wc_reopen_failed_tasks",
    "event wc_purge_history",
    "privileges (peons, apps)",
    "privileges (setup)",
]


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def _table(checks: list[Check]) -> str:
    return "\n".join(f"{c.name}: {c.outcome} ({c.detail})" for c in checks)


def test_a_set_up_database_passes_every_check(db_config: DBConfig, test_settings: Settings) -> None:
    last: list[Check] = []

    def all_ok() -> bool:
        last[:] = doctor.run_checks(db_config, test_settings)
        return all(c.outcome == "ok" for c in last)

    # the event checks are "warn" until each event has ticked once
    wait_for(all_ok, 20, interval=0.2, message=lambda: _table(last))
    assert [c.name for c in last] == EXPECTED_CHECKS
    checks = _by_name(last)
    assert db_config.describe() in checks["connection"].detail
    assert checks["schema"].detail == f"version {latest_version()}"
    assert checks["event scheduler"].detail == "ON"
    assert checks["event wc_check_dead_peons"].detail.startswith("every 1 s; last ran")
    assert "can run setup_database_tables" in checks["privileges (setup)"].detail


def test_an_event_that_stopped_ticking_fails(db_config: DBConfig, test_settings: Settings) -> None:
    execute(db_config, "ALTER EVENT wc_reopen_failed_tasks DISABLE")
    try:
        checks = _by_name(doctor.run_checks(db_config, test_settings))
        assert checks["event wc_reopen_failed_tasks"].outcome == "fail"
        assert "DISABLED" in checks["event wc_reopen_failed_tasks"].detail
        # enabled, but its next run is an hour away, and its last stamp an hour old
        execute(
            db_config,
            "ALTER EVENT wc_reopen_failed_tasks "
            "ON SCHEDULE EVERY 1 HOUR STARTS NOW() + INTERVAL 1 HOUR ENABLE",
        )

        def reported_stopped() -> Check | None:
            # an execution that began before the ALTER may still stamp the row: repeat
            execute(
                db_config,
                "UPDATE maintenance SET last_event_at = NOW(6) - INTERVAL 1 HOUR, "
                "last_run_at = NOW(6) - INTERVAL 1 HOUR, last_run_by = 'event' "
                "WHERE name = 'reopen_failed_tasks'",
            )
            checks = _by_name(doctor.run_checks(db_config, test_settings))
            check = checks["event wc_reopen_failed_tasks"]
            return check if check.outcome == "fail" else None

        check = wait_for(reported_stopped, 10, message="an hour-old stamp was not reported")
        assert "stopped ticking" in check.detail
        assert "last ran 3600" in check.detail
        # a peon standing in keeps the system healing, and the check says so
        with db.connect(db_config) as conn:
            store.call_procedure(conn, "wc_reopen_failed_tasks_v1", caller="wct-stand-in-peon")
        check = _by_name(doctor.run_checks(db_config, test_settings))[
            "event wc_reopen_failed_tasks"
        ]
        assert check.outcome == "fail"
        assert "stopped ticking" in check.detail
        assert "peons stand in (last run by wct-stand-in-peon" in check.detail
    finally:
        execute(
            db_config,
            "ALTER EVENT wc_reopen_failed_tasks ON SCHEDULE EVERY 1 SECOND ENABLE",
        )


def test_an_empty_database_fails_the_schema_check_with_the_fix(
    empty_database: DBConfig, test_settings: Settings
) -> None:
    checks = _by_name(doctor.run_checks(empty_database, test_settings))
    assert checks["connection"].outcome == "ok"
    schema = checks["schema"]
    assert schema.outcome == "fail"
    assert "missing tables bountyboard, peon, logs, maintenance, workcraft_schema" in schema.detail
    assert "python -m workcraft setup_database_tables" in schema.detail
    # with no schema there is nothing to say about the events
    assert not any(name.startswith("event ") for name in checks)


def test_an_old_schema_version_says_to_upgrade(
    db_config: DBConfig, test_settings: Settings
) -> None:
    latest = latest_version()
    saved = query(db_config, "SELECT * FROM workcraft_schema WHERE version = :v", {"v": latest})
    execute(db_config, "DELETE FROM workcraft_schema WHERE version = :v", params={"v": latest})
    try:
        schema = _by_name(doctor.run_checks(db_config, test_settings))["schema"]
        assert schema.outcome == "fail"
        assert f"version {latest - 1}, this package needs {latest}" in schema.detail
        assert "rows are kept" in schema.detail
    finally:
        execute(
            db_config,
            "INSERT INTO workcraft_schema (version, name, package_version) VALUES (:v, :n, :p)",
            params={"v": latest, "n": saved[0].name, "p": saved[0].package_version},
        )


def test_a_wrong_password_names_the_setting_but_not_the_password(
    db_config: DBConfig, test_settings: Settings
) -> None:
    wrong = "Wrong-Pa55word-for-doctor-7f3a"
    checks = doctor.run_checks(replace(db_config, password=wrong), test_settings)
    assert len(checks) == 1
    (check,) = checks
    assert check.name == "connection"
    assert check.outcome == "fail"
    assert "access denied" in check.detail
    assert "WK_DB_PASS" in check.detail
    assert wrong not in check.detail
    assert wrong not in repr(checks)


def test_an_unreachable_server_fails_quickly(test_settings: Settings) -> None:
    cfg = DBConfig(host="127.0.0.1", port=closed_port(), user="root", password="x", database="wc")
    began = time.monotonic()
    checks = doctor.run_checks(cfg, test_settings)
    elapsed = time.monotonic() - began
    assert elapsed < 15, f"run_checks took {elapsed:.1f} s against a closed port"
    assert [(c.name, c.outcome) for c in checks] == [("connection", "fail")]
    assert "cannot reach the database at 127.0.0.1:" in checks[0].detail
    assert "WK_DB_HOST/WK_DB_PORT" in checks[0].detail


def test_a_peon_account_is_ok_for_peons_and_warned_for_setup(
    db_config: DBConfig, db_server: DBConfig, test_settings: Settings
) -> None:
    with temporary_user(
        db_server, db_config.database, "SELECT, INSERT, UPDATE, DELETE, EXECUTE"
    ) as peon_cfg:
        checks = _by_name(doctor.run_checks(peon_cfg, test_settings))
    assert checks["schema"].outcome == "ok"
    assert checks["privileges (peons, apps)"].outcome == "ok"
    setup = checks["privileges (setup)"]
    assert setup.outcome == "warn"
    assert "lacks CREATE, ALTER, DROP, INDEX, CREATE ROUTINE, ALTER ROUTINE, EVENT" in setup.detail


def test_a_read_only_account_fails_the_peon_privileges(
    db_config: DBConfig, db_server: DBConfig, test_settings: Settings
) -> None:
    with temporary_user(db_server, db_config.database, "SELECT") as reader:
        checks = _by_name(doctor.run_checks(reader, test_settings))
    peons = checks["privileges (peons, apps)"]
    assert peons.outcome == "fail"
    assert f"lacks INSERT, UPDATE, DELETE, EXECUTE on {db_config.database}" in peons.detail


def test_verify_warns_about_a_missing_view(db_config: DBConfig, test_settings: Settings) -> None:
    execute(db_config, "DROP VIEW wc_recent_failures")
    try:
        checks = {c.name: c for c in doctor.run_checks(db_config)}
        assert checks["views"].outcome == "warn"
        assert "wc_recent_failures" in checks["views"].detail
        assert "setup_database_tables" in checks["views"].detail
    finally:
        setup_database(db_config, test_settings)
    assert {c.name: c for c in doctor.run_checks(db_config)}["views"].outcome == "ok"
