"""Dramatiq on Redis: the actors and the client (its own venv)."""

from __future__ import annotations

import os

import dramatiq
import probe
from dramatiq.brokers.redis import RedisBroker

broker = RedisBroker(url=os.environ["BENCH_REDIS_URL"])
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name="bench", max_retries=0)
def noop() -> None:
    probe.ran()


@dramatiq.actor(queue_name="bench", max_retries=0)
def pickup(sample: int) -> None:
    probe.picked(sample)


class Client:
    bulk = False

    def send_noop(self) -> None:
        noop.send()

    def send_pickup(self, sample: int) -> None:
        pickup.send(sample)
