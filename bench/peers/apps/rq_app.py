"""RQ on Redis: the job functions and the client (its own venv).

Workers run RQ's SimpleWorker (the job runs in the worker process; the default
Worker forks a child per job, which no-op throughput would only measure as fork cost).
"""

from __future__ import annotations

import os

import probe
from redis import Redis
from rq import Queue

_conn = Redis.from_url(os.environ["BENCH_REDIS_URL"])
queue = Queue("bench", connection=_conn)


def noop() -> None:
    probe.ran()


def pickup(sample: int) -> None:
    probe.picked(sample)


class Client:
    bulk = True

    def send_noop(self) -> None:
        queue.enqueue(noop)

    def send_bulk(self, n: int) -> None:
        for start in range(0, n, 1000):
            jobs = [Queue.prepare_data(noop) for _ in range(min(1000, n - start))]
            queue.enqueue_many(jobs)

    def send_pickup(self, sample: int) -> None:
        queue.enqueue(pickup, sample)
