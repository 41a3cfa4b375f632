"""``python -m workcraft COMMAND``: a thin layer over the library.

Each command parses its flags, calls one library function and prints the outcome.
Connection flags fall back to WK_DB_* from the environment or ``.env``
(``read_from_env=True``, the default).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import fire
from loguru import logger

from workcraft import dashboard, doctor, metrics, overview, schema, terminal
from workcraft.config import DEV_DB_DIR, ConfigError, DBConfig, get_db_config, load_settings
from workcraft.core import DEFAULT_QUEUE, Workcraft
from workcraft.db import DatabaseError
from workcraft.errors import DevDBError
from workcraft.loader import LoadError, load_workcraft
from workcraft.log import configure_logging
from workcraft.peon import Peon, PeonIdInUse, PeonOptions
from workcraft.reload import child_argv, run_with_reload, watched_roots
from workcraft.tables import format_table

if TYPE_CHECKING:
    from workcraft.devdb import DevDBInfo

__all__ = ["CLI", "main"]

T = TypeVar("T")

_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
_USER_ERRORS = (
    ConfigError,
    DatabaseError,
    schema.SchemaError,
    DevDBError,
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

    def start(self, data_dir: str = DEV_DB_DIR, port: int | None = None) -> None:
        """Start the server (or find it running) and print its WK_DB_* settings."""
        from workcraft import devdb  # for this command only: a peon never needs it

        info = devdb.start(Path(data_dir), port=port)
        print(info.env_lines())

    def stop(self, data_dir: str = DEV_DB_DIR) -> None:
        """Stop the server started from DATA_DIR (by its PID)."""
        from workcraft import devdb

        print("stopped" if devdb.stop(Path(data_dir)) else "not running")

    def status(self, data_dir: str = DEV_DB_DIR) -> None:
        """Say whether the server is running, and where."""
        from workcraft import devdb

        info = devdb.status(Path(data_dir))
        if info is None:
            print("not running")
            sys.exit(1)
        print(f"running: pid {info.pid}, {info.host}:{info.port}, socket {info.socket}")

    def env(self, data_dir: str = DEV_DB_DIR) -> None:
        """Print WK_DB_* lines for the running server (e.g. `... devdb env > .env`)."""
        print(_running(data_dir).env_lines())

    def url(self, data_dir: str = DEV_DB_DIR) -> None:
        """Print the SQLAlchemy URL of the running server (it contains the password)."""
        print(_running(data_dir).url())


def _running(data_dir: str) -> DevDBInfo:
    from workcraft import devdb

    info = devdb.status(Path(data_dir))
    if info is None:
        raise DevDBError(f"no dev database runs from {data_dir}: python -m workcraft devdb start")
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
        reload: bool = False,
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
        --reload (development only): restart the peon whenever a source file changes.
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
        if reload:
            settings = load_settings()
            argv = child_argv(sys.argv[1:], str(worker_id or uuid.uuid4()))
            sys.exit(
                run_with_reload(
                    argv,
                    watched_roots(workcraft_path),
                    grace=settings.peon_shutdown_grace_seconds,
                )
            )
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
        json: bool = False,
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
        outcome = app.cancel(str(task_id))
        _say(json, f"{task_id}: {outcome}", {"task_id": str(task_id), "outcome": outcome})

    @staticmethod
    def pause(
        queue: str,
        json: bool = False,
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
        paused = app.paused_queues()
        _say(
            json,
            f"paused {queue}; paused queues: {', '.join(paused)}",
            {"queue": str(queue), "paused": True, "paused_queues": paused},
        )

    @staticmethod
    def resume(
        queue: str,
        json: bool = False,
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
        paused = app.paused_queues()
        _say(
            json,
            f"resumed {queue}; paused queues: {', '.join(paused) or 'none'}",
            {"queue": str(queue), "paused": False, "paused_queues": paused},
        )

    # ------------------------------------------------- watching: see README "Watching it"

    @staticmethod
    def status(
        json: bool = False,
        db_host: str = "127.0.0.1",
        db_port: int = 3306,
        db_user: str = "root",
        db_name: str = "workcraft",
        db_password: str | None = None,
        db_use_ssl: bool = False,
        db_ssl_path: str | None = None,
        read_from_env: bool = True,
    ) -> None:
        """Tasks per queue and status, how long the oldest due PENDING task has waited,
        and which queues are paused. --json for machine-readable output."""
        cfg = _db_config(
            read_from_env, db_host, db_port, db_user, db_name, db_password, db_use_ssl, db_ssl_path
        )
        _show(json, overview.read(cfg, overview.queue_stats), terminal.queue_table)

    @staticmethod
    def tasks(
        queue: str | None = None,
        status: str | None = None,
        name: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        json: bool = False,
        db_host: str = "127.0.0.1",
        db_port: int = 3306,
        db_user: str = "root",
        db_name: str = "workcraft",
        db_password: str | None = None,
        db_use_ssl: bool = False,
        db_ssl_path: str | None = None,
        read_from_env: bool = True,
    ) -> None:
        """Tasks, newest first, a page at a time; the last line gives --cursor for the
        next page. --since/--until bound created_at: an ISO time (the database's clock,
        as shown) or a duration ago (45s, 30m, 12h, 7d)."""
        flt = overview.TaskFilter(
            queue=queue,
            status=status,
            name=name,
            since=overview.parse_time(since) if since is not None else None,
            until=overview.parse_time(until) if until is not None else None,
        )
        cfg = _db_config(
            read_from_env, db_host, db_port, db_user, db_name, db_password, db_use_ssl, db_ssl_path
        )
        page = overview.read(cfg, lambda c: overview.list_tasks(c, flt, cursor=cursor, limit=limit))
        _show(json, page, terminal.task_table)

    @staticmethod
    def task(
        task_id: str,
        json: bool = False,
        db_host: str = "127.0.0.1",
        db_port: int = 3306,
        db_user: str = "root",
        db_name: str = "workcraft",
        db_password: str | None = None,
        db_use_ssl: bool = False,
        db_ssl_path: str | None = None,
        read_from_env: bool = True,
    ) -> None:
        """Everything about TASK_ID: arguments, result, timings, traceback, attempts."""
        cfg = _db_config(
            read_from_env, db_host, db_port, db_user, db_name, db_password, db_use_ssl, db_ssl_path
        )
        detail = overview.read(cfg, lambda c: overview.task_detail(c, str(task_id)))
        if detail is None:
            raise overview.FilterError(f"no task has id {task_id!r}")
        _show(json, detail, terminal.task_text)

    @staticmethod
    def peons(
        json: bool = False,
        db_host: str = "127.0.0.1",
        db_port: int = 3306,
        db_user: str = "root",
        db_name: str = "workcraft",
        db_password: str | None = None,
        db_use_ssl: bool = False,
        db_ssl_path: str | None = None,
        read_from_env: bool = True,
    ) -> None:
        """Every peon: host, pid, status, heartbeat age, queues, current task. "late": no
        heartbeat for two intervals; "dead": none within the dead-peon timeout."""
        cfg = _db_config(
            read_from_env, db_host, db_port, db_user, db_name, db_password, db_use_ssl, db_ssl_path
        )
        settings = load_settings()
        _show(json, overview.read(cfg, lambda c: overview.peons(c, settings)), terminal.peon_table)

    @staticmethod
    def schedules(
        json: bool = False,
        db_host: str = "127.0.0.1",
        db_port: int = 3306,
        db_user: str = "root",
        db_name: str = "workcraft",
        db_password: str | None = None,
        db_use_ssl: bool = False,
        db_ssl_path: str | None = None,
        read_from_env: bool = True,
    ) -> None:
        """Every periodic schedule: its timing, next run (UTC) and last tick."""
        cfg = _db_config(
            read_from_env, db_host, db_port, db_user, db_name, db_password, db_use_ssl, db_ssl_path
        )
        _show(json, overview.read(cfg, overview.schedules), terminal.schedule_table)

    @staticmethod
    def retry(
        task_id: str,
        json: bool = False,
        db_host: str = "127.0.0.1",
        db_port: int = 3306,
        db_user: str = "root",
        db_name: str = "workcraft",
        db_password: str | None = None,
        db_use_ssl: bool = False,
        db_ssl_path: str | None = None,
        read_from_env: bool = True,
    ) -> None:
        """Run TASK_ID again now: one that ended FAILURE, INVALID, CANCELLED or EXPIRED
        goes back to PENDING, keeping its attempts and last error."""
        app = _client(
            read_from_env, db_host, db_port, db_user, db_name, db_password, db_use_ssl, db_ssl_path
        )
        outcome = app.retry(str(task_id))
        if outcome == "unknown":
            raise overview.FilterError(f"no task has id {task_id!r}")
        if outcome == "refused: unique_key":
            raise overview.FilterError(
                f"{task_id}: not requeued: another live task holds its unique_key"
            )
        if outcome != "requeued":
            raise overview.FilterError(
                f"{task_id}: not requeued: it is {outcome.partition(': ')[2]}; only "
                f"{', '.join(s for s in overview.FINISHED_STATUSES if s != 'SUCCESS')} "
                "tasks can be retried"
            )
        _say(json, f"{task_id}: requeued", {"task_id": str(task_id), "outcome": outcome})

    @staticmethod
    def purge(
        older_than: str,
        status: str | None = None,
        yes: bool = False,
        json: bool = False,
        db_host: str = "127.0.0.1",
        db_port: int = 3306,
        db_user: str = "root",
        db_name: str = "workcraft",
        db_password: str | None = None,
        db_use_ssl: bool = False,
        db_ssl_path: str | None = None,
        read_from_env: bool = True,
    ) -> None:
        """Delete finished tasks (and their attempts) that finished more than OLDER_THAN
        ago (7d, 12h, 30m or seconds). --status: some of SUCCESS, FAILURE, INVALID,
        CANCELLED, EXPIRED (comma-separated; default all). Asks first on a terminal;
        --yes skips the question, and is required when stdin is not a terminal."""
        statuses = overview.finished_statuses(status)
        age = overview.parse_duration(older_than)
        cfg = _db_config(
            read_from_env, db_host, db_port, db_user, db_name, db_password, db_use_ssl, db_ssl_path
        )
        if not yes:
            if not sys.stdin.isatty():
                raise ConfigError(
                    "purge deletes tasks for good: pass --yes (stdin is not a terminal to ask on)"
                )
            counts = overview.read(cfg, lambda c: overview.count_purgeable(c, age, statuses))
            if not sum(counts.values()):
                _say(json, "nothing to purge", {"deleted": 0})
                return
            which = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
            answer = input(f"delete {which} tasks finished more than {older_than} ago? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing deleted")
                sys.exit(1)
        deleted = Workcraft(cfg).purge(age, statuses)
        _say(json, f"deleted {deleted} tasks", {"deleted": deleted})

    @staticmethod
    def metrics(
        window_minutes: float = metrics.DEFAULT_WINDOW_MINUTES,
        db_host: str = "127.0.0.1",
        db_port: int = 3306,
        db_user: str = "root",
        db_name: str = "workcraft",
        db_password: str | None = None,
        db_use_ssl: bool = False,
        db_ssl_path: str | None = None,
        read_from_env: bool = True,
    ) -> None:
        """Print Prometheus metrics (text format 0.0.4), e.g. for node_exporter's textfile
        collector. Durations cover tasks finished in the last --window_minutes."""
        cfg = _db_config(
            read_from_env, db_host, db_port, db_user, db_name, db_password, db_use_ssl, db_ssl_path
        )
        settings = load_settings()
        text = overview.read(
            cfg,
            lambda c: metrics.render_prometheus(c, settings, window_minutes=window_minutes),
        )
        sys.stdout.write(text)

    @staticmethod
    def dashboard(
        host: str = "127.0.0.1",
        port: int = 8080,
        actions: bool = False,
        token: str | None = None,
        refresh: float = 5.0,
        db_host: str = "127.0.0.1",
        db_port: int = 3306,
        db_user: str = "root",
        db_name: str = "workcraft",
        db_password: str | None = None,
        db_use_ssl: bool = False,
        db_ssl_path: str | None = None,
        read_from_env: bool = True,
    ) -> None:
        """Serve the web dashboard (needs: pip install 'workcraft[dashboard]').

        Read-only, on 127.0.0.1, unless told otherwise. --actions=True allows retry,
        cancel and pause/resume, each with the token from WK_DASHBOARD_TOKEN (or
        --token); started from a terminal without one, a token is generated and printed
        once. --port=0 takes a free port. --refresh: seconds between page updates.
        """
        configure_logging("INFO", component="dashboard")
        cfg = _db_config(
            read_from_env, db_host, db_port, db_user, db_name, db_password, db_use_ssl, db_ssl_path
        )
        dashboard.serve(
            cfg,
            load_settings(),
            host=host,
            port=port,
            actions=actions,
            token=token,
            refresh_seconds=refresh,
            interactive=sys.stdout.isatty(),
            announce=lambda line: print(line, flush=True),
        )


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


def _show(as_json: bool, value: T, render: Callable[[T, terminal.Painter], str]) -> None:
    if as_json:
        print(terminal.to_json(value))
    else:
        print(render(value, terminal.Painter(terminal.use_colour(sys.stdout))))


def _say(as_json: bool, line: str, data: dict[str, Any]) -> None:
    print(terminal.to_json(data) if as_json else line)


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
        "host",
        "token",
        "status",
        "name",
        "since",
        "until",
        "cursor",
        "older_than",
    }
)
# Commands whose first positional argument is a name or an id (text, like the flags).
_TEXT_POSITIONAL = frozenset({"cancel", "pause", "resume", "task", "retry", "purge"})


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
