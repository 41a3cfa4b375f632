"""Creating and upgrading workcraft's tables, procedures and events.

``setup_database`` is the only code that changes the schema. It is safe to run
again at any time: tables move forward through the numbered migrations in
``sql/migrations`` (rows kept), and procedures and events are re-created from
``sql/routines`` with the current settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from loguru import logger

from workcraft import sql_files, store
from workcraft.config import DBConfig, Settings
from workcraft.db import connect, driver_error, driver_errors, error_code, explain
from workcraft.link import Link
from workcraft.version import __version__

__all__ = [
    "SchemaError",
    "SetupReport",
    "latest_version",
    "package_version",
    "routine_values",
    "setup_database",
]

_SETUP_LOCK_TIMEOUT_SECONDS = 60
_NO_PRIVILEGE = {1044, 1045, 1142, 1227, 1370}
_SCHEDULER_STATEMENT = "SET GLOBAL event_scheduler = ON;"
# Rows a purge deletes per status and tick: small enough that no tick holds its locks
# for long, large enough to keep up with thousands of tasks a second.
_PURGE_BATCH = 5000


class SchemaError(RuntimeError):
    """The database's schema cannot be set up or is not what this package expects."""


@dataclass
class SetupReport:
    database: str
    version_before: int | None
    version_after: int
    applied: list[str] = field(default_factory=list)
    event_scheduler: str = ""
    warnings: list[str] = field(default_factory=list)


def package_version() -> str:
    return __version__


def latest_version() -> int:
    return len(sql_files.migrations())


def routine_values(settings: Settings) -> dict[str, int | float]:
    """The numbers baked into procedures and events.

    Events tick in whole seconds (neither server takes a fractional EVERY), so their
    intervals are rounded up; timeouts and backoffs keep microseconds.
    """
    return {
        "dead_peon_timeout_us": round(settings.dead_peon_timeout * 1e6),
        "backoff_multiplier_us": round(settings.backoff_multiplier_seconds * 1e6),
        "backoff_max_us": round(settings.backoff_max_seconds * 1e6),
        "max_peon_deaths_per_task": settings.max_peon_deaths_per_task,
        "check_dead_peon_interval_s": max(1, math.ceil(settings.check_dead_peon_interval)),
        "self_correct_interval_s": max(1, math.ceil(settings.self_correct_interval)),
        "reopen_failed_interval_s": max(1, math.ceil(settings.reopen_failed_interval)),
        "purge_interval_s": max(1, math.ceil(settings.purge_interval)),
        "retention_success_us": round(settings.retention_success_days * 86_400e6),
        "retention_failure_us": round(settings.retention_failure_days * 86_400e6),
        "purge_batch": _PURGE_BATCH,
    }


def setup_database(
    cfg: DBConfig, settings: Settings | None = None, *, drop_tables: bool = False
) -> SetupReport:
    """Create or upgrade everything workcraft needs in ``cfg.database``."""
    settings = settings or Settings()
    _ensure_database(cfg)
    try:
        with connect(cfg) as conn:
            lock = f"workcraft_setup.{cfg.database}"
            if not store.get_setup_lock(conn, lock, _SETUP_LOCK_TIMEOUT_SECONDS):
                raise SchemaError(
                    f"another setup_database_tables has held the lock on {cfg.database!r} "
                    f"for {_SETUP_LOCK_TIMEOUT_SECONDS} s; wait for it to finish"
                )
            try:
                return _setup_locked(conn, cfg, settings, drop_tables)
            finally:
                store.release_setup_lock(conn, lock)
    except driver_errors() as exc:
        if error_code(exc) in _NO_PRIVILEGE:
            raise SchemaError(
                f"{cfg.user!r} may not change the schema of {cfg.database!r}: "
                f"{driver_error(exc)}. Run setup as an admin account (see README: least privilege)"
            ) from None
        raise explain(exc, cfg) from None


def _ensure_database(cfg: DBConfig) -> None:
    try:
        with connect(cfg, with_database=False) as conn:
            if not store.database_exists(conn, cfg.database):
                logger.info("creating database {}", cfg.database)
                store.create_database(conn, cfg.database)
    except driver_errors() as exc:
        if error_code(exc) in _NO_PRIVILEGE:
            raise SchemaError(
                f"database {cfg.database!r} does not exist and {cfg.user!r} may not create "
                f"it: ask an admin to run CREATE DATABASE {cfg.database}"
            ) from None
        raise explain(exc, cfg) from None


def _setup_locked(conn: Link, cfg: DBConfig, settings: Settings, drop_tables: bool) -> SetupReport:
    if drop_tables:
        logger.warning("dropping workcraft's tables, procedures and events in {}", cfg.database)
        for statement in sql_files.statements((sql_files.sql_dir() / "drop.sql").read_text()):
            store.run_script_statement(conn, statement)

    before = store.schema_version(conn)
    if before is None and "bountyboard" in store.table_names(conn):
        raise SchemaError(
            f"{cfg.database!r} has a bountyboard table that this workcraft did not create "
            "(perhaps the original workcraft 0.5): back up its rows, then run "
            "setup_database_tables --drop_tables=True, or use another WK_DB_NAME"
        )
    for statement in sql_files.statements((sql_files.sql_dir() / "schema_version.sql").read_text()):
        store.run_script_statement(conn, statement)

    migrations = sql_files.migrations()
    current = before or 0
    if current > len(migrations):
        raise SchemaError(
            f"{cfg.database!r} is at schema version {current}, newer than this package "
            f"knows ({len(migrations)}): upgrade workcraft (pip install -U workcraft)"
        )
    report = SetupReport(cfg.database, before, len(migrations))
    for migration in migrations[current:]:
        logger.info("applying migration {:04d}_{}", migration.version, migration.name)
        for statement in migration.statements():
            store.run_script_statement(conn, statement)
        store.record_migration(conn, migration.version, migration.name, package_version())
        conn.commit()
        report.applied.append(f"{migration.version:04d}_{migration.name}")

    values = routine_values(settings)
    for path in sql_files.routine_files():
        for statement in sql_files.statements(sql_files.render(path.read_text(), values)):
            store.run_script_statement(conn, statement)
    conn.commit()

    report.event_scheduler = _turn_on_event_scheduler(conn, report.warnings)
    for warning in report.warnings:
        logger.warning(warning)
    logger.info(
        "schema of {} is at version {} (was {}); event scheduler {}",
        cfg.database,
        report.version_after,
        "none" if before is None else before,
        report.event_scheduler,
    )
    return report


def _turn_on_event_scheduler(conn: Link, warnings: list[str]) -> str:
    state = store.event_scheduler(conn)
    if state == "ON":
        return state
    if state == "DISABLED":
        warnings.append(
            "the event scheduler is DISABLED at server start, so the maintenance events will "
            "not run: set event_scheduler=ON in the server's configuration (my.cnf) and "
            "restart the server"
        )
        return state
    try:
        store.enable_event_scheduler(conn)
        return store.event_scheduler(conn)
    except driver_errors() as exc:
        if error_code(exc) not in _NO_PRIVILEGE:
            raise
        warnings.append(
            "the event scheduler is OFF and this account may not turn it on, so the "
            "maintenance events will not run. An admin must execute: "
            f"{_SCHEDULER_STATEMENT} (and set event_scheduler=ON in my.cnf to keep it)"
        )
        return state
