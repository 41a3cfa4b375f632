"""A peon inside an example script, for the length of a ``with`` block.

The examples run their own peon so that each is one command. In production peons are
processes of their own, as many as you like, on any hosts that reach the database:

    python -m workcraft peon --workcraft_path=tasks.app --queues=emails,reports
"""

from __future__ import annotations

import _thread
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from workcraft import Workcraft, get_db_config, load_settings
from workcraft.peon import Peon, PeonOptions


@contextmanager
def running_peon(
    app: Workcraft, *queues: str, concurrency: int = 4, **settings: Any
) -> Iterator[Peon]:
    """Run a peon for ``app`` serving ``queues`` in a thread; stop it when the block ends.

    Its settings are workcraft.config.json's with ``settings`` (field names of
    ``workcraft.Settings``) on top. It polls every 0.1 s and beats every 0.5 s at most,
    so that the demos never wait for the defaults' polls and heartbeats.
    """
    cfg = get_db_config()
    app.configure(cfg)
    base = load_settings()
    quick = {
        "polling_interval": 0.1,
        "fallback_polling_interval": 0.1,
        "peon_heartbeat_interval": 0.5,
    }
    quick = {name: min(seconds, getattr(base, name)) for name, seconds in quick.items()}
    config = dataclasses.replace(base, **{**quick, **settings})
    options = PeonOptions(
        worker_id=f"{queues[0]}-{os.getpid()}", queues=queues, concurrency=concurrency
    )
    peon = Peon(app, cfg, config, options)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            peon.run()
        except BaseException as exc:  # e.g. the database's schema is out of date
            failed.append(exc)
            _thread.interrupt_main()  # rather than let the example wait for its tasks

    thread = threading.Thread(target=run, name="peon", daemon=True)
    thread.start()
    try:
        yield peon
    except KeyboardInterrupt:
        peon.stop(force=True)  # Ctrl-C: what runs goes back to PENDING now
        if failed:
            raise RuntimeError("the example's peon failed") from failed[0]
        raise
    finally:
        peon.stop()
        thread.join(timeout=config.peon_shutdown_grace_seconds + 15)


def wait_until(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll ``condition`` until it is true (and return it); TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"still waiting after {timeout:g} s")
        time.sleep(0.05)
    return value
