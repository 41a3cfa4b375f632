"""Cancellation: `app.cancel(task_id)` stops a waiting task at once and asks a running
one to stop; it never changes a finished task. (Or: `python -m workcraft cancel ID`.)

A running thread task stops where it checks: `current_task().raise_if_cancelled()`
between steps ends it CANCELLED; `current_task().cancelled` lets it decide for itself.
`async def` tasks are cancelled, process-pool children killed.

Run it with `python examples/cancellation.py`, with the database from `.env` set up
once by `python -m workcraft setup_database_tables`.
"""

import time

from _peon import running_peon, wait_until

from workcraft import TaskStatus, Workcraft, current_task

QUEUE = "example-cancel"
app = Workcraft()


@app.task("import_rows", queue=QUEUE)
def import_rows(count: int) -> int:
    for _ in range(count):
        current_task().raise_if_cancelled()  # raises Cancelled once asked to stop
        time.sleep(0.1)  # import one row
    return count


def main() -> None:
    waiting = import_rows.options(delay=60).send(10)
    print(f"waiting task: {app.cancel(waiting)}")

    running = import_rows.send(600)  # a minute's work
    with running_peon(app, QUEUE):
        wait_until(lambda: app.status(running) == TaskStatus.RUNNING)
        print(f"running task: {app.cancel(running)}")
        wait_until(lambda: app.status(running) == TaskStatus.CANCELLED)
        print(f"running task is now {app.status(running)}")

    print(f"cancel it again: {app.cancel(running)}")
    print(f"cancel an id nobody sent: {app.cancel('no-such-task')}")
    print("OK")


if __name__ == "__main__":
    main()
