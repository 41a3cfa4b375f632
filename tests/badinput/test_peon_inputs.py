"""Bad input that only the peon can see: tasks it does not know, arguments that do not
fit, results that cannot be stored, names that look like SQL. Each ends as a visible
row (PENDING, INVALID or FAILURE with the reason); the same peon lives on and still
runs a normal task to SUCCESS."""

from __future__ import annotations

import json

import pytest

from tests.acceptance.taskapps.badinput_app import SQL_TASK_NAME, UNICODE_TASK_NAME
from tests.badinput.support import (
    BADINPUT_APP,
    MIB,
    assert_peon_healthy,
    row,
    wait_final,
)
from tests.helpers import execute, query, scalar
from tests.peons import PeonFactory
from workcraft import TaskFailed, Workcraft
from workcraft.config import DBConfig
from workcraft.payload import DEFAULT_MAX_BYTES

WORKCRAFT_TABLES = {"bountyboard", "peon", "logs", "maintenance", "workcraft_schema"}


@pytest.fixture
def app(db_config: DBConfig) -> Workcraft:
    """A sender that registered nothing: it cannot check signatures, the peon must."""
    return Workcraft(db_config=db_config)


def test_an_unknown_task_stays_pending_visible_and_unclaimed(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    peon = peons("no-such-task", "--queues=unknown", workcraft_path=BADINPUT_APP)
    orphan = app.send_task_sync("nobody_has_this", [1], queue="unknown")
    # The peon polls past it: a task sent after it runs to the end.
    assert_peon_healthy(app, peon, queue="unknown")
    waiting = row(db_config, orphan)
    assert waiting["status"] == "PENDING"
    assert waiting["worker_id"] is None and waiting["attempt"] == 0
    assert orphan in [t.id for t in app.pending(queue="unknown")]  # visible as such
    assert orphan not in peon.log()
    execute(
        db_config,
        "UPDATE bountyboard SET status = 'CANCELLED' WHERE id = :id",
        params={"id": orphan},
    )


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "complaint"),
    [
        ("add", [1, 2, 3], None, "too many positional arguments"),
        ("add", [1], None, "missing a required argument: 'b'"),
        ("add", [1, 2], {"c": 3}, "got an unexpected keyword argument 'c'"),
        ("no_args", ["surprise"], None, "too many positional arguments"),
    ],
)
def test_arguments_that_do_not_fit_become_invalid_with_the_reason(
    app: Workcraft,
    db_config: DBConfig,
    peons: PeonFactory,
    name: str,
    args: list[object],
    kwargs: dict[str, object] | None,
    complaint: str,
) -> None:
    peon = peons(f"arity-{name}-{len(args)}", "--queues=arity", workcraft_path=BADINPUT_APP)
    task_id = app.send_task_sync(name, args, kwargs, queue="arity")
    done = wait_final(db_config, task_id)
    assert done["status"] == "INVALID", done
    assert f"arguments do not fit {name}(" in done["error"]
    assert complaint in done["error"]
    assert done["result"] is None and done["attempt"] == 1
    with pytest.raises(TaskFailed) as info:
        app.get_result_sync(task_id, timeout=5)
    assert info.value.status == "INVALID"
    assert complaint in str(info.value)
    assert task_id in [t.id for t in app.failed(queue="arity")]
    assert_peon_healthy(app, peon, queue="arity")


def test_results_that_are_not_json_become_failures_with_a_clear_message(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    peon = peons("bad-results", "--queues=results", workcraft_path=BADINPUT_APP)
    expected = {
        "return_set": "the task returned a set, which is not JSON-serializable",
        "return_object": "which is not JSON-serializable (Object of type object",
        "return_nan": "the task returned a float, which is not JSON-serializable",
    }
    ids = {name: app.send_task_sync(name, queue="results") for name in expected}
    for name, task_id in ids.items():
        done = wait_final(db_config, task_id)
        assert done["status"] == "FAILURE", done
        assert done["result"] is None
        assert expected[name] in done["error"], done["error"]
        assert "return plain data" in done["error"]  # the fix
        with pytest.raises(TaskFailed, match="not JSON-serializable"):
            app.get_result_sync(task_id, timeout=5)
    assert_peon_healthy(app, peon, queue="results")


def test_a_result_over_the_limit_becomes_a_failure_naming_the_limit(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    peon = peons("big-result", "--queues=bigresult", workcraft_path=BADINPUT_APP)
    task_id = app.send_task_sync("return_big", [MIB + 100], queue="bigresult")
    done = wait_final(db_config, task_id)
    assert done["status"] == "FAILURE", done
    assert done["result"] is None
    assert f"the limit is {DEFAULT_MAX_BYTES:,}" in done["error"]
    assert "Workcraft(max_payload_bytes=...)" in done["error"]
    assert_peon_healthy(app, peon, queue="bigresult")


def test_a_result_over_the_limit_is_not_called_unserializable(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    peons("big-result-msg", "--queues=bigresult2", workcraft_path=BADINPUT_APP)
    task_id = app.send_task_sync("return_big", [MIB + 100], queue="bigresult2")
    error = wait_final(db_config, task_id)["error"]
    last_line = error.strip().splitlines()[-1]
    assert "not JSON-serializable" not in last_line, last_line
    assert "TooLarge" in last_line, last_line


def test_names_with_quotes_semicolons_and_unicode_are_stored_literally(
    app: Workcraft, db_config: DBConfig, peons: PeonFactory
) -> None:
    worker_id = "peon'; DROP TABLE peon; -- {x} {}"
    sql_queue = "q; DELETE FROM bountyboard"
    odd_queue = "ü'\"`x -- ✓ {0}"
    tables_before = {str(r[0]) for r in query(db_config, "SHOW TABLES")}
    rows_before = int(scalar(db_config, "SELECT COUNT(*) FROM bountyboard"))

    peon = peons(
        worker_id,
        f"--queues={json.dumps([sql_queue, odd_queue])}",
        workcraft_path=BADINPUT_APP,
    )
    stored = query(db_config, "SELECT id, queues FROM peon WHERE id = :id", {"id": worker_id})
    assert [r.id for r in stored] == [worker_id]
    assert json.loads(stored[0].queues) == [sql_queue, odd_queue]

    sent = {
        app.send_task_sync(SQL_TASK_NAME, ["'; DROP TABLE logs; --"], queue=sql_queue): (
            SQL_TASK_NAME,
            sql_queue,
            "'; DROP TABLE logs; --",
        ),
        app.send_task_sync(UNICODE_TASK_NAME, ["名前✓"], queue=odd_queue): (
            UNICODE_TASK_NAME,
            odd_queue,
            "✓前名",
        ),
        app.send_task_sync("whoami", queue=odd_queue): (
            "whoami",
            odd_queue,
            {"worker": worker_id, "queue": odd_queue, "name": "whoami"},
        ),
    }
    for task_id, (name, queue, result) in sent.items():
        assert app.get_result_sync(task_id, timeout=30) == result
        done = row(db_config, task_id)
        assert (done["task_name"], done["queue"], done["worker_id"]) == (name, queue, worker_id)
        assert f"task {name} {task_id} SUCCESS" in peon.log()
    assert {t.id for t in app.finished(queue=sql_queue)} >= {
        i for i, (_, q, _) in sent.items() if q == sql_queue
    }

    # Nothing was injected: every table is there, every row that should be.
    assert {str(r[0]) for r in query(db_config, "SHOW TABLES")} == tables_before
    assert tables_before >= WORKCRAFT_TABLES
    assert int(scalar(db_config, "SELECT COUNT(*) FROM bountyboard")) == rows_before + len(sent)
    assert scalar(db_config, "SELECT COUNT(*) FROM peon WHERE id = :id", {"id": worker_id}) == 1
    assert_peon_healthy(app, peon, queue=odd_queue)
