"""The one thing every benchmark task does: tell the bench it ran, cheaply.

Runs inside the workers of every system (any venv; stdlib only). Messages are UDP
datagrams to ``BENCH_PROBE`` (host:port on loopback), so no system gets an extra
round trip to a server in its task body:

* ``picked(sample)``, the first line of a pickup task: ``P <sample> <time_ns> <pid>``
  at once. ``time.time_ns()`` (CLOCK_REALTIME) because sender and worker are
  different processes on the same machine.
* ``ran()``, the whole body of a no-op drain task: counts in memory; a flusher thread
  per process sends ``D <pid> <count> <first_ns> <last_ns>`` every 5 ms while the
  count changes. A thread rather than a datagram per task keeps the cost per task at
  an increment; it is started lazily in each process, as forked pool children do
  not inherit threads.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

_FLUSH_SECONDS = 0.005
_IDLE_SECONDS = 0.2
_QUIET_TICKS = 200
# Held only while a process sets its probe up (the first task in each process).
_init_lock = threading.Lock()


def _target() -> tuple[str, int] | None:
    value = os.environ.get("BENCH_PROBE", "")
    if not value:
        return None
    host, _, port = value.rpartition(":")
    return host, int(port)


class _Probe:
    def __init__(self) -> None:
        self.pid = -1
        self.sock: socket.socket | None = None
        self.target: tuple[str, int] | None = None
        self.count = 0
        self.first_ns = 0
        self.last_ns = 0
        self.lock = threading.Lock()

    def _ensure(self) -> None:
        # After a fork the child owns nothing of the parent's probe.
        pid = os.getpid()
        if pid == self.pid:
            return
        with _init_lock:
            if pid != self.pid:
                self._reset(pid)

    def _reset(self, pid: int) -> None:
        self.pid = pid
        self.lock = threading.Lock()
        self.count = 0
        self.first_ns = 0
        self.last_ns = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.target = _target()
        threading.Thread(target=self._flusher, name="bench-probe", daemon=True).start()

    def _send(self, text: str) -> None:
        if self.sock is None or self.target is None:
            return
        # nobody listening right now: the bench is between scenarios
        with contextlib.suppress(OSError):
            self.sock.sendto(text.encode(), self.target)

    def picked(self, sample: int) -> None:
        now = time.time_ns()
        self._ensure()
        self._send(f"P {sample} {now} {self.pid}")

    def ran(self) -> None:
        if self.pid != os.getpid():
            self._ensure()
        now = time.time_ns()
        # A lock because thread pools call this concurrently and a lost increment
        # would leave the bench waiting for the last task forever; last_ns is set
        # before count so the flusher never pairs a new count with an old time.
        with self.lock:
            self.last_ns = now
            if not self.count:
                self.first_ns = now
            self.count += 1

    def _flusher(self) -> None:
        pid = self.pid
        sent = 0
        quiet = 0
        while pid == os.getpid():
            # Quick while tasks run; slow once idle, so an idle worker is not woken
            # 200 times a second by the bench (the report only uses the timestamps,
            # so a late datagram does not change a figure).
            time.sleep(_FLUSH_SECONDS if quiet < _QUIET_TICKS else _IDLE_SECONDS)
            count = self.count
            if count != sent:
                sent, quiet = count, 0
                self._send(f"D {pid} {count} {self.first_ns} {self.last_ns}")
            else:
                quiet += 1


_probe = _Probe()
picked = _probe.picked
ran = _probe.ran
