"""Timeouts: an attempt that runs too long fails with a TimeoutError, and its peon's
slot takes the next task.

A timeout comes from the send (`timeout=`), else the task (`@app.task(timeout=...)`),
else DB_PEON_TASK_TIMEOUT_SECONDS in workcraft.config.json (0: none). An `async def`
task is cancelled; a thread cannot be killed, so it is asked to stop
(`current_task().cancelled`) and left to end on its own.

Run it with `python examples/timeouts.py`, with the database from `.env` set up once
by `python -m workcraft setup_database_tables`.
"""

import asyncio
import time

from _peon import running_peon

from workcraft import TaskFailed, Workcraft, current_task

QUEUE = "example-timeouts"
app = Workcraft()


@app.task("crunch", queue=QUEUE, timeout=0.5)
def crunch(steps: int) -> int:
    done = 0
    while done < steps and not current_task().cancelled:  # stop when told to
        time.sleep(0.1)
        done += 1
    return done


@app.task("fetch", queue=QUEUE)
async def fetch(seconds: float) -> str:
    await asyncio.sleep(seconds)  # cancelled for real when its time is up
    return "fetched"


def outcome(task_id: str) -> str:
    try:
        return f"SUCCESS {app.get_result_sync(task_id, timeout=10)!r}"
    except TaskFailed as exc:
        return f"{exc.status} {exc.remote_traceback.strip().splitlines()[-1]}"


def main() -> None:
    sends = {
        "crunch, timeout=0.5 declared": crunch.send(100),
        "crunch, timeout=0.2 per send": crunch.options(timeout=0.2).send(100),
        "fetch, the peon's default": fetch.send(60),
        "crunch, fast enough": crunch.send(2),
    }
    # One slot, and a peon whose DB_PEON_TASK_TIMEOUT_SECONDS is 1 (for `fetch`).
    with running_peon(app, QUEUE, concurrency=1, task_timeout_seconds=1):
        for what, task_id in sends.items():
            print(f"{what}: {outcome(task_id)}")
    print("OK")


if __name__ == "__main__":
    main()
