"""When a task may run: later (`delay=`, `run_at=`), before others (`priority=`), or not
at all once it is too late (`expires=`).

Run it with `python examples/when_to_run.py`, with the database from `.env` set up once
by `python -m workcraft setup_database_tables`. The expired task is marked EXPIRED by
the database's maintenance, within DB_SETUP_RUN_SELF_CORRECT_TASK_INTERVAL seconds.
"""

import time
from datetime import UTC, datetime, timedelta

from _peon import running_peon, wait_until

from workcraft import TaskStatus, Workcraft, load_settings

QUEUE = "example-when"
app = Workcraft()


@app.task("step", queue=QUEUE)
def step(name: str) -> str:
    return name


def main() -> None:
    # Sent while no peon runs. Higher priority first; FIFO within a priority.
    ids = [
        step.send("low 1"),
        step.options(priority=10).send("urgent"),
        step.send("low 2"),
    ]
    # Must start within 0.5 s, but no peon runs for a second: it never runs.
    too_late = step.options(expires=0.5).send("too late")
    time.sleep(1)
    later = step.options(delay=1).send("delayed")  # seconds, or a timedelta
    at = step.options(run_at=datetime.now(UTC) + timedelta(seconds=1)).send("at a time")

    with running_peon(app, QUEUE, concurrency=1):
        for task_id in [*ids, later, at]:
            app.get_result_sync(task_id, timeout=10)
        tasks = sorted((app.get_task_sync(i) for i in ids), key=lambda t: t.started_at)
        print("ran in order:", ", ".join(t.result for t in tasks))
        for task_id in (later, at):
            task = app.get_task_sync(task_id)
            waited = (task.started_at - task.created_at).total_seconds()
            print(f"{task.result!r} started {waited:.1f} s after it was sent")
        wait = load_settings().self_correct_interval * 3 + 5
        wait_until(lambda: app.status(too_late) == TaskStatus.EXPIRED, timeout=wait)
        task = app.get_task_sync(too_late)
        print(f"'too late' ended {task.status}, started: {task.started_at or 'never'}")
    print("OK")


if __name__ == "__main__":
    main()
