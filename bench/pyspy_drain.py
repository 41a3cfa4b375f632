"""Where a draining peon spends its Python time: py-spy on one of two peons.

    .venv/bin/python bench/pyspy_drain.py [--concurrency 128] [--tasks 30000] [--seconds 3]

Starts the suite's private MariaDB, queues the tasks, starts 2 peons (as the drain
scenario does) and records one of them with ``py-spy record --gil`` (only samples in
which a thread holds the GIL: Python CPU, not waits). Prints the share of samples per
thread and per function (inclusive), the GIL's busy share, and the database cost per
task. Stops what it started. Not part of the suite's report: for the notes in RESULTS.md.
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import procs
from bench.dbstats import Window, per_unit
from bench.peers.base import Context
from bench.peers.wc_current import WorkcraftCurrent
from bench.services import BENCH_DB_DIR, REPO, free_port, start_database
from workcraft import devdb

RATE = 250  # samples per second


def aggregate(raw: str) -> tuple[int, collections.Counter[str], collections.Counter[str]]:
    """py-spy's raw (collapsed) stacks -> (samples, per thread, per function inclusive)."""
    threads: collections.Counter[str] = collections.Counter()
    functions: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        threads[re.sub(r"-\d+$", "-N", frames[0].split(": ", 1)[-1])] += count
        seen: set[str] = set()
        for frame in frames[1:]:
            name = frame.split(" (")[0]
            where = frame.rpartition("(")[2].split(":")[0]
            key = f"{name} ({where})"
            if key not in seen:
                seen.add(key)
                functions[key] += count
    return total, threads, functions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--tasks", type=int, default=30_000)
    parser.add_argument("--seconds", type=int, default=3, help="whole seconds (py-spy)")
    args = parser.parse_args()
    run_dir = REPO / ".workcraft" / "bench-run"
    # a server the suite is running right now is used, and left running
    ours = devdb.status(BENCH_DB_DIR) is None
    db = start_database(BENCH_DB_DIR)
    ctx = Context(run_dir=run_dir, db=db, db05=None, redis=None, probe_port=free_port())
    peer = WorkcraftCurrent(args.concurrency)
    out = Path(tempfile.mkdtemp()) / "pyspy.txt"
    workers: list[procs.Worker] = []
    try:
        peer.setup(ctx)
        peer.reset(ctx)
        peer.driver(ctx, "enqueue", "--n", str(args.tasks), "--mode", "bulk")
        probe = db.probe()
        window = Window(probe).__enter__()
        workers = [procs.start(c, run_dir / "logs") for c in peer.worker_commands(ctx, 2, "prof")]
        time.sleep(1.5)  # past start-up: the peons are draining
        subprocess.run(
            [
                str(REPO / ".venv" / "bin" / "py-spy"),
                "record",
                "--pid",
                str(workers[0].pid),
                "--duration",
                str(args.seconds),
                "--rate",
                str(RATE),
                "--format",
                "raw",
                "--gil",
                "--threads",
                "--nonblocking",
                "-o",
                str(out),
            ],
            check=True,
            capture_output=True,
        )
        while peer.unfinished(probe):
            time.sleep(0.05)
        cost = per_unit(window.close(), args.tasks)
        probe.close()
    finally:
        procs.stop(workers)
        if ours:
            devdb.stop(BENCH_DB_DIR)
    total, threads, functions = aggregate(out.read_text())
    possible = RATE * args.seconds
    print(f"peon with {args.concurrency} slots, {args.tasks:,} tasks queued, {args.seconds} s")
    print(f"GIL held in {total} of {possible:.0f} samples ({total / possible:.0%})")
    print("per thread:", ", ".join(f"{k} {v / total:.0%}" for k, v in threads.most_common()))
    print("per function (inclusive, top 25):")
    for name, count in functions.most_common(25):
        print(f"  {count / total:6.1%}  {name}")
    keys = ("Questions", "Com_select", "Com_update", "Com_commit", "rows_read")
    print("database per task:", ", ".join(f"{k} {cost.get(k, 0):.3f}" for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
