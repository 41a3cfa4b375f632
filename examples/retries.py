"""Retries: which failures are retried (`retry_on=`), how often (`retry_limit=`), how
long to wait (`backoff=`), and a task's own say (`raise Retry(after=...)`,
`raise Discard(reason)`).

Every failed attempt is kept in the `task_attempts` table; the task's row keeps
`retry_count` and the last error, also after a later success.

Run it with `python examples/retries.py`, with the database from `.env` set up once
by `python -m workcraft setup_database_tables`.
"""

from _peon import running_peon

from workcraft import TaskFailed, Workcraft, current_task
from workcraft.errors import Discard, Retry

QUEUE = "example-retries"
app = Workcraft()


# Only ConnectionError is retried, after 0.1 s, 0.2 s, 0.3 s ... (n = retries so far).
@app.task("fetch", queue=QUEUE, retry_on=ConnectionError, backoff=lambda n: 0.1 * (n + 1))
def fetch(fail_times: int, broken: bool = False) -> str:
    if broken:
        raise ValueError("not a URL")  # not a ConnectionError: not retried
    if current_task().retry_count < fail_times:
        raise ConnectionError("no answer")
    return "fetched"


@app.task("poll", queue=QUEUE)
def poll() -> str:
    if current_task().retry_count == 0:
        raise Retry(after=0.2, reason="not ready yet")  # a retry even without retry_on_failure
    return "ready"


@app.task("charge", queue=QUEUE)
def charge(order_id: int) -> str:
    raise Discard(f"order {order_id} was cancelled")  # fails for good, no retries


def report(name: str, task_id: str) -> None:
    try:
        result = f"SUCCESS {app.get_result_sync(task_id, timeout=15)!r}"
    except TaskFailed as exc:
        result = exc.status
    task = app.get_task_sync(task_id)
    last_error = (task.error or "none").strip().splitlines()[-1]
    print(f"{name}: {result}, retry_count={task.retry_count}, last error: {last_error}")


def main() -> None:
    retry = {"retry_on_failure": True, "retry_limit": 3}
    sends = {
        "fetch, 2 failures": fetch.options(**retry).send(2),
        "fetch, 9 failures": fetch.options(**retry).send(9),
        "fetch, not retried": fetch.options(**retry).send(9, broken=True),
        "poll": poll.send(),
        "charge": charge.options(**retry).send(42),
    }
    with running_peon(app, QUEUE):
        for name, task_id in sends.items():
            report(name, task_id)
    print("OK")


if __name__ == "__main__":
    main()
