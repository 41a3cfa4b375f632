"""The SQL views for DB GUIs (sql/routines/95_views.sql): what they show, that setup
re-creates them and drop removes them, and who may read them."""

from __future__ import annotations

import pymysql
import pytest
from sqlalchemy import text

from tests.helpers import execute, query, scalar, temporary_user
from workcraft import db, overview, sql_files, store
from workcraft.config import DBConfig, Settings
from workcraft.core import Workcraft, new_task_id
from workcraft.schema import SchemaError, setup_database

VIEWS = ("wc_live_peons", "wc_queue_stats", "wc_recent_failures")
RUNTIME_GRANTS = "SELECT, INSERT, UPDATE, DELETE, EXECUTE"
# README, "Least-privilege accounts": what setup_database_tables needs
ADMIN_GRANTS = (
    "SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, CREATE ROUTINE, "
    "ALTER ROUTINE, EVENT, EXECUTE, CREATE VIEW"
)


@pytest.fixture
def clean(cfg: DBConfig) -> DBConfig:
    execute(cfg, "DELETE FROM queue_state", "DELETE FROM task_attempts")
    return cfg


def _views(cfg: DBConfig) -> dict[str, str]:
    rows = query(
        cfg,
        "SELECT TABLE_NAME, SECURITY_TYPE FROM information_schema.VIEWS "
        "WHERE TABLE_SCHEMA = DATABASE()",
    )
    return {str(r[0]): str(r[1]) for r in rows}


def _insert(cfg: DBConfig, queue: str, status: str, **columns: str) -> str:
    """A row; column values containing NOW(6) go in as SQL, the others as bound values."""
    task_id = new_task_id()
    values: dict[str, str] = {"id": task_id, "task_name": "t", "queue": queue, "status": status}
    values.update(columns)
    sql = [v if "NOW(6)" in v else f":{k}" for k, v in values.items()]
    execute(
        cfg,
        f"INSERT INTO bountyboard ({', '.join(values)}) VALUES ({', '.join(sql)})",
        params={k: v for k, v in values.items() if "NOW(6)" not in v},
    )
    return task_id


def test_setup_installs_the_views_as_invoker(db_config: DBConfig) -> None:
    assert _views(db_config) == dict.fromkeys(VIEWS, "INVOKER")


def test_wc_queue_stats_matches_the_read_model(clean: DBConfig) -> None:
    for status in ("SUCCESS", "SUCCESS", "FAILURE", "RUNNING", "EXPIRED"):
        _insert(clean, "A", status)
    _insert(clean, "A", "PENDING", run_at="NOW(6) - INTERVAL 20 SECOND")
    _insert(clean, "A", "PENDING", run_at="NOW(6) + INTERVAL 1 HOUR")
    _insert(clean, 'B "quoted"', "CANCELLED")
    Workcraft(db_config=clean).pause_queue("nothing-here")
    Workcraft(db_config=clean).pause_queue("A")

    rows = {r.queue: r for r in query(clean, "SELECT * FROM wc_queue_stats ORDER BY queue")}

    with db.connect(clean) as conn:
        stats = {q.queue: q for q in overview.queue_stats(conn)}
    assert set(rows) == set(stats) == {"A", 'B "quoted"', "nothing-here"}
    for queue, q in stats.items():
        row = rows[queue]
        assert {s: int(getattr(row, s.lower())) for s in overview.STATUSES} == q.counts, queue
        assert bool(row.paused) == q.paused, queue
    assert 20 <= float(rows["A"].oldest_pending_seconds) < 80
    assert rows['B "quoted"'].oldest_pending_seconds is None


def test_wc_live_peons_flags_silent_peons_by_the_dead_peon_timeout(
    clean: DBConfig, test_settings: Settings
) -> None:
    timeout = test_settings.dead_peon_timeout
    for name, status, age in (
        ("beating", "IDLE", 0.0),
        ("silent", "WORKING", timeout + 10),
        ("offline", "OFFLINE", 0.0),
    ):
        execute(
            clean,
            "INSERT INTO peon (id, status, last_heartbeat, queues, host, pid) "
            "VALUES (:id, :status, NOW(6) - INTERVAL :us MICROSECOND, '[\"A\"]', 'h', 1)",
            params={"id": name, "status": status, "us": round(age * 1e6)},
        )

    rows = {r.id: r for r in query(clean, "SELECT * FROM wc_live_peons")}

    assert set(rows) == {"beating", "silent"}  # OFFLINE peons are not live
    assert rows["beating"].alive == 1 and rows["silent"].alive == 0
    assert float(rows["beating"].heartbeat_age_seconds) < timeout
    assert float(rows["silent"].heartbeat_age_seconds) >= timeout + 10


def test_wc_recent_failures_lists_a_days_failures_with_their_last_line(clean: DBConfig) -> None:
    recent = "NOW(6) - INTERVAL 1 MINUTE"
    failed = _insert(
        clean,
        "A",
        "FAILURE",
        error='Traceback (most recent call last):\r\n  File "x"\r\nValueError: boom\r\n\n',
        finished_at=recent,
    )
    invalid = _insert(clean, "A", "INVALID", error="task 't' is not registered", finished_at=recent)
    _insert(clean, "A", "FAILURE", error="old", finished_at="NOW(6) - INTERVAL 25 HOUR")
    _insert(clean, "A", "SUCCESS", error="an earlier attempt's error", finished_at=recent)

    rows = query(clean, "SELECT id, status, error_line FROM wc_recent_failures")

    assert {(r.id, r.status, r.error_line) for r in rows} == {
        (failed, "FAILURE", "ValueError: boom"),
        (invalid, "INVALID", "task 't' is not registered"),
    }


@pytest.mark.parametrize("grants", [RUNTIME_GRANTS, "SELECT"])
def test_accounts_that_may_read_the_tables_may_read_the_views(
    db_server: DBConfig, db_config: DBConfig, grants: str
) -> None:
    _insert(db_config, "A", "FAILURE", finished_at="NOW(6)")
    with temporary_user(db_server, db_config.database, grants) as reader:
        for view in VIEWS:
            assert scalar(reader, f"SELECT COUNT(*) FROM {view}") is not None, view
        # invoker's rights: the views read as this account, which sees the rows
        assert scalar(reader, "SELECT COUNT(*) FROM wc_recent_failures") >= 1


def test_a_grant_on_a_view_alone_does_not_open_the_tables_under_it(
    db_server: DBConfig, db_config: DBConfig
) -> None:
    with temporary_user(db_server, db_config.database, "USAGE") as outsider:
        with db.connect(db_server, with_database=False) as conn:
            conn.execute(
                text(
                    f"GRANT SELECT ON `{db_config.database}`.`wc_recent_failures` "
                    f"TO '{outsider.user}'@'%'"
                )
            )
        with pytest.raises(pymysql.err.Error) as info:
            scalar(outsider, "SELECT COUNT(*) FROM wc_recent_failures")
        # invoker's rights: the view reads bountyboard as this account, which may not
        # (a DEFINER view would have read it as the account that ran setup)
        assert db.error_code(info.value) in (1142, 1356), info.value


def test_setup_again_keeps_the_views_and_drop_removes_them(
    empty_database: DBConfig, test_settings: Settings
) -> None:
    setup_database(empty_database, test_settings)
    setup_database(empty_database, test_settings)
    assert _views(empty_database) == dict.fromkeys(VIEWS, "INVOKER")

    with db.connect(empty_database) as conn:
        for statement in sql_files.statements((sql_files.sql_dir() / "drop.sql").read_text()):
            store.run_script_statement(conn, statement)
    assert _views(empty_database) == {}
    with db.connect(empty_database) as conn:
        assert store.table_names(conn) == set()

    report = setup_database(empty_database, test_settings, drop_tables=True)
    assert report.version_after == len(sql_files.migrations())
    assert _views(empty_database) == dict.fromkeys(VIEWS, "INVOKER")


def test_the_readme_admin_grants_suffice_for_setup_and_views_need_create_view(
    db_server: DBConfig, empty_database: DBConfig, test_settings: Settings
) -> None:
    with temporary_user(db_server, empty_database.database, ADMIN_GRANTS) as admin:
        report = setup_database(admin, test_settings)
    assert report.version_after == len(sql_files.migrations())
    assert _views(empty_database) == dict.fromkeys(VIEWS, "INVOKER")

    without = ADMIN_GRANTS.replace(", CREATE VIEW", "")
    with (
        temporary_user(db_server, empty_database.database, without) as admin,
        pytest.raises(SchemaError, match="may not change the schema"),
    ):
        setup_database(admin, test_settings)
