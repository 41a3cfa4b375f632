"""Celery on Redis: the tasks, the app and the client (its own venv).

Configured for no-op throughput: no result backend (ignore results), a raised
prefetch multiplier, JSON, acks early (Celery's default), no events.
"""

from __future__ import annotations

import os

import probe
from celery import Celery

app = Celery("bench", broker=os.environ["BENCH_REDIS_URL"])
app.conf.update(
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    task_default_queue="bench",
    worker_prefetch_multiplier=int(os.environ.get("BENCH_CELERY_PREFETCH", "64")),
    worker_send_task_events=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="noop")
def noop() -> None:
    probe.ran()


@app.task(name="pickup")
def pickup(sample: int) -> None:
    probe.picked(sample)


class Client:
    bulk = False

    def send_noop(self) -> None:
        noop.delay()

    def send_pickup(self, sample: int) -> None:
        pickup.delay(sample)
