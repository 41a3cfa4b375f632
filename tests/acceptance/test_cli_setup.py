"""`python -m workcraft setup_database_tables` and `verify`, as a user runs them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.helpers import (
    closed_port,
    drop_test_database,
    execute,
    run_cli,
    scalar,
    temporary_user,
    unique_database_name,
    wk_env,
)
from workcraft.config import CONFIG_FILE_ENV, CONFIG_FILE_NAME, DBConfig, Settings
from workcraft.schema import latest_version


@pytest.fixture
def fresh(db_server: DBConfig) -> Iterator[DBConfig]:
    """A database name nobody has created yet (dropped afterwards)."""
    cfg = db_server.with_database(unique_database_name("cli"))
    try:
        yield cfg
    finally:
        drop_test_database(db_server, cfg.database)


def _flags(cfg: DBConfig, password: str | None = None) -> list[str]:
    return [
        "--read_from_env=False",
        f"--db_host={cfg.host}",
        f"--db_port={cfg.port}",
        f"--db_user={cfg.user}",
        f"--db_name={cfg.database}",
        f"--db_password={cfg.password if password is None else password}",
    ]


def _assert_no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert 'File "' not in stderr, stderr


def test_setup_from_flags_then_again_from_the_environment(
    fresh: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    env = wk_env(fresh, test_settings, tmp_path)

    first = run_cli(["setup_database_tables", *_flags(fresh), "--drop_tables=True"], env, tmp_path)
    assert first.returncode == 0, first
    assert f"database {fresh.database}: schema version {latest_version()}" in first.stdout
    assert "migrations applied: 0001_initial, 0002_maintenance" in first.stdout
    assert "event scheduler: ON" in first.stdout
    assert scalar(fresh, "SELECT MAX(version) FROM workcraft_schema") == latest_version()
    # the settings file named by WK_CONFIG_FILE was used for the events
    assert (
        scalar(
            fresh,
            "SELECT INTERVAL_VALUE FROM information_schema.EVENTS "
            "WHERE EVENT_SCHEMA = DATABASE() AND EVENT_NAME = 'wc_check_dead_peons'",
        )
        == "1"
    )

    execute(fresh, "INSERT INTO bountyboard (id, task_name) VALUES (UUID(), 'kept')")
    again = run_cli(["setup_database_tables"], env, tmp_path)
    assert again.returncode == 0, again
    assert f"schema version {latest_version()}" in again.stdout
    assert "migrations applied: none (already current)" in again.stdout
    assert scalar(fresh, "SELECT COUNT(*) FROM bountyboard WHERE task_name = 'kept'") == 1


def test_setup_reads_a_dotenv_in_the_working_directory(
    fresh: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    env = wk_env(fresh, test_settings, tmp_path)
    dotenv = "".join(f'{k}="{env.pop(k)}"\n' for k in list(env) if k.startswith("WK_DB_"))
    (tmp_path / ".env").write_text(dotenv)
    result = run_cli(["setup_database_tables"], env, tmp_path)
    assert result.returncode == 0, result
    assert f"database {fresh.database}: schema version" in result.stdout


def test_verify_prints_a_table(
    db_config: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    result = run_cli(["verify"], wk_env(db_config, test_settings, tmp_path), tmp_path)
    assert result.returncode == 0, result
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["check", "result", "detail"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    rows = {line.split("  ")[0]: line for line in lines[2:]}
    assert "connection" in rows
    assert " ok " in rows["schema"]
    assert f"version {latest_version()}" in rows["schema"]
    assert "{" not in result.stdout  # a table, not a dict
    _assert_no_traceback(result.stderr)


def test_verify_with_a_wrong_password_fails_with_one_clear_line(
    db_config: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    wrong = "Wct-Wrong-CLI-pass"
    env = wk_env(replace(db_config, password=wrong), test_settings, tmp_path)
    result = run_cli(["verify"], env, tmp_path)
    assert result.returncode != 0, result
    _assert_no_traceback(result.stderr)
    failing = [line for line in result.output.splitlines() if "access denied" in line]
    assert len(failing) == 1, result
    assert "WK_DB_PASS" in failing[0]
    assert wrong not in result.output


def test_setup_with_a_wrong_password_exits_2_without_a_traceback(
    db_config: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    env = wk_env(db_config, test_settings, tmp_path)
    result = run_cli(["setup_database_tables", *_flags(db_config, "nope-nope")], env, tmp_path)
    assert result.returncode == 2, result
    _assert_no_traceback(result.stderr)
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, result
    assert "access denied" in errors[0]
    assert "WK_DB_PASS" in errors[0]


def test_verify_against_a_closed_port_fails_cleanly(
    test_settings: Settings, tmp_path: Path
) -> None:
    cfg = DBConfig(host="127.0.0.1", port=closed_port(), password="x", database="nowhere")
    result = run_cli(["verify"], wk_env(cfg, test_settings, tmp_path), tmp_path, timeout=60)
    assert result.returncode == 1, result
    assert "cannot reach the database" in result.stdout
    _assert_no_traceback(result.stderr)


def test_an_unknown_settings_key_exits_2_and_names_it(
    fresh: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    env = wk_env(fresh, test_settings, tmp_path)
    del env[CONFIG_FILE_ENV]  # use ./workcraft.config.json
    (tmp_path / CONFIG_FILE_NAME).write_text(
        json.dumps({"DB_PEON_HEARTBEAT_INTERVAL": 1, "DB_SETUP_BACKOF_MAX_SECONDS": 5})
    )
    result = run_cli(["setup_database_tables"], env, tmp_path)
    assert result.returncode == 2, result
    _assert_no_traceback(result.stderr)
    assert "'DB_SETUP_BACKOF_MAX_SECONDS'" in result.stderr
    assert "did you mean 'DB_SETUP_BACKOFF_MAX_SECONDS'?" in result.stderr
    assert CONFIG_FILE_NAME in result.stderr


def test_setup_without_a_password_flag_says_how_to_pass_one(
    fresh: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    env = wk_env(fresh, test_settings, tmp_path)
    flags = [f for f in _flags(fresh) if not f.startswith("--db_password")]
    result = run_cli(["setup_database_tables", *flags], env, tmp_path)
    assert result.returncode == 2, result
    _assert_no_traceback(result.stderr)
    assert "--db_password is required" in result.stderr


def test_no_connection_settings_at_all_is_a_clear_error(
    test_settings: Settings, tmp_path: Path, db_server: DBConfig
) -> None:
    env = wk_env(db_server, test_settings, tmp_path)
    env = {k: v for k, v in env.items() if not k.startswith("WK_DB_")}
    result = run_cli(["verify"], env, tmp_path)
    assert result.returncode == 2, result
    _assert_no_traceback(result.stderr)
    assert "no database settings found" in result.stderr
    assert ".env" in result.stderr


# fire parses every flag value as a Python literal: without the CLI's quoting,
# `--db_password=0x10` would arrive as the int 16 and `--db_name=2024` as an int.


def test_a_password_that_looks_like_a_number_is_passed_verbatim(
    db_config: DBConfig, db_server: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    with temporary_user(db_server, db_config.database, password="0x10") as user:
        env = wk_env(user, test_settings, tmp_path)
        result = run_cli(["verify", *_flags(user)], env, tmp_path)
    assert "access denied" not in result.output, result
    assert result.returncode == 0, result


def test_a_numeric_database_name_is_a_string(
    db_server: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    cfg = db_server.with_database("2024")
    env = wk_env(cfg, test_settings, tmp_path)
    try:
        result = run_cli(["setup_database_tables", *_flags(cfg)], env, tmp_path)
        _assert_no_traceback(result.stderr)
        assert result.returncode == 0, result
    finally:
        drop_test_database(db_server, "2024")
