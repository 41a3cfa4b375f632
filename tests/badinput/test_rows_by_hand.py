"""Rows written by hand in SQL (a DB GUI, a migration script gone wrong): what the
schema refuses outright, and what the peons and the maintenance make of the rest. A
bad row is never a crashed peon: it becomes INVALID with the reason, runs, or waits
visibly, and the same peon still runs a normal task to SUCCESS."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from tests.badinput.support import (
    BADINPUT_APP,
    assert_peon_healthy,
    row,
    wait_final,
    wait_status,
)
from tests.helpers import execute, query, scalar, wait_for
from tests.peons import PeonFactory
from workcraft import Workcraft, db, store
from workcraft.config import DBConfig

INT_MAX, INT_MIN = 2**31 - 1, -(2**31)
# MariaDB reports a failed CHECK (json_valid included) as 4025; MySQL as 3819, and
# invalid JSON text as 3140.
CHECK_FAILED = {4025, 3819}
INVALID_JSON = {4025, 3140}


@pytest.fixture
def app(db_config: DBConfig) -> Workcraft:
    return Workcraft(db_config=db_config)


def _insert(cfg: DBConfig, **columns: Any) -> str:
    """One bountyboard row exactly as given (the id and a task name filled in)."""
    values = {"id": str(uuid.uuid4()), "task_name": "add", **columns}
    names = ", ".join(values)
    params = ", ".join(f":{k}" for k in values)
    execute(cfg, f"INSERT INTO bountyboard ({names}) VALUES ({params})", params=values)
    return str(values["id"])


@pytest.fixture
def cleanup(db_config: DBConfig) -> Iterator[list[str]]:
    """Ids of rows to delete when the test ends (poison rows must not outlive it)."""
    ids: list[str] = []
    yield ids
    if ids:
        execute(db_config, "DELETE FROM bountyboard WHERE id IN :ids", params={"ids": tuple(ids)})


# ------------------------------------------------------------ refused by the schema


def test_invalid_json_is_refused_by_the_database_itself(
    app: Workcraft, db_config: DBConfig
) -> None:
    before = int(scalar(db_config, "SELECT COUNT(*) FROM bountyboard"))
    for text in ("not json", '{"task_args": [1,', "{'single': 'quotes'}", "[1, 2,]"):
        with pytest.raises(pymysql.err.Error) as info:
            _insert(db_config, payload=text)
        assert db.error_code(info.value) in INVALID_JSON, info.value
    assert int(scalar(db_config, "SELECT COUNT(*) FROM bountyboard")) == before

    # Nor can a good row be edited into bad JSON, in payload or result.
    task_id = app.send_task_sync("add", [1, 2], queue="never-run")
    for column in ("payload", "result"):
        with pytest.raises(pymysql.err.Error) as info:
            execute(
                db_config,
                f"UPDATE bountyboard SET {column} = 'oops{{' WHERE id = :id",
                params={"id": task_id},
            )
        assert db.error_code(info.value) in INVALID_JSON
    assert json.loads(row(db_config, task_id)["payload"])["task_args"] == [1, 2]
    execute(db_config, "DELETE FROM bountyboard WHERE id = :id", params={"id": task_id})


@pytest.mark.parametrize(
    ("columns", "codes"),
    [
        ({"retry_limit": -1}, CHECK_FAILED),
        ({"retry_count": -5}, CHECK_FAILED),
        ({"status": "BOGUS"}, {1265}),  # ENUM, strict mode
        ({"status": "pending"}, {1265}),  # utf8mb4_bin: statuses compare byte for byte
        ({"task_name": None}, {1048}),
        ({"queue": None}, {1048}),
        ({"status": None}, {1048}),
        ({"priority": 2**31}, {1264}),
        ({"priority": "high"}, {1366}),
        ({"attempt": -1.5e12}, CHECK_FAILED),
        ({"run_at": "next tuesday"}, {1292}),
        ({"id": None}, {1048}),
    ],
    ids=lambda v: json.dumps(v) if isinstance(v, dict) else None,
)
def test_wrong_or_missing_column_values_are_refused_by_the_schema(
    db_config: DBConfig, columns: dict[str, Any], codes: set[int]
) -> None:
    marker = f"by-hand-{uuid.uuid4().hex[:8]}"
    with pytest.raises(pymysql.err.Error) as info:
        _insert(db_config, **{"queue": marker, **columns})
    assert db.error_code(info.value) in codes, info.value
    assert (
        scalar(db_config, "SELECT COUNT(*) FROM bountyboard WHERE queue = :q", {"q": marker}) == 0
    )


# ---------------------------------------------------- valid JSON of the wrong shape


def test_payloads_of_the_wrong_shape_become_invalid_or_run_and_the_peon_goes_on(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    peon = peons("shapes", "--queues=shapes", workcraft_path=BADINPUT_APP)
    invalid = {
        "[]": "payload must be a JSON object, got list",
        "[1, 2]": "payload must be a JSON object, got list",
        '"text"': "payload must be a JSON object, got str",
        "5": "payload must be a JSON object, got int",
        "null": "payload must be a JSON object, got NoneType",
        '{"task_args": 5}': "payload task_args must be a JSON array, got int",
        '{"task_args": {"a": 1}}': "payload task_args must be a JSON array, got dict",
        '{"task_kwargs": []}': "payload task_kwargs must be a JSON object, got list",
        '{"task_kwargs": "a=1"}': "payload task_kwargs must be a JSON object, got str",
    }
    bad = {_insert(db_config, queue="shapes", payload=text): why for text, why in invalid.items()}
    # What the code runs: a missing payload or missing keys mean "no arguments", and
    # keys it does not know are ignored.
    runs = {
        _insert(db_config, queue="shapes", task_name="no_args", payload=None): (
            "ran without arguments"
        ),
        _insert(db_config, queue="shapes", task_name="no_args", payload="{}"): (
            "ran without arguments"
        ),
        _insert(db_config, queue="shapes", payload='{"task_kwargs": {"a": 1, "b": 2}}'): 3,
        _insert(db_config, queue="shapes", payload='{"task_args": [1, 2], "extra": true}'): 3,
        _insert(
            db_config,
            queue="shapes",
            task_name="describe",
            payload='{"task_args": [[1], {"k": null}], "task_kwargs": {"ü": "✓"}}',
        ): {"args": [[1], {"k": None}], "kwargs": {"ü": "✓"}},
    }
    # A missing payload for a task that needs arguments: the arguments do not fit.
    no_payload_add = _insert(db_config, queue="shapes", payload=None)

    for task_id, why in bad.items():
        done = wait_final(db_config, task_id)
        assert done["status"] == "INVALID", done
        assert why in done["error"], done["error"]
        assert "written outside workcraft" in done["error"]
        # Readers survive the bad row too.
        task = app.get_task_sync(task_id)
        assert task is not None and (task.args, task.kwargs) == ([], {})
    for task_id, result in runs.items():
        assert app.get_result_sync(task_id, timeout=30) == result
    done = wait_final(db_config, no_payload_add)
    assert done["status"] == "INVALID"
    assert "missing a required argument: 'a'" in done["error"]
    assert set(bad) <= {t.id for t in app.failed(queue="shapes", limit=50)}
    assert_peon_healthy(app, peon, queue="shapes")


# ----------------------------------------------------------- legal but odd values


def test_odd_but_legal_rows_wait_run_in_order_or_are_rescued(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    args = json.dumps({"task_args": [1, 1]})
    future = _insert(db_config, queue="odd", payload=args, run_at="2999-12-31 00:00:00")
    lowest = _insert(db_config, queue="odd", payload=args, priority=INT_MIN)
    middle = _insert(db_config, queue="odd", payload=args, priority=0)
    highest = _insert(db_config, queue="odd", payload=args, priority=INT_MAX)
    # RUNNING, but no live peon holds it: by nobody, or by a peon that never existed.
    orphan = _insert(db_config, queue="odd", payload=args, status="RUNNING", worker_id=None)
    ghost = _insert(db_config, queue="odd", payload=args, status="RUNNING", worker_id="ghost")
    # A huge retry budget is only a number.
    generous = _insert(
        db_config, queue="odd", payload=args, retry_on_failure=1, retry_limit=INT_MAX
    )

    peon = peons("odd", "--queues=odd", "--concurrency=1", workcraft_path=BADINPUT_APP)
    for task_id in (lowest, middle, highest, orphan, ghost, generous):
        assert app.get_result_sync(task_id, timeout=30) == 2
    started = {t: row(db_config, t)["started_at"] for t in (highest, middle, lowest)}
    assert started[highest] < started[middle] < started[lowest]
    for task_id in (orphan, ghost):
        rescued = row(db_config, task_id)
        assert rescued["requeue_count"] == 1 and rescued["worker_id"] == "odd"

    waiting = row(db_config, future)
    assert waiting["status"] == "PENDING" and waiting["attempt"] == 0
    assert future in {t.id for t in app.pending(queue="odd")}
    assert_peon_healthy(app, peon, queue="odd")
    execute(db_config, "DELETE FROM bountyboard WHERE id = :id", params={"id": future})


# ---------------------------------------------- counters at the end of their range


def test_a_row_at_the_attempt_limit_does_not_block_its_queue(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory, cleanup: list[str]
) -> None:
    cleanup.append(
        _insert(
            db_config,
            queue="attempts",
            payload=json.dumps({"task_args": [1, 1]}),
            attempt=INT_MAX,
            priority=5,
        )
    )
    peon = peons("attempts", "--queues=attempts", workcraft_path=BADINPUT_APP)
    innocent = app.send_task_sync("add", [2, 2], queue="attempts")
    try:
        wait_status(db_config, innocent, "SUCCESS", timeout=3)
    finally:
        assert peon.alive()


def test_a_row_at_the_requeue_limit_does_not_stop_self_correction(
    db_config: DBConfig, cleanup: list[str]
) -> None:
    cleanup.append(_insert(db_config, queue="never", status="RUNNING", requeue_count=INT_MAX))
    abandoned = _insert(db_config, queue="never", status="RUNNING", worker_id="gone")
    cleanup.append(abandoned)
    with db.connect(db_config) as conn:
        store.call_procedure(conn, "wc_self_correct_tasks_v1", caller="manual")
    assert row(db_config, abandoned)["status"] == "PENDING"


def test_a_task_with_a_thousand_retries_does_not_stop_all_retries(
    app: Workcraft, db_config: DBConfig, cleanup: list[str]
) -> None:
    # retry_limit=5000 is accepted by send_task_sync; the 1100 failures are fast-forwarded.
    stubborn = app.send_task_sync(
        "add", [1, 2], queue="never", retry_on_failure=True, retry_limit=5000
    )
    other = app.send_task_sync("add", [3, 4], queue="never", retry_on_failure=True)
    cleanup.extend([stubborn, other])
    execute(
        db_config,
        "UPDATE bountyboard SET status = 'FAILURE', finished_at = NOW(6) - INTERVAL 1 DAY, "
        "retry_count = IF(id = :stubborn, 1100, 0) WHERE id IN (:stubborn, :other)",
        params={"stubborn": stubborn, "other": other},
    )
    with db.connect(db_config) as conn:
        store.call_procedure(conn, "wc_reopen_failed_tasks_v1", caller="manual")
    assert row(db_config, other)["status"] == "PENDING"


def test_rows_nobody_can_run_leave_the_other_queues_alone(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    """The peon keeps serving every queue it was given while bad rows sit in one."""
    bad = _insert(db_config, queue="mixed-a", payload='"not an object"')
    peon = peons(
        "mixed", "--queues=mixed-a,mixed-b", "--concurrency=2", workcraft_path=BADINPUT_APP
    )
    assert wait_final(db_config, bad)["status"] == "INVALID"
    for queue in ("mixed-a", "mixed-b"):
        assert_peon_healthy(app, peon, queue=queue)
    wait_for(lambda: "INVALID" in peon.log(), 5, message=peon.log)
    assert query(db_config, "SELECT status FROM peon WHERE id = 'mixed'")[0].status in (
        "IDLE",
        "WORKING",
    )
