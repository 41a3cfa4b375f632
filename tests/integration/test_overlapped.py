"""db.execute_overlapped: a bulk send's next batch is made while the server inserts
the last one, and errors come out as from any other statement."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
from sqlalchemy.exc import IntegrityError

from tests.helpers import execute, scalar
from workcraft import db
from workcraft.config import DBConfig

_INSERT = "INSERT INTO bountyboard (id, task_name, queue, payload) VALUES (%s, %s, %s, %s)"


def _row(task_id: str) -> list[str]:
    return [task_id, "t", "DEFAULT", '{"task_args":[],"task_kwargs":{}}']


@pytest.fixture(autouse=True)
def _empty(cfg: DBConfig) -> None:
    execute(cfg, "DELETE FROM bountyboard")


def test_the_next_statement_is_made_while_the_server_runs_the_last(cfg: DBConfig) -> None:
    task_id = "00000000-0000-7000-8000-000000000001"
    asked_while_waiting: list[str] = []
    with db.connect(cfg) as holder, db.connect(cfg) as conn:
        # `holder` inserts the row first and keeps its lock, so our INSERT of the same
        # id waits on the server. Only the statements' generator can let it go on: if
        # it were asked for the next statement only after the reply, this would stall
        # for the lock wait timeout (5 s) and fail with error 1205.
        holder.exec_driver_sql(_INSERT, tuple(_row(task_id)))
        conn.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = 5")

        def statements() -> Iterator[tuple[str, list[Any]]]:
            yield _INSERT, _row(task_id)
            asked_while_waiting.append(task_id)
            holder.rollback()  # lets the waiting INSERT through
            yield _INSERT, _row("00000000-0000-7000-8000-000000000002")

        db.execute_overlapped(conn, statements())
    assert asked_while_waiting == [task_id]
    assert scalar(cfg, "SELECT COUNT(*) FROM bountyboard") == 2


def test_driver_errors_come_out_as_the_callers_connection_raises_them_and_it_goes_on(
    cfg: DBConfig,
) -> None:
    task_id = "00000000-0000-7000-8000-000000000003"
    twice = [(_INSERT, _row(task_id)), (_INSERT, _row(task_id))]
    with db.connect(cfg) as conn:  # ours: the driver's error
        with pytest.raises(pymysql.err.IntegrityError):
            db.execute_overlapped(conn, twice)
        conn.rollback()
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    with db.get_engine(cfg).connect() as sa_conn:  # a caller's: SQLAlchemy's, as it raises
        with pytest.raises(IntegrityError):
            db.execute_overlapped(sa_conn, twice)
        sa_conn.rollback()
        assert sa_conn.exec_driver_sql("SELECT 1").scalar() == 1
    assert scalar(cfg, "SELECT COUNT(*) FROM bountyboard") == 0


def test_an_error_while_making_the_next_statement_keeps_the_connection_in_step(
    cfg: DBConfig,
) -> None:
    def statements() -> Iterator[tuple[str, list[Any]]]:
        yield _INSERT, _row("00000000-0000-7000-8000-000000000004")
        raise ValueError("item 1000: bad")

    with db.connect(cfg) as conn:
        with pytest.raises(ValueError, match="item 1000: bad"):
            db.execute_overlapped(conn, statements())
        conn.rollback()
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM bountyboard").scalar() == 0


def test_the_rows_commit_with_the_connection(cfg: DBConfig) -> None:
    # SQLAlchemy must know the driver-level statements opened a transaction, or the
    # block's commit would skip it and the rows vanish with the connection.
    with db.connect(cfg) as conn:
        db.execute_overlapped(conn, [(_INSERT, _row("00000000-0000-7000-8000-000000000005"))])
    assert scalar(cfg, "SELECT COUNT(*) FROM bountyboard") == 1
