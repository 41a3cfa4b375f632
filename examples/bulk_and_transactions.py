"""Bulk and transactional sends: many tasks in few round trips, and tasks that exist only
if your own database transaction commits.

Run it with `python examples/bulk_and_transactions.py`, with the database from `.env`
set up once by `python -m workcraft setup_database_tables`.
"""

import time

from _peon import running_peon, wait_until

from workcraft import Workcraft, get_db_config
from workcraft.db import get_engine

QUEUE = "example-bulk"
app = Workcraft()


# delete_on_success: the 10,000 demo rows do not stay in your database as history.
@app.task("add", queue=QUEUE, delete_on_success=True)
def add(a: int, b: int) -> int:
    return a + b


def main() -> None:
    # 10,000 tasks: 1,000 rows per INSERT in one transaction; a bad item writes none.
    started = time.perf_counter()
    ids = app.send_tasks_sync({"task_name": "add", "task_args": [i, i]} for i in range(10_000))
    seconds = time.perf_counter() - started
    print(f"sent {len(ids):,} tasks in {seconds:.2f} s ({len(ids) / seconds:,.0f} tasks/s)")

    # The task row is written in *your* transaction, beside your own rows: it exists
    # only if you commit. (A SQLAlchemy Session works the same: connection=session.)
    engine = get_engine(get_db_config())  # in your app: your own SQLAlchemy engine
    with engine.connect() as conn:
        dropped = app.send_task_sync("add", [1, 1], connection=conn)
        conn.rollback()
    print(f"rolled back: {'no row' if app.get_task_sync(dropped) is None else 'a row!'}")
    with engine.connect() as conn:
        kept = app.send_task_sync("add", [2, 2], connection=conn, delete_on_success=False)
        conn.commit()
    print(f"committed: the task is {app.status(kept)}")

    with running_peon(app, QUEUE, concurrency=32):
        started = time.perf_counter()
        wait_until(lambda: not app.pending(QUEUE, limit=1) and not app.running(QUEUE, limit=1), 60)
        print(f"one peon ran them all in {time.perf_counter() - started:.1f} s")
    print(f"the committed task returned {app.get_result_sync(kept, timeout=10)}")
    print("OK")


if __name__ == "__main__":
    main()
