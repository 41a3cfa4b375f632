"""The peon's statements in store.py, run in-process against a real database.

Claim order and filters, SKIP LOCKED between two claimers, the claim's plan with a
long history, fencing of late finishers, releasing tasks and heartbeats. The
database's maintenance events are disabled for this module's database, so rows only
move when a test moves them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Connection, text

from tests.helpers import execute, query, scalar
from workcraft import db, store
from workcraft.config import DBConfig
from workcraft.core import Workcraft
from workcraft.models import ClaimedTask, Outcome, TaskStatus

NAMES = ["t", "u"]

# ------------------------------------------------------------------- fixtures


@pytest.fixture
def app(cfg: DBConfig) -> Workcraft:
    return Workcraft(db_config=cfg)


def _send(app: Workcraft, label: str, queue: str = "A", name: str = "t", **kw: Any) -> str:
    return app.send_task_sync(name, [label], queue=queue, **kw)


def _claim(
    cfg: DBConfig,
    worker: str,
    queues: list[str],
    limit: int,
    names: list[str] | None = None,
) -> list[ClaimedTask]:
    with db.connect(cfg) as conn:
        return store.claim_tasks(conn, worker, queues, NAMES if names is None else names, limit)


def _row(cfg: DBConfig, task_id: str) -> dict[str, Any]:
    rows = query(cfg, "SELECT * FROM bountyboard WHERE id = :id", {"id": task_id})
    assert len(rows) == 1
    return dict(rows[0]._mapping)


def _status(cfg: DBConfig, task_id: str) -> str:
    return str(scalar(cfg, "SELECT status FROM bountyboard WHERE id = :id", {"id": task_id}))


def _db_now(cfg: DBConfig) -> datetime:
    value = scalar(cfg, "SELECT NOW(6)")
    assert isinstance(value, datetime)
    return value


def _register(conn: Connection, worker: str) -> None:
    store.register_peon(
        conn,
        worker_id=worker,
        queues_json=json.dumps(["A"]),
        host="test-host",
        pid=4242,
        concurrency=2,
        pool="thread",
        version="test",
    )


def _peon(cfg: DBConfig, worker: str) -> dict[str, Any]:
    rows = query(cfg, "SELECT * FROM peon WHERE id = :id", {"id": worker})
    assert len(rows) == 1
    return dict(rows[0]._mapping)


# -------------------------------------------------------------------- claim


def test_claim_takes_highest_priority_first_fifo_within_a_priority(
    cfg: DBConfig, app: Workcraft
) -> None:
    plan = [("a0", 0), ("a5", 5), ("b0", 0), ("b5", 5), ("m1", -1), ("top", 10), ("c0", 0)]
    ids = {label: _send(app, label, priority=prio) for label, prio in plan}
    other_queue = _send(app, "B-high", queue="B", priority=100)
    run_ats = [_row(cfg, ids[label])["run_at"] for label, _ in plan]
    assert run_ats == sorted(run_ats) and len(set(run_ats)) == len(run_ats)

    before = _db_now(cfg)
    claimed = _claim(cfg, "peon-x", ["A"], 10)
    after = _db_now(cfg)

    order = ["top", "a5", "b5", "a0", "b0", "c0", "m1"]
    assert [c.id for c in claimed] == [ids[label] for label in order]
    for job in claimed:
        assert job.queue == "A"
        assert job.task_name == "t"
        assert job.attempt == 1
        assert (job.retry_count, job.retry_limit, job.retry_on_failure) == (0, 3, False)
        assert json.loads(job.payload or "")["task_args"][0] in ids
        row = _row(cfg, job.id)
        assert row["status"] == "RUNNING"
        assert row["worker_id"] == "peon-x"
        assert row["attempt"] == 1
        assert before <= row["started_at"] <= after
        assert row["finished_at"] is None
    assert _status(cfg, other_queue) == "PENDING"
    assert _claim(cfg, "peon-x", ["A"], 10) == []


def test_claim_carries_the_retry_fields(cfg: DBConfig, app: Workcraft) -> None:
    task_id = _send(app, "r", retry_on_failure=True, retry_limit=7)
    execute(
        cfg,
        "UPDATE bountyboard SET retry_count = 2, attempt = 4 WHERE id = :id",
        params={"id": task_id},
    )
    [job] = _claim(cfg, "peon-x", ["A"], 1)
    assert (job.id, job.attempt, job.retry_count, job.retry_limit) == (task_id, 5, 2, 7)
    assert job.retry_on_failure is True
    assert _row(cfg, task_id)["attempt"] == 5


def test_claim_skips_tasks_that_are_not_due(cfg: DBConfig, app: Workcraft) -> None:
    later = _send(app, "later", delay=3600, priority=50)
    now = _send(app, "now")
    claimed = _claim(cfg, "peon-x", ["A"], 10)
    assert [c.id for c in claimed] == [now]
    assert _status(cfg, later) == "PENDING"
    # once due, it is claimed
    execute(
        cfg,
        "UPDATE bountyboard SET run_at = NOW(6) - INTERVAL 1 SECOND WHERE id = :id",
        params={"id": later},
    )
    assert [c.id for c in _claim(cfg, "peon-x", ["A"], 10)] == [later]


def test_claim_takes_only_the_names_it_was_given(cfg: DBConfig, app: Workcraft) -> None:
    t_task = _send(app, "1", name="t")
    u_task = _send(app, "2", name="u")
    other = _send(app, "3", name="not_on_this_peon")
    assert [c.id for c in _claim(cfg, "peon-x", ["A"], 10, names=["u"])] == [u_task]
    assert _status(cfg, t_task) == "PENDING"
    assert [c.id for c in _claim(cfg, "peon-x", ["A"], 10)] == [t_task]
    assert _status(cfg, other) == "PENDING"
    assert _claim(cfg, "peon-x", ["A"], 10, names=[]) == []
    assert _status(cfg, other) == "PENDING"


def test_claim_serves_queues_in_the_order_listed(cfg: DBConfig, app: Workcraft) -> None:
    a = [_send(app, f"a{i}", queue="A", priority=9) for i in range(3)]
    b = [_send(app, f"b{i}", queue="B") for i in range(2)]
    c = _send(app, "c0", queue="C")
    claimed = _claim(cfg, "peon-x", ["B", "A"], 3)
    # B first even though A's tasks have a higher priority; the limit counts across queues
    assert [t.id for t in claimed] == [b[0], b[1], a[0]]
    assert [t.queue for t in claimed] == ["B", "B", "A"]
    assert [_status(cfg, i) for i in a] == ["RUNNING", "PENDING", "PENDING"]
    assert _status(cfg, c) == "PENDING"
    assert [t.id for t in _claim(cfg, "peon-x", ["C", "B", "A"], 10)] == [c, a[1], a[2]]


def test_claim_respects_the_limit(cfg: DBConfig, app: Workcraft) -> None:
    ids = [_send(app, str(i)) for i in range(10)]
    first = _claim(cfg, "peon-x", ["A"], 4)
    assert [t.id for t in first] == ids[:4]
    assert scalar(cfg, "SELECT COUNT(*) FROM bountyboard WHERE status = 'PENDING'") == 6
    second = _claim(cfg, "peon-y", ["A"], 4)
    assert [t.id for t in second] == ids[4:8]
    assert _claim(cfg, "peon-z", ["A"], 0) == []
    assert [t.id for t in _claim(cfg, "peon-z", ["A"], 1)] == [ids[8]]
    workers = query(cfg, "SELECT worker_id, COUNT(*) FROM bountyboard GROUP BY worker_id")
    assert {(w, int(n)) for w, n in workers} == {
        ("peon-x", 4),
        ("peon-y", 4),
        ("peon-z", 1),
        (None, 1),
    }


def test_claim_does_not_take_rows_in_other_states(cfg: DBConfig, app: Workcraft) -> None:
    ids = {s: _send(app, s) for s in ["RUNNING", "SUCCESS", "FAILURE", "INVALID", "CANCELLED"]}
    for status, task_id in ids.items():
        execute(
            cfg,
            "UPDATE bountyboard SET status = :s WHERE id = :id",
            params={"s": status, "id": task_id},
        )
    assert _claim(cfg, "peon-x", ["A"], 10) == []
    assert {s: _status(cfg, i) for s, i in ids.items()} == {s: s for s in ids}


# --------------------------------------------------------------- SKIP LOCKED


def test_two_concurrent_claimers_get_disjoint_tasks(cfg: DBConfig, app: Workcraft) -> None:
    ids = [_send(app, str(i), priority=i % 3) for i in range(12)]
    with db.connect(cfg) as conn1:
        first = store.claim_tasks(conn1, "peon-1", ["A"], NAMES, 5)  # not committed yet
        assert len(first) == 5
        with db.connect(cfg) as conn2:
            # should SKIP LOCKED ever wait, fail in 2 s rather than 50
            conn2.execute(text("SET SESSION innodb_lock_wait_timeout = 2"))
            second = store.claim_tasks(conn2, "peon-2", ["A"], NAMES, 5)
        # conn2 has committed; conn1 still holds its claim open
        assert len(second) == 5
        assert not {t.id for t in first} & {t.id for t in second}
    # the two claimers took the ten best tasks between them, in claim order each
    by_rank = sorted(ids, key=lambda i: (-(ids.index(i) % 3), ids.index(i)))
    assert [t.id for t in first] == by_rank[:5]
    assert [t.id for t in second] == by_rank[5:10]
    workers = {t.id: _row(cfg, t.id)["worker_id"] for t in first + second}
    assert workers == {**{t.id: "peon-1" for t in first}, **{t.id: "peon-2" for t in second}}
    assert [_status(cfg, i) for i in by_rank[10:]] == ["PENDING", "PENDING"]


def test_rolled_back_claim_leaves_tasks_pending(cfg: DBConfig, app: Workcraft) -> None:
    ids = [_send(app, str(i)) for i in range(3)]
    with (
        pytest.raises(RuntimeError, match="crash between claim and commit"),
        db.connect(cfg) as conn,
    ):
        assert len(store.claim_tasks(conn, "peon-1", ["A"], NAMES, 3)) == 3
        raise RuntimeError("crash between claim and commit")
    assert [_status(cfg, i) for i in ids] == ["PENDING"] * 3
    assert [_row(cfg, i)["attempt"] for i in ids] == [0, 0, 0]


# ---------------------------------------------------------- the claim's plan

HISTORY = 20_000
_DIGITS = (
    "(SELECT 0 AS d UNION ALL " + " UNION ALL ".join(f"SELECT {i}" for i in range(1, 10)) + ")"
)


def _insert_history(cfg: DBConfig, n: int, queue: str) -> None:
    """``n`` SUCCESS rows in ``queue``, spread over priorities and older run_at values;
    older rows get smaller ids, as time-ordered UUIDv7 ids do."""
    numbers = (
        "SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d AS n "
        f"FROM {_DIGITS} a, {_DIGITS} b, {_DIGITS} c, {_DIGITS} e, {_DIGITS} f"
    )
    execute(
        cfg,
        "INSERT INTO bountyboard (id, task_name, queue, status, priority, payload, result, "
        "worker_id, attempt, created_at, run_at, started_at, finished_at) "
        "SELECT CONCAT('00000000-0000-7000-8000-', LPAD(999999999999 - n, 12, '0')), 't', :queue, "
        "'SUCCESS', n MOD 7 - 3, '{\"task_args\":[],\"task_kwargs\":{}}', '1', 'old-peon', 1, "
        "NOW(6) - INTERVAL n SECOND, NOW(6) - INTERVAL n SECOND, "
        "NOW(6) - INTERVAL n SECOND, NOW(6) - INTERVAL n SECOND "
        f"FROM ({numbers}) AS s WHERE n < :n",
        params={"queue": queue, "n": n},
    )


def _claim_select_with_literals(queue: str, names: list[str], limit: int) -> str:
    sql = store._CLAIM_SELECT.text
    for placeholder in (":queue", ":names", ":limit"):
        assert placeholder in sql, f"claim SELECT no longer has {placeholder}"
    quoted = ", ".join("'" + n.replace("'", "''") + "'" for n in names)
    return (
        sql.replace(":queue", "'" + queue.replace("'", "''") + "'")
        .replace(":names", f"({quoted})")
        .replace(":limit", str(int(limit)))
    )


def _explain(conn: Connection, sql: str) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(text("EXPLAIN " + sql))]


def test_claim_plan_uses_ix_claim_without_filesort_over_a_long_history(
    cfg: DBConfig, app: Workcraft
) -> None:
    _insert_history(cfg, HISTORY, "A")
    pending = [_send(app, str(i), priority=i % 4) for i in range(30)]
    assert scalar(cfg, "SELECT COUNT(*) FROM bountyboard WHERE status = 'SUCCESS'") == HISTORY
    execute(cfg, "ANALYZE TABLE bountyboard")

    sql = _claim_select_with_literals("A", ["t", "u"], 5)
    with db.connect(cfg) as conn:
        plan = _explain(conn, sql)
        # the bountyboard range, plus the paused-queue check: an uncorrelated
        # SUBQUERY evaluated once, never a DEPENDENT one run per row
        assert [p["select_type"] for p in plan] == ["PRIMARY", "SUBQUERY"], plan
        step = plan[0]
        assert step["table"] == "bountyboard"
        assert step["key"] == "ix_claim", plan
        extra = str(step.get("Extra") or "")
        assert "filesort" not in extra.lower(), plan
        assert "temporary" not in extra.lower(), plan
        # the range is this queue's PENDING rows, not its history
        assert int(step["rows"]) < 1_000, plan

        # and the claim itself reads and locks a handful of rows, not the history
        conn.execute(text("FLUSH STATUS"))
        claimed = store.claim_tasks(conn, "peon-x", ["A"], NAMES, 5)
        reads = {
            str(name): int(value)
            for name, value in conn.execute(text("SHOW SESSION STATUS LIKE 'Handler_read%'"))
        }
        locked = conn.execute(
            text(
                "SELECT trx_rows_locked FROM information_schema.INNODB_TRX "
                "WHERE trx_mysql_thread_id = CONNECTION_ID()"
            )
        ).scalar_one()
    by_rank = sorted(pending, key=lambda i: (-(pending.index(i) % 4), pending.index(i)))
    assert [t.id for t in claimed] == by_rank[:5]
    rows_read = sum(v for k, v in reads.items() if k != "Handler_read_rnd_deleted")
    assert rows_read < 200, reads
    assert int(locked) < 200, locked


def test_claim_plan_for_a_queue_without_history_or_tasks(cfg: DBConfig) -> None:
    with db.connect(cfg) as conn:
        plan = _explain(conn, _claim_select_with_literals("empty-queue", ["t"], 10))
    assert plan[0]["key"] == "ix_claim"
    assert "filesort" not in str(plan[0].get("Extra") or "").lower()


def _rows_read(conn: Connection) -> int:
    counters = conn.execute(text("SHOW SESSION STATUS LIKE 'Handler_read%'"))
    return sum(int(v) for name, v in counters if str(name) != "Handler_read_rnd_deleted")


@pytest.mark.parametrize("queue", [None, "A"])
def test_listing_the_newest_finished_tasks_does_not_read_the_whole_history(
    cfg: DBConfig, queue: str | None
) -> None:
    _insert_history(cfg, HISTORY, "A")
    execute(cfg, "ANALYZE TABLE bountyboard")
    with db.connect(cfg) as conn:
        conn.execute(text("FLUSH STATUS"))
        rows = store.list_task_rows(conn, ["SUCCESS"], queue, 10)
        read = _rows_read(conn)
    # the newest ten: n = 0..9 (created_at = NOW() - n seconds; ids time-ordered like
    # UUIDv7, so the newest has the highest id)
    assert [r["id"][-2:] for r in rows] == [f"{99 - n:02d}" for n in range(10)]
    assert read < 1_000, f"read {read} rows to list 10 of {HISTORY}"


# ------------------------------------------------------------------ fencing


def test_a_late_finisher_is_fenced_out(cfg: DBConfig, app: Workcraft) -> None:
    task_id = _send(app, "fenced")
    with db.connect(cfg) as conn:
        _register(conn, "A")
        _register(conn, "B")

    [job_a] = _claim(cfg, "A", ["A"], 1)
    assert (job_a.id, job_a.attempt) == (task_id, 1)

    # A goes silent; the database declares it OFFLINE and puts its task back
    with db.connect(cfg) as conn:
        store.set_peon_offline(conn, "A")
        store.call_procedure(conn, "wc_self_correct_tasks_v1")
    row = _row(cfg, task_id)
    assert (row["status"], row["worker_id"], row["requeue_count"]) == ("PENDING", None, 1)

    [job_b] = _claim(cfg, "B", ["A"], 1)
    assert (job_b.id, job_b.attempt) == (task_id, 2)

    late = Outcome(task_id, 1, TaskStatus.SUCCESS, '"late"')
    with db.connect(cfg) as conn:
        fenced = store.record_outcomes(conn, "A", [late])
    assert fenced == [late]
    row = _row(cfg, task_id)
    assert (row["status"], row["worker_id"], row["attempt"]) == ("RUNNING", "B", 2)
    assert row["result"] is None
    assert row["finished_at"] is None

    on_time = Outcome(task_id, 2, TaskStatus.SUCCESS, '"on time"')
    before = _db_now(cfg)
    with db.connect(cfg) as conn:
        assert store.record_outcomes(conn, "B", [on_time]) == []
    row = _row(cfg, task_id)
    assert (row["status"], row["worker_id"], row["attempt"]) == ("SUCCESS", "B", 2)
    assert json.loads(row["result"]) == "on time"
    assert row["finished_at"] >= before
    assert _peon(cfg, "B")["tasks_done"] == 1
    assert _peon(cfg, "A")["tasks_done"] == 0

    # and once finished, even the rightful peon cannot write it again: another outcome
    # is fenced out, the same one (a retried write) changes nothing
    other = Outcome(task_id, 2, TaskStatus.FAILURE, None, error="late second thoughts")
    with db.connect(cfg) as conn:
        assert store.record_outcomes(conn, "B", [other]) == [other]
        assert store.record_outcomes(conn, "B", [on_time]) == []
    row = _row(cfg, task_id)
    assert (row["status"], json.loads(row["result"]), row["error"]) == ("SUCCESS", "on time", None)
    assert _peon(cfg, "B")["tasks_done"] == 1


def test_record_outcomes_fences_each_outcome_on_its_own(cfg: DBConfig, app: Workcraft) -> None:
    ids = [_send(app, str(i)) for i in range(4)]
    with db.connect(cfg) as conn:
        _register(conn, "B")
    jobs = _claim(cfg, "B", ["A"], 4)
    assert [j.id for j in jobs] == ids
    # one task cancelled meanwhile, one taken over by another peon
    execute(
        cfg, "UPDATE bountyboard SET status = 'CANCELLED' WHERE id = :id", params={"id": ids[1]}
    )
    execute(
        cfg,
        "UPDATE bountyboard SET worker_id = 'C', attempt = 2 WHERE id = :id",
        params={"id": ids[2]},
    )
    outcomes = [
        Outcome(ids[0], 1, TaskStatus.SUCCESS, "0"),
        Outcome(ids[1], 1, TaskStatus.SUCCESS, "1"),
        Outcome(ids[2], 1, TaskStatus.SUCCESS, "2"),
        Outcome(ids[3], 1, TaskStatus.FAILURE, error="Traceback ...\nValueError: x"),
    ]
    with db.connect(cfg) as conn:
        fenced = store.record_outcomes(conn, "B", outcomes)
    assert [o.task_id for o in fenced] == [ids[1], ids[2]]
    assert [_status(cfg, i) for i in ids] == ["SUCCESS", "CANCELLED", "RUNNING", "FAILURE"]
    assert _row(cfg, ids[3])["error"] == "Traceback ...\nValueError: x"
    assert _row(cfg, ids[3])["result"] is None
    assert _row(cfg, ids[2])["worker_id"] == "C"
    assert _peon(cfg, "B")["tasks_done"] == 2


# ------------------------------------------------------------------ release


def test_release_task_when_its_process_died_counts_a_requeue(cfg: DBConfig, app: Workcraft) -> None:
    task_id = _send(app, "x")
    [job] = _claim(cfg, "A", ["A"], 1)
    with db.connect(cfg) as conn:
        assert store.release_task(conn, "A", task_id, job.attempt, died=True) is True
    row = _row(cfg, task_id)
    assert (row["status"], row["worker_id"], row["requeue_count"]) == ("PENDING", None, 1)
    # it can be claimed again, as the next attempt
    [again] = _claim(cfg, "B", ["A"], 1)
    assert (again.id, again.attempt) == (task_id, 2)


def test_release_task_at_shutdown_does_not_count_a_requeue(cfg: DBConfig, app: Workcraft) -> None:
    task_id = _send(app, "x")
    [job] = _claim(cfg, "A", ["A"], 1)
    with db.connect(cfg) as conn:
        assert store.release_task(conn, "A", task_id, job.attempt, died=False) is True
    row = _row(cfg, task_id)
    assert (row["status"], row["worker_id"], row["requeue_count"]) == ("PENDING", None, 0)


def test_release_task_is_fenced_too(cfg: DBConfig, app: Workcraft) -> None:
    task_id = _send(app, "x")
    [job] = _claim(cfg, "A", ["A"], 1)
    with db.connect(cfg) as conn:
        assert store.release_task(conn, "B", task_id, job.attempt, died=True) is False
        assert store.release_task(conn, "A", task_id, job.attempt + 1, died=True) is False
    row = _row(cfg, task_id)
    assert (row["status"], row["worker_id"], row["requeue_count"]) == ("RUNNING", "A", 0)
    execute(cfg, "UPDATE bountyboard SET status = 'SUCCESS' WHERE id = :id", params={"id": task_id})
    with db.connect(cfg) as conn:
        assert store.release_task(conn, "A", task_id, job.attempt, died=True) is False
    assert _status(cfg, task_id) == "SUCCESS"


def test_release_all_tasks_of_a_peon(cfg: DBConfig, app: Workcraft) -> None:
    mine = [_send(app, f"a{i}") for i in range(3)]
    theirs = [_send(app, f"b{i}", queue="B") for i in range(2)]
    assert len(_claim(cfg, "A", ["A"], 3)) == 3
    assert len(_claim(cfg, "B", ["B"], 2)) == 2
    execute(cfg, "UPDATE bountyboard SET status = 'SUCCESS' WHERE id = :id", params={"id": mine[0]})
    with db.connect(cfg) as conn:
        assert store.release_all_tasks_of(conn, "A") == 2
    assert [_status(cfg, i) for i in mine] == ["SUCCESS", "PENDING", "PENDING"]
    assert [_row(cfg, i)["requeue_count"] for i in mine] == [0, 1, 1]
    assert [_row(cfg, i)["worker_id"] for i in mine] == ["A", None, None]
    assert [_status(cfg, i) for i in theirs] == ["RUNNING", "RUNNING"]
    assert [_row(cfg, i)["worker_id"] for i in theirs] == ["B", "B"]
    with db.connect(cfg) as conn:
        assert store.release_all_tasks_of(conn, "A") == 0
        assert store.release_all_tasks_of(conn, "nobody") == 0


# ---------------------------------------------------------------- heartbeat


@pytest.fixture
def peon_a(cfg: DBConfig) -> Iterator[str]:
    with db.connect(cfg) as conn:
        _register(conn, "A")
    execute(
        cfg,
        "UPDATE peon SET last_heartbeat = NOW(6) - INTERVAL 1 HOUR WHERE id = 'A'",
    )
    yield "A"


def test_heartbeat_of_a_live_peon(cfg: DBConfig, peon_a: str) -> None:
    assert _peon(cfg, peon_a)["status"] == "PREPARING"
    before = _db_now(cfg)
    with db.connect(cfg) as conn:
        assert store.heartbeat(conn, peon_a, "WORKING", "0190f5d2-7a3b-7c1d-8e2f-0123456789ab")
    peon = _peon(cfg, peon_a)
    assert peon["status"] == "WORKING"
    assert peon["current_task"] == "0190f5d2-7a3b-7c1d-8e2f-0123456789ab"
    assert peon["last_heartbeat"] >= before
    with db.connect(cfg) as conn:
        assert store.heartbeat(conn, peon_a, "IDLE", None)
        assert store.heartbeat(conn, peon_a, "IDLE", None)  # same values again: still True
        row = store.get_peon(conn, peon_a)
    assert row is not None
    assert (row.status, row.host, row.pid) == ("IDLE", "test-host", 4242)
    assert 0 <= row.heartbeat_age < 60
    assert _peon(cfg, peon_a)["current_task"] is None


def test_heartbeat_of_an_offline_peon_is_false(cfg: DBConfig, peon_a: str) -> None:
    with db.connect(cfg) as conn:
        store.set_peon_offline(conn, peon_a)
    stale = _peon(cfg, peon_a)["last_heartbeat"]
    with db.connect(cfg) as conn:
        assert store.heartbeat(conn, peon_a, "WORKING", None) is False
    peon = _peon(cfg, peon_a)
    assert peon["status"] == "OFFLINE"
    assert peon["last_heartbeat"] == stale
    # registering again brings it back
    with db.connect(cfg) as conn:
        _register(conn, peon_a)
        assert store.heartbeat(conn, peon_a, "IDLE", None) is True
    assert _peon(cfg, peon_a)["status"] == "IDLE"


def test_heartbeat_of_a_missing_peon_is_false(cfg: DBConfig) -> None:
    with db.connect(cfg) as conn:
        assert store.heartbeat(conn, "never-registered", "IDLE", None) is False
        assert store.get_peon(conn, "never-registered") is None
    assert scalar(cfg, "SELECT COUNT(*) FROM peon") == 0


def test_heartbeat_after_dead_peon_check_is_false(
    cfg: DBConfig, app: Workcraft, peon_a: str
) -> None:
    task_id = _send(app, "x")
    assert [j.id for j in _claim(cfg, peon_a, ["A"], 1)] == [task_id]
    # an hour without heartbeat is far beyond dead_peon_timeout
    with db.connect(cfg) as conn:
        store.call_procedure(conn, "wc_check_dead_peons_v1")
    assert _peon(cfg, peon_a)["status"] == "OFFLINE"
    assert _status(cfg, task_id) == "PENDING"
    with db.connect(cfg) as conn:
        assert store.heartbeat(conn, peon_a, "WORKING", task_id) is False


def test_a_retried_write_of_a_failure_records_its_attempt_once(
    cfg: DBConfig, app: Workcraft
) -> None:
    task_id = _send(app, "fails")
    with db.connect(cfg) as conn:
        _register(conn, "B")
    [job] = _claim(cfg, "B", ["A"], 1)
    failed = Outcome(task_id, job.attempt, TaskStatus.FAILURE, None, error="boom")
    for _ in range(2):  # the second: a retry after a COMMIT whose reply was lost
        with db.connect(cfg) as conn:
            assert store.record_outcomes(conn, "B", [failed]) == []
    assert _status(cfg, task_id) == "FAILURE"
    attempts = "SELECT COUNT(*) FROM task_attempts WHERE task_id = :id"
    assert scalar(cfg, attempts, {"id": task_id}) == 1
    assert _peon(cfg, "B")["tasks_done"] == 1
