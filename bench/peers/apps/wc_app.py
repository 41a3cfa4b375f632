"""The tasks and client of workcraft as it is in this tree (the main .venv).

Peons load ``wc_app:app``; the driver uses ``Client``. Tasks are called with exactly
the arguments sent, so they take no task id.
"""

from __future__ import annotations

import time

import probe

from workcraft import Workcraft

app = Workcraft()


@app.task("noop")
def noop() -> None:
    probe.ran()


@app.task("pickup")
def pickup(sample: int) -> None:
    probe.picked(sample)


@app.task("sleep")
def sleep(seconds: float) -> None:
    time.sleep(seconds)


class Client:
    bulk = True

    def send_noop(self) -> None:
        app.send_task_sync("noop")

    def send_bulk(self, n: int) -> None:
        # one call, as a user would: send_tasks_sync batches it (1,000 rows per
        # INSERT) in one transaction
        app.send_tasks_sync([{"task_name": "noop"} for _ in range(n)])

    def send_pickup(self, sample: int) -> None:
        app.send_task_sync("pickup", [sample])

    def send_sleep(self, seconds: float) -> None:
        app.send_task_sync("sleep", [seconds])
