"""Bulk, transactional and unique sends on the real database."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.helpers import execute, query, scalar
from workcraft import Workcraft, db
from workcraft.config import DBConfig


@pytest.fixture
def app(db_config: DBConfig) -> Workcraft:
    execute(db_config, "DELETE FROM bountyboard")
    return Workcraft(db_config=db_config)


def test_bulk_send_inserts_every_task_in_order(app: Workcraft, db_config: DBConfig) -> None:
    ids = app.send_tasks_sync(
        [{"task_name": "add", "task_args": [i, i], "priority": i % 3} for i in range(2500)]
    )
    assert len(ids) == len(set(ids)) == 2500
    assert ids == sorted(ids)  # time-ordered ids, in the order given
    rows = {r.id: r for r in query(db_config, "SELECT id, payload, priority FROM bountyboard")}
    assert json.loads(rows[ids[7]].payload)["task_args"] == [7, 7]
    assert rows[ids[7]].priority == 1


def test_a_bad_item_in_a_bulk_send_writes_none(app: Workcraft, db_config: DBConfig) -> None:
    with pytest.raises(TypeError, match="item 1: unknown key"):
        app.send_tasks_sync([{"task_name": "a"}, {"task_name": "b", "colour": "red"}])
    with pytest.raises(TypeError, match="not JSON-serializable"):
        app.send_tasks_sync([{"task_name": "a"}, {"task_name": "b", "task_args": [object()]}])
    # Past the first batches, which are already in the transaction when it is checked.
    specs: list[dict[str, object]] = [{"task_name": "a"} for _ in range(3000)]
    specs[2500] = {"task_name": "a", "priority": "high"}
    with pytest.raises(ValueError, match="priority must be a 32-bit whole number, got 'high'"):
        app.send_tasks_sync(specs)
    assert scalar(db_config, "SELECT COUNT(*) FROM bountyboard") == 0


def test_a_bad_item_in_a_bulk_send_writes_none_into_the_callers_transaction(
    app: Workcraft, db_config: DBConfig
) -> None:
    specs: list[dict[str, object]] = [{"task_name": "a"} for _ in range(3000)]
    specs[2999] = {"task_name": "a", "colour": "red"}
    with db.get_engine(db_config).connect() as conn:
        app.send_task_sync("first", connection=conn)
        with pytest.raises(TypeError, match="item 2999: unknown key"):
            app.send_tasks_sync(specs, connection=conn)
        conn.commit()  # a caller that carries on after the error commits only its own
    assert [r.task_name for r in query(db_config, "SELECT task_name FROM bountyboard")] == ["first"]


def test_bulk_send_mixes_due_and_timed_tasks_across_batches(
    app: Workcraft, db_config: DBConfig
) -> None:
    ids = app.send_tasks_sync(
        [
            {"task_name": "t", "task_args": [i], "delay": 3600 if i % 3 == 0 else None}
            for i in range(2100)
        ]
    )
    rows = {
        r.id: r
        for r in query(
            db_config,
            "SELECT id, payload, run_at > NOW(6) + INTERVAL 3000 SECOND AS later FROM bountyboard",
        )
    }
    assert len(rows) == 2100
    for i, task_id in enumerate(ids):
        assert json.loads(rows[task_id].payload)["task_args"] == [i]
        assert bool(rows[task_id].later) is (i % 3 == 0), i


@pytest.mark.parametrize("commit", [True, False])
def test_transactional_send_exists_only_if_the_transaction_commits(
    app: Workcraft, db_config: DBConfig, commit: bool
) -> None:
    engine = db.get_engine(db_config)
    with engine.connect() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS orders (id INT PRIMARY KEY)"))
        conn.execute(text("DELETE FROM orders"))
        conn.commit()
        conn.execute(text("INSERT INTO orders (id) VALUES (1)"))
        task_id = app.send_task_sync("ship", [1], connection=conn)
        more = app.send_tasks_sync([{"task_name": "ship", "task_args": [2]}], connection=conn)
        # not visible outside the transaction yet
        assert scalar(db_config, "SELECT COUNT(*) FROM bountyboard") == 0
        if commit:
            conn.commit()
        else:
            conn.rollback()
    expected = 2 if commit else 0
    assert scalar(db_config, "SELECT COUNT(*) FROM bountyboard") == expected
    assert scalar(db_config, "SELECT COUNT(*) FROM orders") == (1 if commit else 0)
    assert (app.status(task_id) is not None) is commit
    assert (app.status(more[0]) is not None) is commit


def test_transactional_send_through_an_orm_session(app: Workcraft, db_config: DBConfig) -> None:
    with Session(db.get_engine(db_config)) as session:
        task_id = app.send_task_sync("ship", [3], connection=session)
        session.rollback()
    assert app.status(task_id) is None
    with Session(db.get_engine(db_config)) as session:
        task_id = app.send_task_sync("ship", [4], connection=session)
        session.commit()
    assert app.status(task_id) is not None


def test_unique_key_returns_the_live_task_and_is_freed_when_it_ends(
    app: Workcraft, db_config: DBConfig
) -> None:
    first = app.send_task_sync("report", [1], unique_key="daily")
    assert app.send_task_sync("report", [2], unique_key="daily") == first
    assert app.send_task_sync("other", [2], unique_key="daily") != first  # per task name
    execute(
        db_config, "UPDATE bountyboard SET status = 'SUCCESS' WHERE id = :i", params={"i": first}
    )
    second = app.send_task_sync("report", [3], unique_key="daily")
    assert second != first
    assert (
        scalar(
            db_config,
            "SELECT COUNT(*) FROM bountyboard WHERE unique_key = 'daily' AND task_name = 'report'",
        )
        == 2
    )


def test_four_processes_sending_the_same_unique_key_at_once_make_one_task(
    app: Workcraft, db_config: DBConfig
) -> None:
    script = textwrap.dedent(
        """
        import json, sys
        from workcraft import Workcraft, DBConfig
        cfg = DBConfig.from_url(sys.argv[1])
        app = Workcraft(db_config=cfg)
        sys.stdin.readline()  # start together
        ids = {app.send_task_sync("race", [i], unique_key="the-one") for i in range(25)}
        print(json.dumps(sorted(ids)))
        """
    )
    url = db.sqlalchemy_url(db_config).render_as_string(hide_password=False)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        for proc in procs:  # every process is connected and waiting: go
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        seen = set()
        for proc in procs:
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == 0
            seen.update(json.loads(out))
    finally:
        for proc in procs:
            proc.kill()
    assert len(seen) == 1
    assert scalar(db_config, "SELECT COUNT(*) FROM bountyboard WHERE task_name = 'race'") == 1
