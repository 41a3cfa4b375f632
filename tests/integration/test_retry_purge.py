"""The two writes behind the CLI's views: ``app.retry`` and ``app.purge``, on a real
database (maintenance events disabled, so only the tests move rows)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import execute, query, scalar
from workcraft import db, overview, store
from workcraft.config import DBConfig
from workcraft.core import Workcraft, new_task_id


@pytest.fixture
def app(cfg: DBConfig) -> Workcraft:
    execute(cfg, "DELETE FROM task_attempts")
    return Workcraft(db_config=cfg)


def _row(cfg: DBConfig, **columns: Any) -> str:
    """A row; values containing NOW(6) are SQL, the rest bound."""
    values: dict[str, Any] = {"id": new_task_id(), "task_name": "t", **columns}
    sql = [v if isinstance(v, str) and "NOW(6)" in v else f":{k}" for k, v in values.items()]
    execute(
        cfg,
        f"INSERT INTO bountyboard ({', '.join(values)}) VALUES ({', '.join(sql)})",
        params={k: v for k, v in values.items() if not (isinstance(v, str) and "NOW(6)" in v)},
    )
    return str(values["id"])


def _get(cfg: DBConfig, task_id: str) -> dict[str, Any]:
    (row,) = query(cfg, "SELECT * FROM bountyboard WHERE id = :id", {"id": task_id})
    return dict(row._mapping)


@pytest.mark.parametrize("status", ["FAILURE", "INVALID", "CANCELLED", "EXPIRED"])
def test_retry_requeues_a_finished_unsuccessful_task_and_keeps_its_history(
    app: Workcraft, cfg: DBConfig, status: str
) -> None:
    task_id = _row(
        cfg,
        status=status,
        attempt=3,
        retry_count=2,
        retry_stopped=1,
        cancel_requested=1,
        worker_id="w",
        error="Traceback\nValueError: last one",
        started_at="NOW(6) - INTERVAL 1 HOUR",
        finished_at="NOW(6) - INTERVAL 1 HOUR",
        run_at="NOW(6) - INTERVAL 2 HOUR",
        expires_at="NOW(6) - INTERVAL 1 MINUTE",
    )

    assert app.retry(task_id) == "requeued"

    row = _get(cfg, task_id)
    assert row["status"] == "PENDING"
    assert (row["attempt"], row["retry_count"]) == (3, 2)  # the next claim is attempt 4
    assert row["error"] == "Traceback\nValueError: last one"
    assert row["worker_id"] is None and row["finished_at"] is None
    assert not row["retry_stopped"] and not row["cancel_requested"]
    assert row["expires_at"] is None  # an expiry already past would only expire it again
    assert (
        scalar(
            cfg,
            "SELECT run_at <= NOW(6) AND run_at > NOW(6) - INTERVAL 1 MINUTE "
            "FROM bountyboard WHERE id = :id",
            {"id": task_id},
        )
        == 1
    )
    with db.connect(cfg) as conn:
        (claimed,) = store.claim_tasks(conn, "w2", ["DEFAULT"], ["t"], 1)
    assert (claimed.id, claimed.attempt) == (task_id, 4)


def test_retry_keeps_an_expiry_still_ahead(app: Workcraft, cfg: DBConfig) -> None:
    task_id = _row(cfg, status="FAILURE", expires_at="NOW(6) + INTERVAL 1 HOUR")
    before = _get(cfg, task_id)["expires_at"]
    assert app.retry(task_id) == "requeued"
    assert _get(cfg, task_id)["expires_at"] == before


@pytest.mark.parametrize("status", ["PENDING", "RUNNING", "SUCCESS"])
def test_retry_refuses_live_and_successful_tasks(
    app: Workcraft, cfg: DBConfig, status: str
) -> None:
    task_id = _row(cfg, status=status, worker_id="w" if status == "RUNNING" else None)
    before = _get(cfg, task_id)
    assert app.retry(task_id) == f"refused: {status}"
    assert _get(cfg, task_id) == before
    assert app.retry(new_task_id()) == "unknown"


def test_retry_refuses_while_another_task_holds_the_unique_key(
    app: Workcraft, cfg: DBConfig
) -> None:
    failed = _row(cfg, status="FAILURE", unique_key="order-7")
    live = app.send_task_sync("t", unique_key="order-7")
    assert live != failed
    assert app.retry(failed) == "refused: unique_key"
    assert _get(cfg, failed)["status"] == "FAILURE"
    app.cancel(live)
    assert app.retry(failed) == "requeued"


def test_purge_deletes_old_finished_rows_in_batches_with_their_attempts(
    app: Workcraft, cfg: DBConfig
) -> None:
    old = "NOW(6) - INTERVAL 3 DAY"
    doomed = [_row(cfg, status="SUCCESS", finished_at=old) for _ in range(5)]
    doomed.append(_row(cfg, status="FAILURE", finished_at=old))
    kept = {
        "recent": _row(cfg, status="SUCCESS", finished_at="NOW(6) - INTERVAL 1 HOUR"),
        "cancelled": _row(cfg, status="CANCELLED", finished_at=old),
        "pending": _row(cfg, status="PENDING"),
        # a failure the reopen event will still retry is not history yet
        "retryable": _row(
            cfg, status="FAILURE", finished_at=old, retry_on_failure=1, retry_count=0
        ),
    }
    for task_id in (doomed[-1], kept["retryable"]):
        execute(
            cfg,
            "INSERT INTO task_attempts (task_id, attempt, outcome) VALUES (:id, 1, 'FAILURE')",
            params={"id": task_id},
        )
    with db.connect(cfg) as conn:
        counts = overview.count_purgeable(conn, overview.parse_duration("2d"), "SUCCESS,FAILURE")
    assert counts == {"SUCCESS": 5, "FAILURE": 1}

    assert app.purge("2d", ["SUCCESS", "FAILURE"], batch=2) == 6

    left = {r.id for r in query(cfg, "SELECT id FROM bountyboard")}
    assert left == set(kept.values())
    attempts = [r.task_id for r in query(cfg, "SELECT task_id FROM task_attempts")]
    assert attempts == [kept["retryable"]]
    assert app.purge(7200) == 1  # every finished status by default: the old CANCELLED
    with pytest.raises(ValueError, match="RUNNING tasks are not finished"):
        app.purge("1d", "RUNNING")
    with pytest.raises(ValueError, match="not a duration"):
        app.purge("soon")
