"""Helpers shared by the test-suite (import as ``from tests.helpers import ...``).

Nothing here sleeps for a fixed time to wait for something: :func:`wait_for` polls
a condition against a deadline and fails with a message that says what never
happened.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Row, text

from workcraft import db, store
from workcraft.config import CONFIG_FILE_ENV, DBConfig, Settings

__all__ = [
    "CliResult",
    "closed_port",
    "drop_test_database",
    "execute",
    "query",
    "run_cli",
    "scalar",
    "temporary_user",
    "unique_database_name",
    "wait_for",
    "wk_env",
    "write_dotenv",
]

T = TypeVar("T")

TEST_DATABASE_PREFIX = "wct_"
_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]+")
_WK_KEYS = (
    "WK_DB_HOST",
    "WK_DB_PORT",
    "WK_DB_USER",
    "WK_DB_PASS",
    "WK_DB_NAME",
    "WK_DB_USE_SSL",
    "WK_DB_SSL_PATH",
    CONFIG_FILE_ENV,
)


# ------------------------------------------------------------------------ waiting


def wait_for(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = 0.05,
    message: str | Callable[[], str] = "condition was not met",
) -> T:
    """Call ``predicate`` until it returns something truthy; return that value.

    Raises AssertionError naming ``message`` (a string, or a callable for a message
    built from the final state) when ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text_ = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout:g} s: {text_}")
        time.sleep(interval)


# ---------------------------------------------------------------------- databases


def unique_database_name(hint: str, prefix: str = TEST_DATABASE_PREFIX) -> str:
    """``wct_<hint>_<random hex>``: a valid, unused-looking database name (<= 64 chars)."""
    suffix = secrets.token_hex(4)
    cleaned = _NOT_IDENTIFIER.sub("_", hint.rsplit(".", 1)[-1]).strip("_").lower()
    cleaned = re.sub(r"^test_", "", cleaned) or "db"
    room = 64 - len(prefix) - 1 - len(suffix) - 1
    return f"{prefix}{cleaned[:room].rstrip('_')}_{suffix}"


def drop_test_database(admin: DBConfig, database: str, quiesce_timeout: float = 30.0) -> None:
    """Drop ``database`` after its events are gone and no statement runs in it.

    MariaDB 10.11 can crash (signal 11 in multi_update::initialize_tables) when a
    database is dropped while an event runs wc_self_correct_tasks_v1 in it, so the
    events are dropped first and in-flight executions are waited out.
    """
    admin.with_database(database)  # validates the name before it goes into DDL
    db.close_pools(database=database)
    with db.connect(admin, with_database=False) as conn:
        events = conn.execute(
            text("SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = :db"),
            {"db": database},
        ).all()
        for (event,) in events:
            conn.execute(text(f"DROP EVENT IF EXISTS `{database}`.`{event}`"))
        conn.commit()

        def quiet() -> bool:
            busy = conn.execute(
                text(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                    "WHERE DB = :db AND COMMAND <> 'Sleep' AND ID <> CONNECTION_ID()"
                ),
                {"db": database},
            ).scalar()
            conn.commit()
            return busy == 0

        wait_for(quiet, quiesce_timeout, message=f"statements still running in {database}")
        store.drop_database(conn, database)


def query(cfg: DBConfig, sql: str, params: Mapping[str, Any] | None = None) -> list[Row[Any]]:
    """Rows of one SELECT (tests may write SQL; the library may not outside store.py)."""
    with db.connect(cfg) as conn:
        return list(conn.execute(text(sql), dict(params or {})))


def scalar(cfg: DBConfig, sql: str, params: Mapping[str, Any] | None = None) -> Any:
    with db.connect(cfg) as conn:
        return conn.execute(text(sql), dict(params or {})).scalar()


def execute(cfg: DBConfig, *statements: str, params: Mapping[str, Any] | None = None) -> int:
    """Run statements in one committed transaction; return the total rows affected."""
    total = 0
    with db.connect(cfg) as conn:
        for statement in statements:
            total += conn.execute(text(statement), dict(params or {})).rowcount or 0
    return total


@contextmanager
def temporary_user(
    admin: DBConfig,
    database: str,
    privileges: str = "ALL PRIVILEGES",
    password: str | None = None,
    prefix: str = "wct_u_",
) -> Iterator[DBConfig]:
    """A throw-away account holding ``privileges`` on ``database``.*; dropped afterwards.

    The account's host is '%' so that it works whichever address the server sees
    the test-suite connect from (loopback for the dev database, a bridge for Docker).
    """
    user = f"{prefix}{secrets.token_hex(4)}"
    password = password or f"Pw-{secrets.token_hex(12)}"
    with db.connect(admin, with_database=False) as conn:
        conn.execute(text(f"CREATE USER '{user}'@'%' IDENTIFIED BY :pw"), {"pw": password})
        conn.execute(text(f"GRANT {privileges} ON `{database}`.* TO '{user}'@'%'"))
    cfg = DBConfig(
        host=admin.host,
        port=admin.port,
        user=user,
        password=password,
        database=database,
        use_ssl=admin.use_ssl,
        ssl_path=admin.ssl_path,
    )
    try:
        yield cfg
    finally:
        db.close_pools(user=user)
        with db.connect(admin, with_database=False) as conn:
            conn.execute(text(f"DROP USER IF EXISTS '{user}'@'%'"))


def closed_port() -> int:
    """A loopback TCP port nobody listens on (it was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -------------------------------------------------------------------- subprocesses


def wk_env(cfg: DBConfig, settings: Settings, tmp_path: Path) -> dict[str, str]:
    """Environment for a subprocess that reaches ``cfg`` with ``settings``.

    ``os.environ`` minus any WK_DB_*/WK_CONFIG_FILE it had, plus the connection as
    WK_DB_* and WK_CONFIG_FILE naming a JSON file written from ``settings``.
    """
    config_file = tmp_path / f"wk-settings-{secrets.token_hex(4)}.json"
    config_file.write_text(json.dumps(settings.to_json_dict(), indent=2), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in _WK_KEYS}
    env.update(
        {
            "WK_DB_HOST": cfg.host,
            "WK_DB_PORT": str(cfg.port),
            "WK_DB_USER": cfg.user,
            "WK_DB_PASS": cfg.password or "",
            "WK_DB_NAME": cfg.database,
            "WK_DB_USE_SSL": "true" if cfg.use_ssl else "",
            "WK_DB_SSL_PATH": cfg.ssl_path or "",
            CONFIG_FILE_ENV: str(config_file),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class CliResult:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.args = proc.args

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __repr__(self) -> str:
        return (
            f"CliResult(returncode={self.returncode}, stdout={self.stdout!r}, "
            f"stderr={self.stderr!r})"
        )


def run_cli(
    args: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float = 120.0
) -> CliResult:
    """``python -m workcraft ARGS`` in ``cwd``; killed (and failed) after ``timeout`` s."""
    proc = subprocess.run(
        [sys.executable, "-m", "workcraft", *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(proc)


def write_dotenv(cfg: DBConfig, folder: Path) -> None:
    """A `.env` in ``folder`` as the original README shows it, for ``cfg``."""
    (folder / ".env").write_text(
        f'WK_DB_HOST="{cfg.host}"\n'
        f"WK_DB_PORT={cfg.port}\n"
        f'WK_DB_USER="{cfg.user}"\n'
        f'WK_DB_PASS="{cfg.password}"\n'
        f'WK_DB_NAME="{cfg.database}"\n'
        "WK_DB_USE_SSL=\n"
        "WK_DB_SSL_PATH=\n"
    )
