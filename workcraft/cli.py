"""``python -m workcraft COMMAND``: a thin layer over the library.

Each command parses its flags, calls one library function and prints the outcome.
Connection flags fall back to WK_DB_* from the environment or ``.env``
(``read_from_env=True``, the default).
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import fire
from loguru import logger

from workcraft import devdb, doctor, schema
from workcraft.config import ConfigError, DBConfig, get_db_config, load_settings
from workcraft.core import DEFAULT_QUEUE, Workcraft
from workcraft.db import DatabaseError
from workcraft.loader import LoadError, load_workcraft
from workcraft.log import configure_logging
from workcraft.peon import Peon, PeonIdInUse, PeonOptions
from workcraft.tables import format_table

__all__ = ["CLI", "main"]

_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
_USER_ERRORS = (
    ConfigError,
    DatabaseError,
    schema.SchemaError,
    devdb.DevDBError,
    LoadError,
    PeonIdInUse,
)


def _db_config(
    read_from_env: bool,
    db_host: str,
    db_port: int,
    db_user: str,
    db_name: str,
    db_password: str | None,
    db_use_ssl: bool,
    db_ssl_path: str | None,
) -> DBConfig:
    if read_from_env:
        return get_db_config()
    if db_password is None:
        raise ConfigError(
            "--db_password is required with --read_from_env=False "
            "(pass --db_password='' for an account without a password)"
        )
    return DBConfig(
        host=db_host,
        port=int(db_port),
        user=db_user,
        password=str(db_password),
        database=db_name,
        use_ssl=bool(db_use_ssl),
        ssl_path=db_ssl_path,
    )


class DevDB:
    """A private MariaDB/MySQL server for development, tests and the demo."""

    def start(self, data_dir: str = str(devdb.DEFAULT_DATA_DIR), port: int | None = None) -> None:
        """Start the server (or find it running) and print its WK_DB_* settings."""
        info = devdb.start(Path(data_dir), port=port)
        print(info.env_lines())

    def stop(self, data_dir: str = str(devdb.DEFAULT_DATA_DIR)) -> None:
        """Stop the server started from DATA_DIR (by its PID)."""
        print("stopped" if devdb.stop(Path(data_dir)) else "not running")

    def status(self, data_dir: str = str(devdb.DEFAULT_DATA_DIR)) -> None:
        """Say whether the server is running, and where."""
        info = devdb.status(Path(data_dir))
        if info is None:
            print("not running")
            sys.exit(1)
        print(f"running: pid {info.pid}, {info.host}:{info.port}, socket {info.socket}")

    def env(self, data_dir: str = str(devdb.DEFAULT_DATA_DIR)) -> None:
        """Print WK_DB_* lines for the running server (e.g. `... devdb env > .env`)."""
        print(_running(data_dir).env_lines())

    def url(self, data_dir: str = str(devdb.DEFAULT_DATA_DIR)) -> None:
        """Print the SQLAlchemy URL of the running server (it contains the password)."""
        print(_running(data_dir).url())


def _running(data_dir: str) -> devdb.DevDBInfo:
    info = devdb.status(Path(data_dir))
    if info is None:
        raise devdb.DevDBError(
            f"no dev database runs from {data_dir}: python -m workcraft devdb start"
        )
    return info


class CLI:
    """workcraft: background tasks on the MySQL/MariaDB database you already run.

    Connection settings come from WK_DB_HOST, WK_DB_PORT, WK_DB_USER, WK_DB_PASS,
    WK_DB_NAME, WK_DB_USE_SSL, WK_DB_SSL_PATH (environment or ./.env) unless
    --read_from_env=False is given with --db_* flags. Behaviour settings come from
    ./workcraft.config.json or the file named by WK_CONFIG_FILE.
    """

    def __init__(self) -> None:
        self.devdb = DevDB()

    @staticmethod
    def setup_database_tables(
        db_host: str = "127.0.0.1",
        db_port: int = 3306,
        db_user: str = "root",
        db_name: str = "workcraft",
        db_password: str | None = None,
        db_use_ssl: bool = False,
        db_ssl_path: str | None = None,
        read_from_env: bool = True,
        drop_tables: bool = False,
    ) -> None:
        """Create or upgrade workcraft's tables, procedures and events. Safe to re-run.

        With --drop_tables=True, workcraft's tables are dropped first (ALL TASK ROWS
        ARE LOST) and rebuilt from scratch.
        """
        cfg = _db_config(
            read_from_env, db_host, db_port, db_user, db_name, db_password, db_use_ssl, db_ssl_path
        )
        report = schema.setup_database(cfg, load_settings(), drop_tables=bool(drop_tables))
        applied = ", ".join(report.applied) if report.applied else "none (already current)"
        print(f"database {report.database}: schema version {report.version_after}")
        print(f"migrations applied: {applied}")
        print(f"event scheduler: {report.event_scheduler}")
        for warning in report.warnings:
            print(f"WARNING: {warning}")

    @staticmethod
    def verify(
        db_host: str = "127.0.0.1",
        db_port: int = 3306,
        db_user: str = "root",
        db_name: str = "workcraft",
        db_password: str | None = None,
        db_use_ssl: bool = False,
        db_ssl_path: str | None = None,
        read_from_env: bool = True,
    ) -> None:
        """Check connection, schema version, events, scheduler and privileges.

        Exits with status 1 when any check fails.
        """
        cfg = _db_config(
            read_from_env, db_host, db_port, db_user, db_name, db_password, db_use_ssl, db_ssl_path
        )
        checks = doctor.run_checks(cfg, load_settings())
        print(
            format_table(
                ["check", "result", "detail"], [(c.name, c.outcome, c.detail) for c in checks]
            )
        )
        if any(c.outcome == "fail" for c in checks):
            sys.exit(1)

    @staticmethod
    def peon(
        workcraft_path: str,
        worker_id: str | None = None,
        queues: str | list[str] | tuple[str, ...] = (DEFAULT_QUEUE,),
        concurrency: int = 0,
        pool: str = "thread",
        log_level: str = "INFO",
        log_json: bool = False,
        db_host: str = "127.0.0.1",
        db_port: int = 3306,
        db_user: str = "root",
        db_name: str = "workcraft",
        db_password: str | None = None,
        db_use_ssl: bool = False,
        db_ssl_path: str | None = None,
        read_from_env: bool = True,
    ) -> None:
        """Run a worker: claim tasks of WORKCRAFT_PATH (module.attribute) and run them.

        --queues: one name, a comma-separated list, or a list (["A","B"]); queues
        listed first are served first. --concurrency: task slots (default: CPUs + 4
        threads, or one process per CPU with --pool=process). First SIGTERM/SIGINT
        finishes running tasks (DB_PEON_SHUTDOWN_GRACE_SECONDS), a second stops now.
        """
        if str(log_level).upper() not in _LOG_LEVELS:
            raise ConfigError(
                f"--log_level {log_level!r} is not a level: use one of {', '.join(_LOG_LEVELS)}"
            )
        try:
            slots = int(concurrency)
        except (TypeError, ValueError):
            raise ConfigError(
                f"--concurrency must be a whole number of task slots, got {concurrency!r}"
            ) from None
        configure_logging(log_level, json=bool(log_json), component="peon")
        cfg = _db_config(
            read_from_env, db_host, db_port, db_user, db_name, db_password, db_use_ssl, db_ssl_path
        )
        settings = load_settings()
        app = load_workcraft(workcraft_path)
        try:
            options = PeonOptions(
                worker_id=str(worker_id) if worker_id is not None else str(uuid.uuid4()),
                queues=_queue_list(queues),
                concurrency=slots,
                pool=pool,
                workcraft_path=workcraft_path,
                log_level=log_level,
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"peon: {exc}") from None
        peon = Peon(app, cfg, settings, options)
        peon.install_signal_handlers()
        peon.run()

    @staticmethod
    def cancel(
        task_id: str,
        db_host: str = "127.0.0.1",
        db_port: int = 3306,
        db_user: str = "root",
        db_name: str = "workcraft",
        db_password: str | None = None,
        db_use_ssl: bool = False,
        db_ssl_path: str | None = None,
        read_from_env: bool = True,
    ) -> None:
        """Cancel TASK_ID: a waiting task never runs; a running one is stopped."""
        app = _client(
            read_from_env, db_host, db_port, db_user, db_name, db_password, db_use_ssl, db_ssl_path
        )
        print(f"{task_id}: {app.cancel(str(task_id))}")

    @staticmethod
    def pause(
        queue: str,
        db_host: str = "127.0.0.1",
        db_port: int = 3306,
        db_user: str = "root",
        db_name: str = "workcraft",
        db_password: str | None = None,
        db_use_ssl: bool = False,
        db_ssl_path: str | None = None,
        read_from_env: bool = True,
    ) -> None:
        """Pause QUEUE: peons stop claiming from it; its tasks wait."""
        app = _client(
            read_from_env, db_host, db_port, db_user, db_name, db_password, db_use_ssl, db_ssl_path
        )
        app.pause_queue(str(queue))
        print(f"paused {queue}; paused queues: {', '.join(app.paused_queues())}")

    @staticmethod
    def resume(
        queue: str,
        db_host: str = "127.0.0.1",
        db_port: int = 3306,
        db_user: str = "root",
        db_name: str = "workcraft",
        db_password: str | None = None,
        db_use_ssl: bool = False,
        db_ssl_path: str | None = None,
        read_from_env: bool = True,
    ) -> None:
        """Resume QUEUE: peons claim from it again."""
        app = _client(
            read_from_env, db_host, db_port, db_user, db_name, db_password, db_use_ssl, db_ssl_path
        )
        app.resume_queue(str(queue))
        print(f"resumed {queue}; paused queues: {', '.join(app.paused_queues()) or 'none'}")


def _client(
    read_from_env: bool,
    db_host: str,
    db_port: int,
    db_user: str,
    db_name: str,
    db_password: str | None,
    db_use_ssl: bool,
    db_ssl_path: str | None,
) -> Workcraft:
    return Workcraft(
        _db_config(
            read_from_env, db_host, db_port, db_user, db_name, db_password, db_use_ssl, db_ssl_path
        )
    )


def _queue_list(queues: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(queues, str):
        return tuple(q.strip() for q in queues.split(",") if q.strip())
    return tuple(str(q) for q in queues)


# Flags whose values are text, whatever they look like. Fire reads every value as a
# Python literal, so a password "0x10" would arrive as the number 16 and "a,b" as a
# tuple; quoting these values first keeps them exactly as typed.
_TEXT_FLAGS = frozenset(
    {
        "db_host",
        "db_user",
        "db_name",
        "db_password",
        "db_ssl_path",
        "worker_id",
        "workcraft_path",
        "data_dir",
        "pool",
        "log_level",
        "task_id",
        "queue",
    }
)
# Commands whose first positional argument is a name or an id (text, like the flags).
_TEXT_POSITIONAL = frozenset({"cancel", "pause", "resume"})


def _quote_text_flags(argv: list[str]) -> list[str]:
    quoted: list[str] = []
    pending_value = bool(argv) and argv[0] in _TEXT_POSITIONAL and len(argv) > 1
    if pending_value and argv[1].startswith("--"):
        pending_value = False
    if argv and argv[0] in _TEXT_POSITIONAL:
        quoted.append(argv[0])
        argv = argv[1:]
    for arg in argv:
        if pending_value:
            quoted.append(repr(arg))
            pending_value = False
            continue
        name, eq, value = arg.partition("=")
        flag = name[2:].replace("-", "_") if name.startswith("--") else ""
        if flag in _TEXT_FLAGS:
            if eq:
                quoted.append(f"{name}={value!r}")
                continue
            pending_value = True
        quoted.append(arg)
    return quoted


def main(argv: list[str] | None = None) -> None:
    configure_logging("INFO", component="cli")
    args = _quote_text_flags(sys.argv[1:] if argv is None else argv)
    try:
        fire.Fire(CLI, command=args, name="workcraft")
    except _USER_ERRORS as exc:
        logger.error("{}", exc)
        sys.exit(2)
