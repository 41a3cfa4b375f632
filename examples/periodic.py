"""Periodic tasks: declared in code, fired once per tick by whichever peon gets there first.

Run peons as usual, as many as you like, on any hosts; each writes the schedules into
the `schedule` table when it starts and fires what is due:

    python -m workcraft peon --workcraft_path=periodic.app --worker-id=p1
    python -m workcraft peon --workcraft_path=periodic.app --worker-id=p2

Or try it in one process: `python periodic.py [seconds]` runs a peon here for a few
seconds (default 7) and prints what the schedules did. Needs the database from `.env`,
set up with `python -m workcraft setup_database_tables`.
"""

import os
import sys
import threading
from datetime import UTC, datetime

from workcraft import Workcraft, get_db_config, load_settings

app = Workcraft()


# Every 2 seconds. The function becomes the task "heartbeat" too.
@app.periodic("heartbeat", every=2)
def heartbeat() -> str:
    return f"alive at {datetime.now(UTC):%H:%M:%S}"


# Two schedules for one task, at wall-clock times in Berlin. After downtime the daily
# report runs once for what was missed (the default); a missed weekly one is skipped.
@app.periodic("daily-report", cron="30 2 * * *", timezone="Europe/Berlin", task_args=["daily"])
@app.periodic(
    "weekly-report",
    cron="0 8 * * MON",
    timezone="Europe/Berlin",
    task_args=["weekly"],
    misfire="skip",
)
@app.task("report")
def report(kind: str) -> str:
    return f"{kind} report done"


def main(seconds: float) -> None:
    from workcraft.peon import Peon, PeonOptions

    cfg, settings = get_db_config(), load_settings()
    app.configure(cfg)
    # A peon writes the app's schedules to the `schedule` table when it starts, then
    # fires each due tick exactly once (however many peons run).
    peon = Peon(app, cfg, settings, PeonOptions(worker_id=f"periodic-example-{os.getpid()}"))
    print(f"running a peon with {len(app.schedules)} schedules for {seconds:g} s ...")
    threading.Timer(seconds, peon.stop).start()
    peon.run()

    now = datetime.now(UTC)
    for schedule in app.schedules.values():
        every = schedule.cron or f"every {schedule.every}"
        print(
            f"{schedule.name:14} {every:14} next tick {schedule.next_after(now):%Y-%m-%d %H:%M} UTC"
        )
    done = [t for t in app.finished(limit=20) if t.task_name == "heartbeat"]
    for task in reversed(done):
        print(f"heartbeat {task.id} {task.status}: {task.result}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 7.0)
