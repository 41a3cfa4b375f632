"""A database that cannot be used: wrong password, missing database, nobody listening.
Each entry point (sending, the peon CLI, verify) says which, and what to do.

Decided behaviour where the code leaves a choice:

* ``send_task_sync`` gives up at once on a wrong password or a missing database (not
  transient) and retries an unreachable host for a while (transient) before raising;
* the ``peon`` CLI exits 2 with one line for a wrong password or a missing database,
  but keeps retrying an unreachable host (README: "a peon never dies of" a database
  outage; it logs, backs off and reconnects);
* ``verify`` prints its table with a failed ``connection`` row and exits 1.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

import pytest
from loguru import logger

from tests.badinput.support import (
    BADINPUT_APP,
    TASKAPPS,
    Spawner,
    assert_no_traceback,
    error_lines,
)
from tests.helpers import closed_port, run_cli, scalar, wait_for, wk_env
from workcraft import DatabaseError, Workcraft, core, db
from workcraft.config import DBConfig, Settings

WRONG_PASSWORD = "Wct-definitely-not-it"


def _wrong_password(cfg: DBConfig) -> DBConfig:
    return replace(cfg, password=WRONG_PASSWORD)


def _missing_database(cfg: DBConfig) -> DBConfig:
    return cfg.with_database("wct_no_such_database_here")


def _unreachable() -> DBConfig:
    return DBConfig(host="127.0.0.1", port=closed_port(), password="x", database="nowhere")


# ------------------------------------------------------------------------- send


def test_send_with_a_wrong_password_says_which_setting_to_check(db_config: DBConfig) -> None:
    before = scalar(db_config, "SELECT COUNT(*) FROM bountyboard")
    with pytest.raises(DatabaseError) as info:
        Workcraft(db_config=_wrong_password(db_config)).send_task_sync("add", [1, 2])
    assert info.value.code == 1045
    message = str(info.value)
    assert f"access denied for {db_config.user!r}" in message
    assert "WK_DB_PASS" in message and "WK_DB_USER" in message
    assert WRONG_PASSWORD not in message
    assert scalar(db_config, "SELECT COUNT(*) FROM bountyboard") == before


def test_send_to_a_missing_database_says_to_run_setup(db_config: DBConfig) -> None:
    with pytest.raises(DatabaseError) as info:
        Workcraft(db_config=_missing_database(db_config)).send_task_sync("add", [1, 2])
    assert info.value.code == 1049
    assert "'wct_no_such_database_here' does not exist" in str(info.value)
    assert "setup_database_tables" in str(info.value)


def test_send_to_an_unreachable_host_retries_then_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    # The real deadline is 30 s; the same loop with a short one keeps the test fast.
    monkeypatch.setattr(
        core, "retry_transient", functools.partial(db.retry_transient, deadline=0.5)
    )
    seen: list[str] = []
    logger.enable("workcraft")
    sink = logger.add(lambda m: seen.append(str(m)), level="WARNING")
    cfg = _unreachable()
    try:
        with pytest.raises(DatabaseError) as info:
            Workcraft(db_config=cfg).send_task_sync("add", [1, 2])
    finally:
        logger.remove(sink)
        logger.disable("workcraft")
    assert info.value.code == 2003
    assert f"cannot reach the database at 127.0.0.1:{cfg.port}" in str(info.value)
    assert "WK_DB_HOST/WK_DB_PORT" in str(info.value)
    assert any("send add" in line and "retrying" in line for line in seen), seen


# ------------------------------------------------------------------------- peon


@pytest.mark.parametrize(
    ("broken", "needle", "fix"),
    [
        (_wrong_password, "access denied for", "WK_DB_PASS"),
        (_missing_database, "'wct_no_such_database_here' does not exist", "setup_database_tables"),
    ],
    ids=["wrong-password", "missing-database"],
)
def test_the_peon_cli_exits_2_with_one_line(
    db_config: DBConfig,
    test_settings: Settings,
    tmp_path: Path,
    broken: object,
    needle: str,
    fix: str,
) -> None:
    cfg = broken(db_config)  # type: ignore[operator]
    env = wk_env(cfg, test_settings, tmp_path)
    result = run_cli(
        ["peon", f"--workcraft_path={BADINPUT_APP}", "--worker-id=refused"],
        env,
        TASKAPPS,
        timeout=60,
    )
    assert result.returncode == 2, result
    assert_no_traceback(result.output)
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result
    assert needle in lines[0] and fix in lines[0] and "ERROR" in lines[0]
    assert WRONG_PASSWORD not in result.output
    assert scalar(db_config, "SELECT COUNT(*) FROM peon WHERE id = 'refused'") == 0


def test_the_peon_keeps_retrying_an_unreachable_database(
    test_settings: Settings, tmp_path: Path, spawn: Spawner
) -> None:
    cfg = _unreachable()
    peon = spawn(cfg, wk_env(cfg, test_settings, tmp_path), "patient", ready=False)
    wait_for(
        lambda: "register peon" in peon.log() and "retrying" in peon.log(),
        30,
        message=peon.log,
    )
    assert peon.alive(), peon.log()
    assert_no_traceback(peon.log())
    peon.kill()


def test_the_peons_retry_log_says_what_it_cannot_reach(
    test_settings: Settings, tmp_path: Path, spawn: Spawner
) -> None:
    cfg = _unreachable()
    peon = spawn(cfg, wk_env(cfg, test_settings, tmp_path), "patient-log", ready=False)
    line = wait_for(
        lambda: next((ln for ln in peon.log().splitlines() if "retrying" in ln), None),
        30,
        message=peon.log,
    )
    assert f"127.0.0.1:{cfg.port}" in line, line


# ----------------------------------------------------------------------- verify


@pytest.mark.parametrize(
    ("broken", "needle", "fix"),
    [
        (_wrong_password, "access denied for", "WK_DB_PASS"),
        (_missing_database, "'wct_no_such_database_here' does not exist", "setup_database_tables"),
        (lambda _cfg: _unreachable(), "cannot reach the database", "WK_DB_HOST/WK_DB_PORT"),
    ],
    ids=["wrong-password", "missing-database", "unreachable"],
)
def test_verify_fails_the_connection_check_and_names_the_fix(
    db_config: DBConfig,
    test_settings: Settings,
    tmp_path: Path,
    broken: object,
    needle: str,
    fix: str,
) -> None:
    cfg = broken(db_config)  # type: ignore[operator]
    result = run_cli(["verify"], wk_env(cfg, test_settings, tmp_path), tmp_path, timeout=60)
    assert result.returncode == 1, result
    assert_no_traceback(result.output)
    failing = [line for line in result.stdout.splitlines() if " fail " in line]
    assert len(failing) == 1, result
    assert failing[0].startswith("connection")
    assert needle in failing[0] and fix in failing[0]
    assert WRONG_PASSWORD not in result.output
