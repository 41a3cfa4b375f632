"""One distinctive password, followed through a whole run: setup (CLI), sending
(in-process, loguru enabled), a real peon with a process pool (its log, its command
lines), a failing task, a wrong password at every entry point, the reprs of every
object a user holds and every exception raised. The password (and the wrong one) must
appear nowhere: not in captured text, logs, exceptions, any table of the database, or
a command line ``ps`` shows.

tests/integration/test_secrets.py checks setup and verify in isolation; this is the
end-to-end run.
"""

from __future__ import annotations

import os
import secrets
import signal
import traceback
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from loguru import logger
from sqlalchemy import text

from tests.badinput.support import TASKAPPS, Spawner, assert_no_traceback, process_tree
from tests.helpers import (
    CliResult,
    drop_test_database,
    query,
    run_cli,
    temporary_user,
    unique_database_name,
    wk_env,
)
from workcraft import (
    DatabaseError,
    ResultTimeout,
    TaskFailed,
    Workcraft,
    db,
    doctor,
)
from workcraft.config import DBConfig, Settings
from workcraft.schema import setup_database

SECRET = f"Wct-FullRun-{secrets.token_hex(10)}"
WRONG = f"Wct-FullRun-Wrong-{secrets.token_hex(10)}"


class Evidence:
    """Every text a user or an operator could get to see, by where it came from."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def add(self, where: str, *items: object) -> None:
        for item in items:
            self.texts.append((where, str(item)))
            self.texts.append((where, repr(item)))

    def add_exception(self, where: str, exc: BaseException) -> None:
        self.add(where, exc, *exc.args)
        self.texts.append((where, "".join(traceback.format_exception(exc))))
        seen = {id(exc)}
        cause = exc.__cause__ or exc.__context__
        while cause is not None and id(cause) not in seen:  # hidden by `from None` too
            seen.add(id(cause))
            self.add(f"{where} (chained)", cause, *cause.args)
            cause = cause.__cause__ or cause.__context__
        # And as a user's default loguru sink would print it, with variable values.
        logger.opt(exception=exc).error("caught at {}", where)

    def add_cli(self, where: str, result: CliResult) -> None:
        self.texts.append((where, result.output))

    def leaks(self) -> list[str]:
        return [
            f"{where}: {body[:300]!r}"
            for where, body in self.texts
            if SECRET in body or WRONG in body
        ]


@pytest.fixture
def evidence() -> Iterator[Evidence]:
    found = Evidence()
    logger.enable("workcraft")
    # loguru's defaults for a user's sink: backtrace and diagnose (variable values) on.
    plain = logger.add(lambda m: found.texts.append(("loguru", str(m))), level="TRACE")
    as_json = logger.add(
        lambda m: found.texts.append(("loguru json", str(m))), level="TRACE", serialize=True
    )
    try:
        yield found
    finally:
        logger.remove(plain)
        logger.remove(as_json)
        logger.disable("workcraft")


@pytest.fixture
def account(db_server: DBConfig) -> Iterator[DBConfig]:
    """A dedicated account with the distinctive password, for a database setup creates."""
    database = unique_database_name("secrets_full_run")
    try:
        with temporary_user(
            db_server, database, "ALL PRIVILEGES", password=SECRET, prefix="wct_fullrun_"
        ) as cfg:
            yield cfg
    finally:
        drop_test_database(db_server, database)


def _flags(cfg: DBConfig, password: str) -> list[str]:
    return [
        "--read_from_env=False",
        f"--db_host={cfg.host}",
        f"--db_port={cfg.port}",
        f"--db_user={cfg.user}",
        f"--db_name={cfg.database}",
        f"--db_password={password}",
    ]


def _command_lines(pids: list[int]) -> dict[int, str]:
    lines = {}
    for pid in pids:
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        lines[pid] = raw.replace(b"\0", b" ").decode(errors="replace")
    return lines


def test_the_password_appears_nowhere_in_a_full_run(
    account: DBConfig,
    db_server: DBConfig,
    test_settings: Settings,
    tmp_path: Path,
    spawn: Spawner,
    evidence: Evidence,
) -> None:
    env = wk_env(account, test_settings, tmp_path)
    wrong_env = {**env, "WK_DB_PASS": WRONG}
    wrong = replace(account, password=WRONG)
    evidence.add(
        "configs",
        account,
        wrong,
        DBConfig.from_url(db.sqlalchemy_url(account).render_as_string(hide_password=False)),
    )
    evidence.add("engine", db.get_engine(account), db.sqlalchemy_url(account))

    # --- setup and verify, as an operator runs them
    setup = run_cli(["setup_database_tables"], env, tmp_path)
    assert setup.returncode == 0, setup
    evidence.add_cli("setup CLI", setup)
    verify = run_cli(["verify"], env, tmp_path)
    assert verify.returncode in (0, 1) and "connection" in verify.stdout, verify
    evidence.add_cli("verify CLI", verify)

    # --- a real peon (process pool: children too) and an app sending to it
    peon = spawn(account, env, "secret-peon", "--pool=process", "--concurrency=2")
    app = Workcraft(db_config=account)
    evidence.add("app", app)
    ok = app.send_task_sync("add", [1, 2])
    failing = app.send_task_sync("fail_times", [5])
    described = app.send_task_sync("describe", ["public"], {"k": "v"})
    assert app.get_result_sync(ok, timeout=60) == 3
    assert app.get_result_sync(described, timeout=60) == {"args": ["public"], "kwargs": {"k": "v"}}
    with pytest.raises(TaskFailed) as failed:
        app.get_result_sync(failing, timeout=60)
    evidence.add_exception("TaskFailed", failed.value)
    with pytest.raises(ResultTimeout) as timed_out:
        app.get_result_sync(app.send_task_sync("nobody_runs_this"), timeout=0.1)
    evidence.add_exception("ResultTimeout", timed_out.value)
    for task_id in (ok, failing, described):
        task = app.get_task_sync(task_id)
        evidence.add("Task", task)
    evidence.add("lists", app.pending(), app.finished(), app.failed())

    # What `ps` shows: the peon and every process it started.
    tree = process_tree(peon.pid)
    assert len(tree) > 1, "the process pool started no children"
    command_lines = _command_lines(tree)
    assert command_lines, tree
    for pid, line in command_lines.items():
        evidence.texts.append((f"cmdline of {pid}", line))

    # --- a wrong password at every entry point
    wrong_app = Workcraft(db_config=wrong)
    with pytest.raises(DatabaseError) as refused_send:
        wrong_app.send_task_sync("add", [1, 2])
    evidence.add_exception("send (wrong password)", refused_send.value)
    with pytest.raises(DatabaseError) as refused_setup:
        setup_database(wrong, test_settings)
    evidence.add_exception("setup_database (wrong password)", refused_setup.value)
    evidence.add("doctor (wrong password)", *doctor.run_checks(wrong, test_settings))

    for args, where in (
        (["peon", "--workcraft_path=badinput_app.app", "--worker-id=wrong"], "peon CLI"),
        (["verify"], "verify CLI"),
        (["setup_database_tables"], "setup CLI"),
    ):
        result = run_cli(args, wrong_env, TASKAPPS, timeout=60)
        assert result.returncode in (1, 2), result
        assert "access denied" in result.output, result
        assert_no_traceback(result.output)
        evidence.add_cli(f"{where} (wrong password from the environment)", result)
        flagged = run_cli([*args, *_flags(account, WRONG)], env, TASKAPPS, timeout=60)
        assert flagged.returncode in (1, 2), flagged
        assert "access denied" in flagged.output, flagged
        evidence.add_cli(f"{where} (wrong password as a flag)", flagged)

    # --- the peon's own log, after a graceful stop
    peon.signal(signal.SIGTERM)
    assert peon.wait(timeout=30) == 0
    log = peon.log()
    assert "task fail_times" in log and "FAILURE" in log and "peon secret-peon stopped" in log
    evidence.texts.append(("peon log", log))

    # --- everything stored in the database
    with db.connect(db_server.with_database(account.database)) as conn:
        tables = [str(r[0]) for r in conn.execute(text("SHOW TABLES"))]
        for table in tables:
            for r in conn.execute(text(f"SELECT * FROM `{table}`")):
                evidence.texts.append((f"table {table}", " | ".join(map(str, r))))
    assert {"bountyboard", "peon", "logs", "maintenance"} <= set(tables)
    for r in query(
        db_server,
        "SELECT ROUTINE_NAME, ROUTINE_DEFINITION FROM information_schema.ROUTINES "
        "WHERE ROUTINE_SCHEMA = :db UNION ALL SELECT EVENT_NAME, EVENT_DEFINITION "
        "FROM information_schema.EVENTS WHERE EVENT_SCHEMA = :db",
        {"db": account.database},
    ):
        evidence.texts.append((f"definition of {r[0]}", str(r[1])))

    # The capture worked: the library did log, the peon did run.
    assert any(where == "loguru" and "sent add" in body for where, body in evidence.texts)
    assert any(where == "loguru" and "caught at" in body for where, body in evidence.texts)
    assert evidence.leaks() == []
    assert os.environ.get("WK_DB_PASS") != SECRET  # the test process itself never had it
