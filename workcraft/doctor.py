"""``python -m workcraft verify``: is this database ready for workcraft?

Each check answers one question an operator asks when tasks are not moving:
can we connect, is the schema current, do the maintenance events exist, is the
scheduler on and actually ticking, and does this account have what it needs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from workcraft import store
from workcraft.config import DBConfig, Settings
from workcraft.db import DatabaseError, connect, driver_errors, explain
from workcraft.link import Link
from workcraft.maintenance import events_stalled
from workcraft.schema import latest_version, routine_values

__all__ = ["Check", "run_checks"]

Outcome = Literal["ok", "warn", "fail"]

TABLES = ("bountyboard", "peon", "logs", "maintenance", "workcraft_schema")
PROCEDURES = (
    "wc_claim_task_v1",
    "wc_check_dead_peons_v1",
    "wc_self_correct_tasks_v1",
    "wc_reopen_failed_tasks_v1",
    "wc_purge_history_v1",
)
# For people in a DB GUI (sql/routines/95_views.sql); nothing of workcraft reads them.
VIEWS = ("wc_queue_stats", "wc_live_peons", "wc_recent_failures")
EVENTS = {
    "wc_check_dead_peons": ("check_dead_peons", "check_dead_peon_interval_s"),
    "wc_self_correct_tasks": ("self_correct_tasks", "self_correct_interval_s"),
    "wc_reopen_failed_tasks": ("reopen_failed_tasks", "reopen_failed_interval_s"),
    "wc_purge_history": ("purge_history", "purge_interval_s"),
}
RUNTIME_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "EXECUTE")
SETUP_PRIVILEGES = (
    "CREATE",
    "ALTER",
    "DROP",
    "INDEX",
    "CREATE ROUTINE",
    "ALTER ROUTINE",
    "EVENT",
    "CREATE VIEW",
)
_ALL_PRIVILEGES = frozenset(RUNTIME_PRIVILEGES + SETUP_PRIVILEGES + ("SUPER",))
_GRANT = re.compile(r"^GRANT (?P<privs>.+?) ON (?:(?:PROCEDURE|FUNCTION) )?(?P<target>\S+) TO ")


@dataclass(frozen=True)
class Check:
    name: str
    outcome: Outcome
    detail: str


def run_checks(cfg: DBConfig, settings: Settings | None = None) -> list[Check]:
    """Every check, in the order an operator would look. Never raises for a bad database."""
    settings = settings or Settings()
    try:
        with connect(cfg) as conn:
            checks = [Check("connection", "ok", f"{cfg.describe()}, {store.server_version(conn)}")]
            checks += _schema_checks(conn)
            held = _held_privileges(conn, cfg.database)
            if checks[-1].outcome != "fail":
                # information_schema.EVENTS shows nothing to an account without EVENT
                checks += _maintenance_checks(conn, settings, held is None or "EVENT" in held)
            checks += _privilege_checks(conn, cfg.database, held)
            return checks
    except DatabaseError as exc:
        return [Check("connection", "fail", str(exc))]
    except driver_errors() as exc:
        return [Check("connection", "fail", str(explain(exc, cfg)))]


def _schema_checks(conn: Link) -> list[Check]:
    version = store.schema_version(conn)
    latest = latest_version()
    if version is not None and version < latest:
        return [
            Check(
                "schema",
                "fail",
                f"version {version}, this package needs {latest}: run python -m workcraft "
                "setup_database_tables to upgrade in place (rows are kept)",
            )
        ]
    if version is not None and version > latest:
        return [Check("schema", "fail", f"version {version} is newer than this package ({latest})")]
    missing = [t for t in TABLES if t not in store.table_names(conn)]
    if version is None or missing:
        return [
            Check(
                "schema",
                "fail",
                f"missing tables {', '.join(missing)}: run python -m workcraft "
                "setup_database_tables",
            )
        ]
    checks = [Check("schema", "ok", f"version {version}")]
    absent = [p for p in PROCEDURES if p not in store.routines(conn)]
    checks.append(
        Check("procedures", "fail", f"missing {', '.join(absent)}: run setup_database_tables")
        if absent
        else Check("procedures", "ok", ", ".join(PROCEDURES))
    )
    no_views = [v for v in VIEWS if v not in store.table_names(conn)]  # views are listed too
    checks.append(
        Check("views", "warn", f"missing {', '.join(no_views)}: run setup_database_tables")
        if no_views
        else Check("views", "ok", ", ".join(VIEWS))
    )
    return checks


def _maintenance_checks(conn: Link, settings: Settings, sees_events: bool) -> list[Check]:
    checks = []
    scheduler = store.event_scheduler(conn)
    if scheduler == "ON":
        checks.append(Check("event scheduler", "ok", "ON"))
    else:
        checks.append(
            Check(
                "event scheduler",
                "fail",
                f"{scheduler}: maintenance events will not run. An admin must execute "
                "SET GLOBAL event_scheduler = ON; and set event_scheduler=ON in my.cnf",
            )
        )
    present = {e.name: e for e in store.events(conn)}
    states = store.maintenance_states(conn)
    values = routine_values(settings)
    for event_name, (job, interval_key) in EVENTS.items():
        event = present.get(event_name)
        state = states.get(job)
        if event is None and not sees_events:
            # judged by what the event leaves behind: its tick in the maintenance table
            interval = int(values[interval_key])
            check = _tick_check(event_name, interval, state, scheduler == "ON")
            check = Check(
                check.name,
                check.outcome,
                check.detail + " (this account cannot "
                "see events without the EVENT privilege; judged by its ticks)",
            )
        elif event is None:
            check = Check(f"event {event_name}", "fail", "missing: run setup_database_tables")
        elif event.status != "ENABLED":
            check = Check(f"event {event_name}", "fail", f"status {event.status}")
        else:
            interval = event.interval_seconds or int(values[interval_key])
            check = _tick_check(event_name, interval, state, scheduler == "ON")
        checks.append(_with_stand_in(check, state))
    return checks


def _tick_check(
    event_name: str, interval: int, state: store.MaintenanceJobState | None, scheduler_on: bool
) -> Check:
    every = f"every {interval} s"
    if state is None or state.seconds_since_event is None:
        outcome: Outcome = "warn" if scheduler_on else "fail"
        return Check(f"event {event_name}", outcome, f"{every}; has not run yet")
    detail = f"{every}; last ran {state.seconds_since_event:.1f} s ago"
    if events_stalled(state, interval):
        return Check(f"event {event_name}", "fail", detail + ": it stopped ticking")
    return Check(f"event {event_name}", "ok", detail)


def _with_stand_in(check: Check, state: store.MaintenanceJobState | None) -> Check:
    """Say so when peons do the job the event should (the system still heals)."""
    if check.outcome == "ok" or state is None or state.last_run_by in (None, "event"):
        return check
    if state.seconds_since_run is None:
        return check
    return Check(
        check.name,
        check.outcome,
        f"{check.detail}; peons stand in (last run by {state.last_run_by} "
        f"{state.seconds_since_run:.1f} s ago)",
    )


def _held_privileges(conn: Link, database: str) -> set[str] | None:
    try:
        return granted_privileges(store.grants(conn), database)
    except driver_errors():
        return None


def _privilege_checks(conn: Link, database: str, held: set[str] | None) -> list[Check]:
    if held is None:
        return [Check("privileges", "warn", "SHOW GRANTS is not allowed; could not check")]
    user = store.current_user(conn)
    runtime_missing = [p for p in RUNTIME_PRIVILEGES if p not in held]
    setup_missing = [p for p in SETUP_PRIVILEGES if p not in held]
    return [
        Check(
            "privileges (peons, apps)",
            "fail" if runtime_missing else "ok",
            f"{user} lacks {', '.join(runtime_missing)} on {database}"
            if runtime_missing
            else f"{user}: {', '.join(RUNTIME_PRIVILEGES)}",
        ),
        Check(
            "privileges (setup)",
            "warn" if setup_missing else "ok",
            f"{user} lacks {', '.join(setup_missing)}: fine for a peon/app account, "
            "setup_database_tables needs an admin"
            if setup_missing
            else f"{user} can run setup_database_tables",
        ),
    ]


def granted_privileges(grant_lines: Iterable[str], database: str) -> set[str]:
    """Privileges that apply to every workcraft table in ``database``, from SHOW GRANTS.

    Global and database-level grants count (with LIKE wildcards in the database
    name); table-level grants count only when every workcraft table has them.
    """
    held: set[str] = set()
    per_table: dict[str, set[str]] = {}
    for line in grant_lines:
        match = _GRANT.match(line)
        if not match:
            continue  # role grants and proxies
        privileges = _split_privileges(match.group("privs"))
        db, _, table = match.group("target").partition(".")
        db, table = db.strip("`"), table.strip("`")
        if db != "*" and not _like(db, database):
            continue
        if table == "*":
            held |= privileges
        elif line.startswith("GRANT") and " PROCEDURE " in line:
            held |= privileges & {"EXECUTE"}
        else:
            per_table.setdefault(table, set()).update(privileges)
    if all(t in per_table for t in TABLES):
        held |= set.intersection(*(per_table[t] for t in TABLES))
    return held


def _split_privileges(text: str) -> set[str]:
    names = {re.sub(r"\s*\(.*?\)", "", p).strip().upper() for p in text.split(",")}
    if "ALL" in names or "ALL PRIVILEGES" in names:
        return set(_ALL_PRIVILEGES)
    return names


def _like(pattern: str, name: str) -> bool:
    regex = ""
    escaped = False
    for char in pattern:
        if escaped:
            regex += re.escape(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            regex += ".*"
        elif char == "_":
            regex += "."
        else:
            regex += re.escape(char)
    return re.fullmatch(regex, name) is not None
