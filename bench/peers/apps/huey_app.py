"""Huey on Redis: the tasks, the instance and the client (its own venv).

RedisHuey dequeues with a blocking BRPOP (no polling delay); results are off, as a
no-op returns nothing Huey would store anyway.
"""

from __future__ import annotations

import os

import probe
from huey import RedisHuey

huey = RedisHuey("bench", url=os.environ["BENCH_REDIS_URL"], results=False)


@huey.task()
def noop() -> None:
    probe.ran()


@huey.task()
def pickup(sample: int) -> None:
    probe.picked(sample)


class Client:
    bulk = False

    def send_noop(self) -> None:
        noop()

    def send_pickup(self, sample: int) -> None:
        pickup(sample)
