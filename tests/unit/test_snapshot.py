"""The dashboard's shared snapshot: one computation serves every request for a while."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.helpers import wait_for
from workcraft.dashboard.snapshot import Snapshot


class Counter:
    def __init__(self) -> None:
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self) -> int:
        self.gate.wait(10)
        self.calls += 1
        return self.calls


def test_fresh_values_are_shared_stale_ones_refresh_in_the_background() -> None:
    compute = Counter()
    with ThreadPoolExecutor(max_workers=1) as pool:
        snap = Snapshot(compute, pool, fresh_for=0.2, max_stale=30)
        assert snap.get() == 1  # nothing yet: computed while the caller waits
        assert [snap.get() for _ in range(50)] == [1] * 50
        assert compute.calls == 1

        time.sleep(0.25)  # let it go stale (time itself is what is tested here)
        compute.gate.clear()  # the refresh will block until released
        assert snap.get() == 1  # stale but within max_stale: answered at once
        assert snap.get() == 1  # one refresh at a time, not one per request
        compute.gate.set()
        wait_for(lambda: snap.get() == 2, 5)
        assert compute.calls == 2


def test_a_value_older_than_max_stale_is_recomputed_while_the_caller_waits() -> None:
    compute = Counter()
    with ThreadPoolExecutor(max_workers=1) as pool:
        snap = Snapshot(compute, pool, fresh_for=0.0, max_stale=0.0)
        assert snap.get() == 1
        assert snap.get() == 2
        assert snap.get() == 3
