"""The async client (aiomysql via SQLAlchemy asyncio) and task handles, on the real DB.

No peon runs here: rows are finished by hand, as in test_client.py. A peon running
tasks sent from async code is covered by examples/async_client.py (tests/examples).
"""

from __future__ import annotations

import asyncio
import functools
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from tests.helpers import closed_port, execute, query, scalar
from workcraft import db, db_async
from workcraft.config import DBConfig
from workcraft.core import Workcraft
from workcraft.db import DatabaseError
from workcraft.errors import ResultTimeout, TaskFailed
from workcraft.handle import TaskHandle


@pytest.fixture
def app(cfg: DBConfig) -> Workcraft:
    app = Workcraft(cfg)

    @app.task("add", queue="maths", priority=3)
    def add(a: int, b: int) -> int:
        return a + b

    return app


def _add(app: Workcraft) -> TaskHandle[[int, int], int]:
    # Registering the same function again returns a fresh handle to it.
    return app.task("add", queue="maths", priority=3)(app.tasks["add"])


def _row(cfg: DBConfig, task_id: str) -> dict[str, Any]:
    rows = query(cfg, "SELECT * FROM bountyboard WHERE id = :id", {"id": task_id})
    assert len(rows) == 1, f"expected one row for {task_id}, found {len(rows)}"
    return dict(rows[0]._mapping)


def _finish(
    cfg: DBConfig, task_id: str, status: str, result: str | None, error: str | None
) -> None:
    execute(
        cfg,
        "UPDATE bountyboard SET status = :s, result = :r, error = :e, finished_at = NOW(6) "
        "WHERE id = :id",
        params={"s": status, "r": result, "e": error, "id": task_id},
    )


def test_send_task_writes_the_row_through_aiomysql(app: Workcraft, cfg: DBConfig) -> None:
    async def main() -> tuple[str, str]:
        task_id = await app.send_task("add", [1, 2], delay=timedelta(seconds=30))
        engines = db_async._engines[asyncio.get_running_loop()]
        driver = next(iter(engines.values())).dialect.driver
        await app.aclose()
        return task_id, driver

    task_id, driver = asyncio.run(main())
    assert driver == "aiomysql"
    row = _row(cfg, task_id)
    assert (row["status"], row["queue"], row["priority"]) == ("PENDING", "maths", 3)
    assert scalar(cfg, "SELECT run_at > NOW(6) + INTERVAL 20 SECOND FROM bountyboard") == 1


def test_handle_runs_directly_sends_and_launches(app: Workcraft, cfg: DBConfig) -> None:
    add = _add(app)
    assert add(2, 3) == 5  # still the function
    assert add.__name__ == "add" and add.name == "add"

    sent = add.send(1, b=2)
    urgent = add.options(queue="urgent", priority=9).send(3, 4)

    async def main() -> list[str]:
        launched = await add.launch(5, 6)
        later = await add.options(delay=60).launch(7, 8)
        await app.aclose()
        return [launched, later]

    launched, later = asyncio.run(main())
    rows = {tid: _row(cfg, tid) for tid in (sent, urgent, launched, later)}
    assert rows[sent]["queue"] == "maths" and rows[sent]["priority"] == 3
    assert rows[urgent]["queue"] == "urgent" and rows[urgent]["priority"] == 9
    assert rows[launched]["queue"] == "maths"
    assert rows[later]["run_at"] > rows[launched]["run_at"] + timedelta(seconds=50)
    assert json.loads(rows[sent]["payload"]) == {"task_args": [1], "task_kwargs": {"b": 2}}


def test_handle_checks_arguments_before_touching_the_database(app: Workcraft) -> None:
    add = _add(app)
    with pytest.raises(TypeError, match="cannot send task 'add'"):
        add.send(1, 2, 3)  # type: ignore[call-arg]

    async def main() -> None:
        await add.launch(1)  # type: ignore[call-arg]

    with pytest.raises(TypeError, match="missing a required argument"):
        asyncio.run(main())


def test_get_result_awaits_success_failure_timeout_unknown(app: Workcraft, cfg: DBConfig) -> None:
    async def scenario() -> None:
        ok = await app.send_task("add", [1, 1])
        bad = await app.send_task("add", [2, 2])
        slow = await app.send_task("add", [3, 3])

        async def finish_later() -> None:
            await asyncio.sleep(0.2)  # a stand-in for a peon finishing while we wait
            _finish(cfg, ok, "SUCCESS", "2", None)

        finisher = asyncio.create_task(finish_later())
        assert await app.get_result(ok, timeout=10) == 2
        await finisher

        _finish(cfg, bad, "FAILURE", None, "Traceback ...\nValueError: nope")
        with pytest.raises(TaskFailed) as failed:
            await app.get_result(bad, timeout=10)
        assert "ValueError: nope" in (failed.value.remote_traceback or "")

        with pytest.raises(ResultTimeout):
            await app.get_result(slow, timeout=0.3)
        with pytest.raises(KeyError):
            await app.get_result("00000000-0000-7000-8000-000000000000", timeout=1)
        task = await app.get_task(ok)
        assert task is not None and task.result == 2
        await app.aclose()

    asyncio.run(scenario())


def test_transactional_send_with_async_connection_and_session(
    app: Workcraft, cfg: DBConfig
) -> None:
    url = db.sqlalchemy_url(cfg, driver="aiomysql")

    async def main() -> tuple[str, str, str]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                rolled_back = await app.send_task("add", [1, 2], connection=conn)
                await conn.rollback()
            async with engine.begin() as conn:
                committed = await app.send_task("add", [3, 4], connection=conn)
            async with AsyncSession(engine) as session, session.begin():
                await session.execute(text("SELECT 1"))
                ids = await app.send_tasks(
                    [{"task_name": "add", "task_args": [5, 6]}], connection=session
                )
        finally:
            await engine.dispose()
        return rolled_back, committed, ids[0]

    rolled_back, committed, in_session = asyncio.run(main())
    assert scalar(cfg, "SELECT COUNT(*) FROM bountyboard WHERE id = :i", {"i": rolled_back}) == 0
    assert _row(cfg, committed)["status"] == "PENDING"
    assert _row(cfg, in_session)["status"] == "PENDING"


def test_bulk_and_unique_and_concurrent_sends(app: Workcraft, cfg: DBConfig) -> None:
    async def main() -> tuple[list[str], list[str], list[str]]:
        bulk = await app.send_tasks([{"task_name": "add", "task_args": [i, i]} for i in range(500)])
        same = await asyncio.gather(
            *(app.send_task("add", [1, 1], unique_key="once") for _ in range(5))
        )
        many = await asyncio.gather(*(app.send_task("add", [i, 0]) for i in range(50)))
        await app.aclose()
        return bulk, list(same), list(many)

    bulk, same, many = asyncio.run(main())
    assert len(set(bulk)) == 500
    assert len(set(same)) == 1, "one live task per unique key"
    assert len(set(many)) == 50
    assert scalar(cfg, "SELECT COUNT(*) FROM bountyboard") == 500 + 1 + 50


def test_a_bad_item_in_an_async_bulk_send_writes_none(app: Workcraft, cfg: DBConfig) -> None:
    # Its batches are checked as they are inserted: the first two are in the
    # transaction when the bad one is found, and the rollback must take them out.
    specs: list[dict[str, Any]] = [{"task_name": "add", "task_args": [i, i]} for i in range(3000)]
    specs[2500] = {"task_name": "add", "task_args": [1, 2, 3]}

    async def main() -> None:
        try:
            await app.send_tasks(specs)
        finally:
            await app.aclose()

    with pytest.raises(TypeError, match="cannot send task 'add': too many positional"):
        asyncio.run(main())
    assert scalar(cfg, "SELECT COUNT(*) FROM bountyboard") == 0


def test_a_second_event_loop_gets_its_own_pool(app: Workcraft, cfg: DBConfig) -> None:
    # aiomysql connections belong to the loop that opened them: reusing a pool from a
    # closed loop would fail with "Event loop is closed".
    first = asyncio.run(app.send_task("add", [1, 2]))
    second = asyncio.run(app.send_task("add", [3, 4]))
    assert _row(cfg, first)["status"] == _row(cfg, second)["status"] == "PENDING"


def test_unreachable_database_gives_the_clear_error(
    app: Workcraft, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The client retries connection errors for 30 s; a closed port fails the same way
    # every time, so give up after the first: that error is the one users see.
    monkeypatch.setattr(
        db_async,
        "retry_transient_async",
        functools.partial(db_async.retry_transient_async, deadline=0),
    )
    nowhere = DBConfig(
        host="127.0.0.1", port=closed_port(), user="u", password="secret-pw", database="x"
    )
    with pytest.raises(DatabaseError, match="cannot reach the database") as caught:
        asyncio.run(app.send_task("add", [1, 2], db_config=nowhere))
    assert "secret-pw" not in str(caught.value)
