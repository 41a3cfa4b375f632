"""The database's own ceilings, measured with plain PyMySQL and no workcraft code.

* **claim-and-finish**: 2 client processes each loop ``BEGIN; SELECT id … LIMIT 100
  FOR UPDATE SKIP LOCKED; UPDATE … RUNNING; COMMIT; UPDATE … SUCCESS; COMMIT`` over
  rows queued in workcraft's own ``bountyboard`` table: the rate no peon on this
  server can beat (it does the same and also runs the tasks).
* **single-row commit**: 1 client, ``INSERT`` one row + ``COMMIT`` in a loop: the
  rate a one-at-a-time sender cannot beat at innodb_flush_log_at_trx_commit=1.
* **idle commit**: 1 client, one autocommit ``INSERT`` after each random idle gap
  (the pickup scenario's pacing, 20-50 ms), timed from before the call to its reply: the floor
  under any pickup whose task starts only once its row is durable.

``python -m bench.ceiling claim|commit`` is one client process; the functions at the
bottom run them and fill the table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import uuid
from typing import Any

import pymysql

from bench.services import REPO, Database

_CLAIM = (
    "SELECT id FROM bountyboard FORCE INDEX (ix_claim) "
    "WHERE pending_queue = %s AND run_at <= NOW(6) "
    "ORDER BY priority DESC, run_at, id LIMIT %s FOR UPDATE SKIP LOCKED"
)


def _connect(autocommit: bool = False) -> pymysql.Connection:
    conn = pymysql.connect(
        host=os.environ["WK_DB_HOST"],
        port=int(os.environ["WK_DB_PORT"]),
        user=os.environ["WK_DB_USER"],
        password=os.environ["WK_DB_PASS"],
        database=os.environ["WK_DB_NAME"],
        autocommit=autocommit,
    )
    with conn.cursor() as cur:
        # as workcraft's connections: the claim wants the latest committed rows
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
    return conn


def _wait_until(start_at: float) -> None:
    # both clients start together: the rate is measured over their common window
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)


def claim_client(batch: int, start_at: float) -> dict[str, Any]:
    conn = _connect()
    done = 0
    _wait_until(start_at)
    began = time.time()
    with conn.cursor() as cur:
        while True:
            conn.begin()
            cur.execute(_CLAIM, ("DEFAULT", batch))
            ids = [row[0] for row in cur.fetchall()]
            if not ids:
                conn.commit()
                break
            marks = ", ".join(["%s"] * len(ids))
            cur.execute(
                "UPDATE bountyboard SET status = 'RUNNING', worker_id = 'ceiling', "
                f"attempt = attempt + 1, started_at = NOW(6) WHERE id IN ({marks})",
                ids,
            )
            conn.commit()
            cur.execute(
                "UPDATE bountyboard SET status = 'SUCCESS', result = 'null', "
                f"finished_at = NOW(6) WHERE id IN ({marks})",
                ids,
            )
            conn.commit()
            done += len(ids)
    ended = time.time()
    conn.close()
    return {"rows": done, "start": began, "end": ended}


def commit_client(n: int) -> dict[str, Any]:
    conn = _connect()
    payload = json.dumps({"args": [], "kwargs": {}})
    with conn.cursor() as cur:
        began = time.perf_counter()
        for _ in range(n):
            cur.execute(
                "INSERT INTO bountyboard (id, task_name, queue, payload) "
                "VALUES (%s, 'noop', 'ceiling', %s)",
                (str(uuid.uuid4()), payload),
            )
            conn.commit()
        seconds = time.perf_counter() - began
    conn.close()
    return {"rows": n, "seconds": seconds}


def idle_commit_client(n: int, gap_min_ms: float, gap_max_ms: float) -> dict[str, Any]:
    conn = _connect(autocommit=True)
    payload = json.dumps({"args": [], "kwargs": {}})
    latencies: list[int] = []
    with conn.cursor() as cur:
        for _ in range(n):
            time.sleep(random.uniform(gap_min_ms, gap_max_ms) / 1000)
            row = (str(uuid.uuid4()), payload)
            began = time.perf_counter_ns()
            cur.execute(
                "INSERT INTO bountyboard (id, task_name, queue, payload) "
                "VALUES (%s, 'noop', 'ceiling', %s)",
                row,
            )
            latencies.append(time.perf_counter_ns() - began)
    conn.close()
    return {"latencies_ns": latencies}


# ---------------------------------------------------------------- orchestration


def fill_pending(db: Database, n: int) -> None:
    """Queue ``n`` PENDING no-op rows (multi-row INSERTs, one commit)."""
    conn = pymysql.connect(
        host=db.host, port=db.port, user=db.user, password=db.password, database=db.database
    )
    payload = json.dumps({"args": [], "kwargs": {}})
    with conn.cursor() as cur:
        for start in range(0, n, 1000):
            rows = [(str(uuid.uuid4()), payload) for _ in range(min(1000, n - start))]
            cur.executemany(
                "INSERT INTO bountyboard (id, task_name, queue, payload) "
                "VALUES (%s, 'noop', 'DEFAULT', %s)",
                rows,
            )
    conn.commit()
    conn.close()


def _spawn(db: Database, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.ceiling", *args],
        cwd=REPO,
        env={**os.environ, **db.env()},
        stdout=subprocess.PIPE,
        text=True,
    )


def _result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"ceiling client exited {proc.returncode}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def claim_rate(db: Database, rows: int, clients: int = 2, batch: int = 100) -> dict[str, Any]:
    """Rows/s of ``clients`` processes claiming and finishing ``rows`` queued rows."""
    start_at = time.time() + 1.5  # after both processes have imported and connected
    procs = [_spawn(db, "claim", "--batch", str(batch), "--start-at", str(start_at))]
    procs += [
        _spawn(db, "claim", "--batch", str(batch), "--start-at", str(start_at))
        for _ in range(clients - 1)
    ]
    results = [_result(p) for p in procs]
    done = sum(r["rows"] for r in results)
    seconds = max(r["end"] for r in results) - min(r["start"] for r in results)
    return {"rows": done, "seconds": seconds, "rate": done / seconds if seconds else 0.0}


def commit_rate(db: Database, n: int) -> dict[str, Any]:
    result = _result(_spawn(db, "commit", "--n", str(n)))
    return {**result, "rate": result["rows"] / result["seconds"]}


def idle_commit_latency(db: Database, n: int, gap_ms: tuple[float, float]) -> dict[str, Any]:
    """Latencies (ns) of ``n`` autocommit INSERTs, each after a random idle gap."""
    args = ["--gap-min", str(gap_ms[0]), "--gap-max", str(gap_ms[1])]
    return _result(_spawn(db, "idle-commit", "--n", str(n), *args))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["claim", "commit", "idle-commit"])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--start-at", type=float, default=0.0)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--gap-min", type=float, default=20.0)
    parser.add_argument("--gap-max", type=float, default=50.0)
    args = parser.parse_args()
    if args.mode == "claim":
        result = claim_client(args.batch, args.start_at)
    elif args.mode == "commit":
        result = commit_client(args.n)
    else:
        result = idle_commit_client(args.n, args.gap_min, args.gap_max)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
