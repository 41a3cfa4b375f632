"""A value that every request reads and one background job refreshes.

The queue counts read a whole index (about 0.1 s per million rows). Computed per
request, every open tab would pay for one, and a page could not answer in 200 ms on a
large table. Instead a request takes the last snapshot while it is recent enough
(answering at once) and starts one refresh in the background; only a snapshot older
than ``max_stale`` is recomputed while the request waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

__all__ = ["Snapshot"]

T = TypeVar("T")


class Snapshot(Generic[T]):
    def __init__(
        self,
        compute: Callable[[], T],
        pool: ThreadPoolExecutor,
        *,
        fresh_for: float,
        max_stale: float,
    ) -> None:
        self._compute, self._pool = compute, pool
        self.fresh_for, self.max_stale = fresh_for, max_stale
        self._lock = threading.Lock()
        self._value: T | None = None
        self._taken_at = 0.0  # monotonic
        self._refreshing: Future[T] | None = None

    def get(self) -> T:
        with self._lock:
            age = time.monotonic() - self._taken_at
            value, refreshing = self._value, self._refreshing
            if refreshing is None and (value is None or age > self.fresh_for):
                refreshing = self._refreshing = self._pool.submit(self._refresh)
        if value is not None and age <= self.max_stale:
            return value
        assert refreshing is not None
        return refreshing.result()

    def _refresh(self) -> T:
        started = time.monotonic()
        try:
            value = self._compute()
        finally:
            with self._lock:
                self._refreshing = None
        with self._lock:
            self._value, self._taken_at = value, started
        return value
