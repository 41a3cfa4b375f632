"""The client side of one system, run in that system's venv by the bench.

    python driver.py MODULE ACTION [options]   ->  one JSON object on stdout

MODULE is one of the ``*_app`` modules beside this file; its ``Client`` sends tasks.
Actions:

* ``enqueue --n N --mode single|bulk``: send N no-op tasks (one call each, or the
  system's bulk API) and report the seconds it took.
* ``pickup --samples S``: send one pickup task at a time, each after a random idle
  gap, and report for each the nanoseconds from just before the send call to the
  task's first line (a datagram from probe.picked). ``--warmup K`` first sends
  tasks until K distinct worker processes have answered, so all are up.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import socket
import sys
import time
from typing import Any

_WARMUP_SECONDS = 60.0


def _listen() -> socket.socket:
    host, _, port = os.environ["BENCH_PROBE"].rpartition(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    return sock


def _wait_for(sock: socket.socket, sample: int, timeout: float) -> tuple[int, int] | None:
    """(time_ns, pid) of the P datagram for ``sample``; None after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            data = sock.recv(512)
        except TimeoutError:
            return None
        parts = data.decode(errors="replace").split()
        if len(parts) == 4 and parts[0] == "P" and int(parts[1]) == sample:
            return int(parts[2]), int(parts[3])


def _drain_socket(sock: socket.socket) -> None:
    sock.setblocking(False)
    try:
        while True:
            sock.recv(512)
    except (BlockingIOError, OSError):
        pass
    sock.setblocking(True)


def enqueue(client: Any, n: int, mode: str) -> dict[str, Any]:
    if mode == "bulk":
        if not getattr(client, "bulk", False):
            return {"n": n, "seconds": None, "note": "no bulk API"}
        started = time.perf_counter()
        client.send_bulk(n)
        return {"n": n, "seconds": time.perf_counter() - started}
    started = time.perf_counter()
    for _ in range(n):
        client.send_noop()
    return {"n": n, "seconds": time.perf_counter() - started}


def pickup(client: Any, args: argparse.Namespace) -> dict[str, Any]:
    sock = _listen()
    warm_pids: set[int] = set()
    sample = -1
    # By time, not tries: a worker still starting up (Celery takes seconds) would let
    # a fixed number of quick tries all go to the one already up.
    deadline = time.monotonic() + _WARMUP_SECONDS
    while len(warm_pids) < args.warmup and time.monotonic() < deadline:
        client.send_pickup(sample)
        got = _wait_for(sock, sample, args.timeout)
        if got is not None:
            warm_pids.add(got[1])
        sample -= 1
        time.sleep(0.05)
    if args.warmup and len(warm_pids) < args.warmup:
        return {"error": f"only {len(warm_pids)} of {args.warmup} workers answered"}
    time.sleep(args.settle)
    latencies: list[int] = []
    sends: list[int] = []
    pids: list[int] = []
    # (sample, before send, after send, task's first line), all time.time_ns()
    timeline: list[tuple[int, int, int, int]] = []
    missing = 0
    for i in range(args.offset, args.offset + args.samples):
        # idle gap: the workers have finished the previous task and gone back to waiting
        time.sleep(random.uniform(args.gap_min, args.gap_max) / 1000.0)
        _drain_socket(sock)
        before = time.time_ns()
        client.send_pickup(i)
        after = time.time_ns()
        got = _wait_for(sock, i, args.timeout)
        if got is None:
            missing += 1
            continue
        latencies.append(got[0] - before)
        sends.append(after - before)
        pids.append(got[1])
        timeline.append((i, before, after, got[0]))
    sock.close()
    return {
        "latencies_ns": latencies,
        "send_ns": sends,
        "pids": sorted(set(pids)),
        "warm_pids": sorted(warm_pids),
        "missing": missing,
        "timeline": timeline,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("module")
    parser.add_argument("action", choices=["enqueue", "pickup", "sleep"])
    parser.add_argument("--n", type=int, default=0)
    parser.add_argument("--mode", default="single")
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--offset", type=int, default=0, help="first sample number")
    parser.add_argument("--gap-min", type=float, default=20.0)
    parser.add_argument("--gap-max", type=float, default=50.0)
    parser.add_argument("--timeout", type=float, default=15.0)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--settle", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    client = importlib.import_module(args.module).Client()
    if args.action == "enqueue":
        result = enqueue(client, args.n, args.mode)
    elif args.action == "pickup":
        result = pickup(client, args)
    else:
        for _ in range(args.n):
            client.send_sleep(args.seconds)
        result = {"n": args.n}
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
