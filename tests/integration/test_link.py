"""workcraft's own connections (workcraft.link, handed out by db.connect) against the
real server: the same rows, rowcounts and transactions as SQLAlchemy's, a pool that
never hands out a dead connection, savepoints and after-commit hooks."""

from __future__ import annotations

from typing import Any

import pymysql
import pytest

from tests.helpers import scalar
from workcraft import db
from workcraft.config import DBConfig
from workcraft.link import bindparam, run, text

_ROW = "INSERT INTO bountyboard (id, task_name, queue, payload) VALUES (:id, 'n', 'q', '{}')"
_IDS = text("SELECT id FROM bountyboard WHERE id IN :ids ORDER BY id").bindparams(bindparam("ids"))


def _insert(conn: Any, task_id: str) -> None:
    run(conn, text(_ROW), {"id": task_id})


def test_a_link_and_a_sqlalchemy_connection_read_the_same(cfg: DBConfig) -> None:
    ids = [f"00000000-0000-7000-8000-00000000000{i}" for i in range(3)]
    with db.connect(cfg) as conn:
        for task_id in ids:
            _insert(conn, task_id)
    for connection in (lambda: db.connect(cfg), lambda: db.get_engine(cfg).begin()):
        with connection() as c:
            assert [r.id for r in run(c, _IDS, {"ids": ids[:2]})] == ids[:2]
            # an empty list matches nothing ("IN ()" would be a syntax error)
            assert run(c, _IDS, {"ids": []}).all() == []
            # rows matched, not rows changed: writing what a row holds still counts
            same = run(c, text("UPDATE bountyboard SET queue = 'q' WHERE id = :id"), {"id": ids[0]})
            assert same.rowcount == 1


def test_the_block_commits_on_success_and_rolls_back_on_error(cfg: DBConfig) -> None:
    with db.connect(cfg) as conn:
        _insert(conn, "00000000-0000-7000-8000-000000000010")
    with pytest.raises(RuntimeError, match="boom"), db.connect(cfg) as conn:
        _insert(conn, "00000000-0000-7000-8000-000000000011")
        raise RuntimeError("boom")
    assert scalar(cfg, "SELECT GROUP_CONCAT(id) FROM bountyboard") == (
        "00000000-0000-7000-8000-000000000010"
    )


def test_a_savepoint_undoes_only_its_own_statements(cfg: DBConfig) -> None:
    with db.connect(cfg) as conn:
        _insert(conn, "00000000-0000-7000-8000-000000000020")
        with pytest.raises(pymysql.err.IntegrityError), conn.begin_nested():
            _insert(conn, "00000000-0000-7000-8000-000000000021")
            _insert(conn, "00000000-0000-7000-8000-000000000020")  # duplicate
        with conn.begin_nested():
            _insert(conn, "00000000-0000-7000-8000-000000000022")
    assert scalar(cfg, "SELECT GROUP_CONCAT(id ORDER BY id) FROM bountyboard") == (
        "00000000-0000-7000-8000-000000000020,00000000-0000-7000-8000-000000000022"
    )


def test_after_commit_hooks_run_after_a_commit_and_never_after_a_rollback(
    cfg: DBConfig,
) -> None:
    seen: list[str] = []
    with db.connect(cfg) as conn:
        conn.after_commit(lambda: seen.append("dropped"))
        conn.rollback()
        conn.after_commit(lambda: seen.append(str(scalar(cfg, "SELECT COUNT(*) FROM peon"))))
        _insert(conn, "00000000-0000-7000-8000-000000000030")
        assert seen == []
    assert seen == ["0"]  # ran once the block committed


def _session_id(cfg: DBConfig, ping: bool = True) -> int:
    with db.connect(cfg, ping=ping) as conn:
        return int(conn.execute(text("SELECT CONNECTION_ID()")).scalar_one())


def _kill(cfg: DBConfig, session: int) -> None:
    # from another pool: this one's most recent idle connection is the one to end
    with db.connect(cfg, with_database=False) as conn:
        conn.execute(text(f"KILL {session}"))


def test_a_pooled_connection_the_server_ended_is_replaced_before_use(cfg: DBConfig) -> None:
    first = _session_id(cfg)
    assert _session_id(cfg) == first  # pooled
    _kill(cfg, first)
    second = _session_id(cfg)  # pinged: found dead, replaced
    assert second != first
    # Unpinged (the hot paths, retried on transient errors), the dead connection fails
    # with a transient error and is closed, not pooled again.
    _kill(cfg, second)
    with pytest.raises(pymysql.err.OperationalError) as dead:
        _session_id(cfg, ping=False)
    assert db.is_transient(dead.value)
    assert _session_id(cfg, ping=False) not in (first, second)
