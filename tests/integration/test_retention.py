"""History retention: the purge procedure deletes old finished rows in bounded batches."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.helpers import execute, query, scalar
from workcraft import db, store
from workcraft.config import DBConfig, Settings
from workcraft.schema import setup_database

OLD = "NOW(6) - INTERVAL 10 DAY"


@pytest.fixture
def purging(quiet_db: DBConfig, test_settings: Settings) -> DBConfig:
    """Keep SUCCESS 1 day and failures 5 days; events disabled, the test calls the job."""
    settings = replace(test_settings, retention_success_days=1, retention_failure_days=5)
    setup_database(quiet_db, settings)
    with db.connect(quiet_db) as conn:
        for event in store.events(conn):
            conn.exec_driver_sql(f"ALTER EVENT `{event.name}` DISABLE")
    execute(quiet_db, "DELETE FROM bountyboard", "DELETE FROM logs")
    return quiet_db


def _rows(cfg: DBConfig, n: int, status: str, finished: str, **extra: object) -> None:
    cols = ", ".join(extra)
    vals = ", ".join(f":{k}" for k in extra)
    execute(
        cfg,
        "INSERT INTO bountyboard (id, task_name, status, finished_at"
        + (f", {cols}" if cols else "")
        + ") SELECT UUID(), 't', :status, "
        + finished
        + (f", {vals}" if vals else "")
        + " FROM information_schema.COLLATIONS LIMIT :n",
        params={"status": status, "n": n, **extra},
    )


def _purge(cfg: DBConfig) -> None:
    with db.connect(cfg) as conn:
        store.call_procedure(conn, "wc_purge_history_v1")


def test_old_finished_rows_go_recent_and_live_ones_stay(purging: DBConfig) -> None:
    _rows(purging, 5, "SUCCESS", OLD)
    _rows(purging, 5, "SUCCESS", "NOW(6) - INTERVAL 1 HOUR")
    _rows(purging, 3, "FAILURE", "NOW(6) - INTERVAL 3 DAY")  # within the 5 failure days
    _rows(purging, 3, "FAILURE", OLD)
    _rows(purging, 2, "FAILURE", OLD, retry_on_failure=1, retry_limit=3)  # still retryable
    _rows(purging, 2, "CANCELLED", OLD)
    _rows(purging, 4, "PENDING", "NULL")
    _purge(purging)
    left = dict(query(purging, "SELECT status, COUNT(*) FROM bountyboard GROUP BY status"))
    assert left == {"SUCCESS": 5, "FAILURE": 5, "PENDING": 4}
    assert (
        scalar(purging, "SELECT SUM(rows_affected) FROM logs WHERE source = 'purge_history'") == 10
    )


def test_a_backlog_drains_in_bounded_batches(purging: DBConfig) -> None:
    total = scalar(purging, "SELECT COUNT(*) FROM information_schema.COLLATIONS")
    for _ in range(0, 6000, total):
        _rows(purging, total, "SUCCESS", OLD)
    before = scalar(purging, "SELECT COUNT(*) FROM bountyboard")
    assert before >= 6000
    _purge(purging)
    assert scalar(purging, "SELECT COUNT(*) FROM bountyboard") == before - 5000
    _purge(purging)
    assert scalar(purging, "SELECT COUNT(*) FROM bountyboard") == 0


def test_zero_days_keeps_history_forever(quiet_db: DBConfig, test_settings: Settings) -> None:
    setup_database(quiet_db, test_settings)  # retention 0: the default
    execute(quiet_db, "DELETE FROM bountyboard")
    _rows(quiet_db, 3, "SUCCESS", "NOW(6) - INTERVAL 3000 DAY")
    _purge(quiet_db)
    assert scalar(quiet_db, "SELECT COUNT(*) FROM bountyboard") == 3
