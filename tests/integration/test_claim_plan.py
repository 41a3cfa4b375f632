"""History does not slow the queue: the claim reads the PENDING range of ix_claim.

With far more finished rows than pending ones (as in a database that keeps years of
history), the plan of the claim must be a range over ix_claim in index order: no
filesort, no scan of the finished rows.
"""

from __future__ import annotations

from tests.helpers import execute
from workcraft import db, store
from workcraft.config import DBConfig

HISTORY = 30_000


def test_the_claim_plan_is_an_index_range_without_filesort(cfg: DBConfig) -> None:
    # History built by the server itself: 30,000 finished rows over 3 queues, and a
    # few pending ones, with statistics brought up to date.
    execute(
        cfg,
        # Recursion stops at 1,000 by default: 300 x 100 from a small sequence.
        "INSERT INTO bountyboard (id, task_name, queue, status, payload, finished_at) "
        "WITH RECURSIVE seq (n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < 299) "
        "SELECT UUID(), 'noop', ELT(1 + (a.n + b.n) % 3, 'a', 'b', 'c'), "
        "ELT(1 + a.n % 4, 'SUCCESS', 'SUCCESS', 'FAILURE', 'CANCELLED'), "
        '\'{"task_args": [], "task_kwargs": {}}\', NOW(6) '
        f"FROM seq AS a CROSS JOIN seq AS b WHERE b.n < {HISTORY // 300}",
        "INSERT INTO bountyboard (id, task_name, queue, payload, priority) "
        "WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 50) "
        "SELECT UUID(), 'noop', 'a', '{\"task_args\": [], \"task_kwargs\": {}}', n % 3 FROM seq",
        "ANALYZE TABLE bountyboard",
    )
    with db.connect(cfg) as conn:
        plan = store.explain_claim(conn, "a", ["noop", "other"], 32)
    claim = [row for row in plan if row["table"] == "bountyboard"]
    assert len(claim) == 1, plan
    step = claim[0]
    assert step["key"] == "ix_claim", plan
    # "ref" on (status, queue) or "range" with run_at: either way the PENDING rows of
    # the queue, read in index order.
    assert step["type"] in ("ref", "range"), plan
    assert "filesort" not in (step["Extra"] or ""), plan
    # Rows the optimiser expects to read: the pending ones, not the history.
    assert int(step["rows"]) < 1_000, plan


def test_the_benchmark_reads_the_claim_plan_through_the_store(cfg: DBConfig) -> None:
    # bench/run.py's history scenario reports this plan; it once failed silently when
    # db.connect stopped handing out SQLAlchemy Connections.
    from types import SimpleNamespace

    from bench.scenarios import explain_claim

    server = SimpleNamespace(
        host=cfg.host, port=cfg.port, user=cfg.user, password=cfg.password, database=cfg.database
    )
    report = explain_claim(SimpleNamespace(db=server))  # type: ignore[arg-type]
    assert "error" not in report, report
    assert report["sql"].startswith("SELECT") and "FOR UPDATE SKIP LOCKED" in report["sql"]
    assert any(row["table"] == "bountyboard" and row["key"] == "ix_claim" for row in report["rows"])
