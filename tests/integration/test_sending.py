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


def test_bulk_send_checks_every_item_before_writing_any(
    app: Workcraft, db_config: DBConfig
) -> None:
    with pytest.raises(TypeError, match="item 1: unknown key"):
        app.send_tasks_sync([{"task_name": "a"}, {"task_name": "b", "colour": "red"}])
    with pytest.raises(TypeError, match="not JSON-serializable"):
        app.send_tasks_sync([{"task_name": "a"}, {"task_name": "b", "task_args": [object()]}])
    assert scalar(db_config, "SELECT COUNT(*) FROM bountyboard") == 0


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
