"""The scenarios of issue #6, each written once for every system.

Each function runs one scenario for one system (or the database alone) and returns
plain JSON-able dicts: one per repeat, plus what the report needs to summarise them.
How each one measures is described in ``METHODS`` (the report prints it).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from bench import ceiling, procs
from bench.dbstats import Probe, Window, per_unit
from bench.peers.base import Context, Peer
from bench.peers.wc_current import WorkcraftCurrent
from bench.stats import percentile


@dataclass(frozen=True)
class Scale:
    """How big a run is: the full run, or --quick (under 2 minutes)."""

    quick: bool
    repeats: int
    drain_n: int
    drain_window_s: float  # for the 0.5.27 default, which drains 0.4 tasks/s
    pickup_samples: int
    pickup_samples_slow: int  # for the 0.5.27 default (seconds per sample)
    idle_seconds: float
    history_rows: int
    long_seconds: float
    enqueue_single_n: int
    enqueue_bulk_n: int
    ceiling_rows: int
    commit_n: int

    @classmethod
    def make(cls, quick: bool, repeats: int | None) -> Scale:
        if quick:
            return cls(
                quick=True,
                repeats=repeats or 1,
                drain_n=3_000,
                drain_window_s=6.0,
                pickup_samples=30,
                pickup_samples_slow=2,
                idle_seconds=6.0,
                history_rows=300_000,
                long_seconds=6.0,
                enqueue_single_n=500,
                enqueue_bulk_n=20_000,
                ceiling_rows=10_000,
                commit_n=500,
            )
        return cls(
            quick=False,
            repeats=repeats or 3,
            drain_n=20_000,
            drain_window_s=30.0,
            pickup_samples=200,
            pickup_samples_slow=10,
            idle_seconds=60.0,
            history_rows=5_000_000,
            long_seconds=60.0,
            enqueue_single_n=2_000,
            enqueue_bulk_n=100_000,
            ceiling_rows=20_000,
            commit_n=2_000,
        )


METHODS = {
    "ceiling": (
        "2 client processes (PyMySQL, no workcraft code), READ COMMITTED, each looping "
        "`BEGIN; SELECT id FROM bountyboard FORCE INDEX (ix_claim) WHERE "
        "pending_queue='DEFAULT' AND run_at <= NOW(6) ORDER BY priority DESC, run_at, id LIMIT "
        "100 FOR UPDATE SKIP LOCKED; UPDATE ... SET status='RUNNING' ...; COMMIT; UPDATE "
        "... SET status='SUCCESS', result, finished_at ...; COMMIT` over N rows queued in a "
        "freshly set-up workcraft schema; rows/s from the common start to the last "
        "commit. The same again on a copy of the table with only the primary key and "
        "ix_claim (a diagnostic: what the other secondary indexes, each moved on every "
        "status change, cost). Single-row commit: 1 client, `INSERT` one row + `COMMIT`, "
        "N times. Idle commit: 1 client in autocommit mode, one `INSERT` after each "
        "random idle gap of 20-50 ms (the pickup scenario's pacing), timed from before "
        "the call to its reply, as many as the pickup scenario's samples: the floor "
        "under a pickup whose task starts only once its row is durable. mariadbd CPU: "
        "user + system time of the server process per row."
    ),
    "drain": (
        "The queue is filled first with the workers stopped (bulk where the system has "
        "a bulk API, else one send per task). Then 2 worker processes are started and "
        "the clock runs from the first task body's first line (so no system's start-up "
        "time counts) to the last task's completion: for workcraft the latest "
        "`finished_at` of the rows once all N rows are SUCCESS (the outcome written to "
        "the database, checked row by row: status, result, started_at, finished_at, "
        "worker_id); for workcraft 0.5.27 when the bench's 10 ms poll first finds no "
        "PENDING/RUNNING row (its schema keeps no finish time); for the Redis peers the "
        "last task body's end (their ack comes later, so this favours them slightly). "
        "Every task body is one call to `probe.ran()`, an in-memory counter that a thread "
        "in each worker reports by UDP every 5 ms: the same cost in every system. "
        "Results are off for the Redis peers (no result backend); workcraft always "
        "writes its row. Rate = N / (end - start). workcraft 0.5.27 with its default "
        "settings sleeps 5 s before each claim: it is measured over a fixed window "
        "(tasks completed in the first W seconds after its first task started). "
        "workcraft 0.5.27 busy-polling and RQ drain 3,000 tasks instead of N (0.5.27's "
        "claim sorts every queued row: at 20,000 queued it read 5,000 rows per task and "
        "drained 56 tasks/s, 6 minutes per repeat; RQ runs ~200 tasks/s). Repeats run "
        "in rounds, every system once per round, so each system's repeats span the same "
        "minutes of this drifting machine as its peers'."
    ),
    "pickup": (
        "2 worker processes, started and warmed up (a task answered by each), then left "
        "idle. One task at a time, each after a random idle gap of 20-50 ms once the "
        "previous one has started (20-5,000 ms for workcraft 0.5.27's default, so that "
        "sends fall anywhere in its 5 s poll cycle): latency = the task body's first line "
        "(`time.time_ns()`, CLOCK_REALTIME, sent by UDP) minus `time.time_ns()` just "
        "before the client's send call (so it includes the send itself: for workcraft "
        "an INSERT and its durable COMMIT). p50/p90/p99 per repeat. Before each "
        "system's samples, MariaDB's purge and dirty pages left by the drain scenario "
        "are let settle (as before the history drain), so that no system's latency "
        "shares the disk and CPUs with the database's background writes."
    ),
    "enqueue": (
        "Workers stopped, empty queue. Single: N calls of the client's one-task send "
        "(`app.send_task_sync`, Celery `.delay`, Huey's task call, Dramatiq `.send`, RQ "
        "`enqueue`), one at a time in one process. Bulk: one `app.send_tasks_sync` call "
        "with N tasks (RQ: `enqueue_many` in pipelines of 1,000; workcraft 0.5.27 has no "
        "bulk send: multi-row INSERTs as its README allows). For workcraft, each single "
        "repeat is paired with the database's own single-row commit rate measured right "
        "before it on the same table (1 PyMySQL client, INSERT + COMMIT), and the target's "
        "ratio is the median of the pairs' ratios: the machine is shared, and rates drift "
        "between minutes."
    ),
    "history": (
        "workcraft's best drain configuration first drains the empty table (its "
        "repeats, just before the fill: the machine's speed drifts over the minutes "
        "since the drain scenario). Then bountyboard is filled with finished SUCCESS "
        "rows (INSERT ... SELECT from MariaDB's sequence engine, 250,000 rows per "
        "statement, ids older than any new task), InnoDB purge and page flushing are "
        "let settle, and the same drain runs again; ratio = its rate / the empty-table "
        "rate just before. EXPLAIN of workcraft's own claim statement "
        "(store._CLAIM_SELECT) with representative parameters, on the full table."
    ),
    "idle": (
        "1 worker started and warmed up, then idle: SHOW GLOBAL STATUS before and after "
        "a window, minus the bench's own statements; Questions (statements sent by "
        "clients; the database's own events are not counted) per second. A window "
        "without any worker gives the baseline. workcraft 0.5.27's windows are a third as "
        "long (its cost is steady). Memory: VmRSS of each worker process "
        "after the pickup scenario (idle), main process and children."
    ),
    "long": (
        "1 peon with --concurrency=8 (default settings: heartbeat every 5 s), 8 tasks "
        "that each sleep S seconds plus 4 more; polled every 250 ms until the first "
        "finishes: the peon's heartbeat age (database clock) and how many rows are "
        "RUNNING and PENDING."
    ),
}


# ------------------------------------------------------------------- probe listener


class DrainListener:
    """Collects the workers' ``D pid count first_ns last_ns`` datagrams."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.state: dict[int, tuple[int, int, int]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(512)
            except TimeoutError:
                continue
            except OSError:
                return
            parts = data.decode(errors="replace").split()
            if len(parts) != 5 or parts[0] != "D":
                continue
            pid, count, first, last = (int(x) for x in parts[1:])
            with self._lock:
                old = self.state.get(pid)
                if old is None or count >= old[0]:
                    self.state[pid] = (count, first, last)

    def total(self) -> int:
        with self._lock:
            return sum(c for c, _, _ in self.state.values())

    def first_ns(self) -> int | None:
        with self._lock:
            firsts = [f for c, f, _ in self.state.values() if c]
        return min(firsts) if firsts else None

    def last_ns(self) -> int | None:
        with self._lock:
            lasts = [t for c, _, t in self.state.values() if c]
        return max(lasts) if lasts else None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


# --------------------------------------------------------------------------- drain


def drain_once(peer: Peer, ctx: Context, scale: Scale, tag: str) -> dict[str, Any]:
    """Fill the queue, start 2 workers, time from the first task to the last."""
    slow = _slow(peer)
    n = 60 if slow else min(scale.drain_n, peer.drain_tasks or scale.drain_n)
    peer.reset(ctx)
    enq = peer.driver(ctx, "enqueue", "--n", str(n), "--mode", "bulk")
    if enq.get("seconds") is None:
        enq = peer.driver(ctx, "enqueue", "--n", str(n), "--mode", "single")
    db = peer.database(ctx)
    probe = db.probe() if db is not None else None
    listener = DrainListener(ctx.probe_port)
    window = Window(probe).__enter__() if probe is not None else None
    server = _server_pid(peer, ctx)
    server_cpu0 = procs.cpu_seconds(server) if server else 0.0
    workers = [procs.start(c, ctx.run_dir / "logs") for c in peer.worker_commands(ctx, 2, tag)]
    result: dict[str, Any] = {"n": n, "enqueue_seconds": enq["seconds"]}
    try:
        deadline = time.monotonic() + n / 20 + 120
        if slow:
            result.update(_windowed(listener, scale.drain_window_s, deadline, workers))
        else:
            worker_cpu0 = _cpu_at_first_task(listener, workers, deadline)
            end_ns = _wait_done(peer, probe, listener, n, deadline, workers)
            # CPU per task: which side (server or workers) the drain spends it on
            result["cpu_us_per_task"] = {
                "workers": (sum(procs.cpu_seconds(w.pid) for w in workers) - worker_cpu0) / n * 1e6,
                "server": (procs.cpu_seconds(server) - server_cpu0) / n * 1e6 if server else None,
            }
            if window is not None and probe is not None:
                result["db"] = window.close()
                window = None
                # read after the window: the bench's own reads are not the drain's cost
                finished = peer.last_finish_unix(probe)
                end_ns = int(finished * 1e9) if finished is not None else end_ns
            start_ns = listener.first_ns()
            assert start_ns is not None
            # a task run twice (0.5.27 requeues some) is not twice the throughput
            done = min(listener.total(), n)
            seconds = (end_ns - start_ns) / 1e9
            result.update({"seconds": seconds, "rate": done / seconds, "done": done})
        if probe is not None:
            if window is not None:
                result["db"] = window.close()
            result["db_per_task"] = per_unit(result["db"], result["done"])
            if not slow:
                result["rows"] = peer.check_rows(probe, n)
            result["statuses"] = dict(
                (str(s), int(c))
                for s, c in probe.query("SELECT status, COUNT(*) FROM bountyboard GROUP BY status")
            )
    finally:
        procs.stop(workers)
        listener.close()
        if probe is not None:
            probe.close()
    return result


def _server_pid(peer: Peer, ctx: Context) -> int:
    """mariadbd for database-backed systems, redis-server for the others."""
    db = peer.database(ctx)
    if db is not None:
        return db.pid
    if ctx.redis is not None and ctx.redis.proc is not None:
        return ctx.redis.proc.pid
    return 0


def _cpu_at_first_task(
    listener: DrainListener, workers: list[procs.Worker], deadline: float
) -> float:
    """The workers' CPU time when their first task ran: start-up is not the drain's."""
    while listener.first_ns() is None:
        if time.monotonic() > deadline:
            raise TimeoutError("drain: no task started")
        _alive_check(workers)
        time.sleep(0.002)
    return sum(procs.cpu_seconds(w.pid) for w in workers)


def _slow(peer: Peer) -> bool:
    """workcraft 0.5.27 with its default 5 s poll: a task per 5 s per process."""
    return float(getattr(peer, "polling", 0)) >= 1


def _alive_check(workers: list[procs.Worker]) -> None:
    dead = [w for w in workers if not w.alive()]
    if dead:
        raise RuntimeError(
            f"worker {dead[0].command.name} exited ({dead[0].proc.returncode}); see {dead[0].log}"
        )


def _wait_done(
    peer: Peer,
    probe: Probe | None,
    listener: DrainListener,
    n: int,
    deadline: float,
    workers: list[procs.Worker],
) -> int:
    """Wait until the drain is over; return its end, in time.time_ns().

    Redis peers: every task body ran (the last body's end). Database-backed: when the
    poll saw no row PENDING or RUNNING any more, so a system that loses tasks (0.5.27
    marks some INVALID under contention) still ends; the caller then takes the last
    finished_at instead where the schema keeps it.
    """
    checked = 0.0
    while True:
        total = listener.total()
        if probe is None and total >= n:
            last = listener.last_ns()
            assert last is not None
            return last
        if probe is not None and (total >= n or time.monotonic() - checked > 0.5):
            checked = time.monotonic()
            polled = _wait_unfinished(peer, probe, deadline) if total >= n else None
            if polled is None and not peer.unfinished(probe):
                polled = time.time_ns()
            if polled is not None:
                time.sleep(0.3)  # the last datagrams of the workers' flushers
                return polled
        if time.monotonic() > deadline:
            raise TimeoutError(f"drain: {total} of {n} tasks ran before the timeout")
        _alive_check(workers)
        time.sleep(0.01)


def _wait_unfinished(peer: Peer, probe: Probe, deadline: float) -> int:
    while True:
        left = peer.unfinished(probe)
        now = time.time_ns()
        if not left:
            return now
        if time.monotonic() > deadline:
            raise TimeoutError("drain: rows still PENDING/RUNNING at the timeout")
        time.sleep(0.01)


def _windowed(
    listener: DrainListener, window_s: float, deadline: float, workers: list[procs.Worker]
) -> dict[str, Any]:
    while listener.first_ns() is None:
        if time.monotonic() > deadline:
            raise TimeoutError("drain: no task started")
        _alive_check(workers)
        time.sleep(0.05)
    first = listener.first_ns()
    assert first is not None
    while time.time_ns() < first + int(window_s * 1e9):
        time.sleep(0.05)
    time.sleep(0.3)  # the idle flusher's last report
    cutoff = first + int(window_s * 1e9)
    done = listener.total()
    last = listener.last_ns() or cutoff
    if last > cutoff:
        done -= 1  # a task that started after the window closed does not count
    return {"seconds": window_s, "rate": done / window_s, "done": done, "windowed": True}


# -------------------------------------------------------------------------- pickup


# Idle gap before each pickup sample (ms), also the idle commit's (db_ceiling).
PICKUP_GAP_MS = (20, 50)


def pickup(peer: Peer, ctx: Context, scale: Scale, tag: str) -> dict[str, Any]:
    """Latency samples (repeats) with 2 idle workers, then their idle memory."""
    slow = _slow(peer)
    samples = scale.pickup_samples_slow if slow else scale.pickup_samples
    timeout = 20.0 if slow else 10.0
    peer.reset(ctx)
    settled = settle_database(ctx)
    workers = [procs.start(c, ctx.run_dir / "logs") for c in peer.worker_commands(ctx, 2, tag)]
    repeats: list[dict[str, Any]] = []
    try:
        for rep in range(scale.repeats):
            # sample numbers unique across repeats, so rows can be matched to samples
            args = ["--samples", str(samples), "--timeout", str(timeout)]
            args += ["--offset", str(rep * 100_000)]
            # slow: sends at random points of its 5 s poll cycle, not just after a poll
            gap_min, gap_max = (PICKUP_GAP_MS[0], 5000) if slow else PICKUP_GAP_MS
            args += ["--gap-min", str(gap_min), "--gap-max", str(gap_max)]
            if rep == 0:
                args += ["--warmup", "2", "--settle", "1"]
            out = peer.driver(ctx, "pickup", *args, timeout=samples * (timeout + 1) + 300)
            if "error" in out:
                raise RuntimeError(f"{peer.label}: pickup: {out['error']}")
            _alive_check(workers)
            lat_ms = [v / 1e6 for v in out["latencies_ns"]]
            send_ms = [v / 1e6 for v in out["send_ns"]]
            repeats.append(
                {
                    "samples": len(lat_ms),
                    "missing": out["missing"],
                    "p50": percentile(lat_ms, 50),
                    "p90": percentile(lat_ms, 90),
                    "p99": percentile(lat_ms, 99),
                    "max": max(lat_ms),
                    "send_p50": percentile(send_ms, 50),
                    "pids": out["pids"],
                    "stages": _pickup_stages(peer, ctx, out["timeline"]),
                }
            )
        time.sleep(2.0)  # idle again before memory is read
        memory = [procs.tree_memory(w.pid) for w in workers]
        rss = {
            "workers": [
                {"main_kib": m.main_kib, "processes_kib": m.per_process_kib} for m in memory
            ],
            "per_process_kib": [k for m in memory for k in m.per_process_kib],
            "total_kib": sum(m.total_kib for m in memory),
        }
    finally:
        procs.stop(workers)
    return {"repeats": repeats, "memory": rss, "settled": settled}


def _pickup_stages(peer: Peer, ctx: Context, timeline: list[list[int]]) -> dict[str, float] | None:
    """Where a workcraft pickup's time goes, from the rows' own timestamps (database
    clock, same machine): send call -> row inserted (created_at) -> claimed
    (started_at, the claim's UPDATE) -> the task's first line. Medians in ms."""
    if not isinstance(peer, WorkcraftCurrent) or ctx.db is None or not timeline:
        return None
    probe = ctx.db.probe()
    try:
        rows = probe.query(
            "SELECT CAST(JSON_VALUE(payload, '$.task_args[0]') AS SIGNED), "
            "UNIX_TIMESTAMP(created_at), UNIX_TIMESTAMP(started_at) FROM bountyboard "
            "WHERE task_name = 'pickup' AND JSON_VALUE(payload, '$.task_args[0]') >= 0"
        )
    finally:
        probe.close()
    stamps = {int(i): (float(c), float(st)) for i, c, st in rows if st is not None}
    insert_ms, claim_ms, run_ms, return_ms = [], [], [], []
    for sample, before, after, body in timeline:
        if sample not in stamps:
            continue
        created, started = stamps[sample]
        insert_ms.append((created * 1e9 - before) / 1e6)
        claim_ms.append((started - created) * 1e3)
        run_ms.append((body - started * 1e9) / 1e6)
        return_ms.append((after - before) / 1e6)
    if not insert_ms:
        return None
    return {
        "send_to_insert": percentile(insert_ms, 50),
        "insert_to_claim": percentile(claim_ms, 50),
        "claim_to_first_line": percentile(run_ms, 50),
        "send_call": percentile(return_ms, 50),
        "matched": len(insert_ms),
    }


# ---------------------------------------------------------------------------- idle


def idle_cost(peer: Peer, ctx: Context, scale: Scale, tag: str) -> dict[str, Any]:
    """Statements per second the database serves one idle worker (database-backed)."""
    db = peer.database(ctx)
    assert db is not None
    peer.reset(ctx)
    probe = db.probe()
    workers = [procs.start(c, ctx.run_dir / "logs") for c in peer.worker_commands(ctx, 1, tag)]
    repeats: list[dict[str, Any]] = []
    try:
        out = peer.driver(ctx, "pickup", "--samples", "0", "--warmup", "1", "--settle", "0")
        if "error" in out:
            raise RuntimeError(f"{peer.label}: idle warm-up: {out['error']}")
        time.sleep(3.0)  # past the warm-up task's outcome and the next heartbeat
        # 0.5.27's cost is steady (a poll every 5 s, or thousands per second): shorter
        seconds = scale.idle_seconds if peer.system == "workcraft" else scale.idle_seconds / 3
        for _ in range(scale.repeats):
            window = Window(probe).__enter__()
            time.sleep(seconds)
            cost = window.close()
            _alive_check(workers)
            repeats.append({"seconds": seconds, "db": cost, "per_second": per_unit(cost, seconds)})
    finally:
        procs.stop(workers)
        probe.close()
    return {"repeats": repeats}


def idle_baseline(ctx: Context, seconds: float) -> dict[str, Any]:
    """The same window with no worker at all: what the server does by itself."""
    assert ctx.db is not None
    probe = ctx.db.probe()
    try:
        window = Window(probe).__enter__()
        time.sleep(seconds)
        cost = window.close()
    finally:
        probe.close()
    return {"seconds": seconds, "db": cost, "per_second": per_unit(cost, seconds)}


# ------------------------------------------------------------------------- enqueue


def enqueue(peer: Peer, ctx: Context, scale: Scale) -> dict[str, Any]:
    single: list[dict[str, Any]] = []
    bulk: list[dict[str, Any]] = []
    db = peer.database(ctx)
    for _ in range(scale.repeats):
        peer.reset(ctx)
        row: dict[str, Any] = {}
        if isinstance(peer, WorkcraftCurrent) and ctx.db is not None:
            # the database's own single-row commit rate right before, on the same table:
            # the machine is shared, so the target's ratio is taken pair by pair
            row["commit_rate"] = ceiling.commit_rate(ctx.db, scale.enqueue_single_n)["rate"]
            peer.reset(ctx)
        probe = db.probe() if db is not None else None
        window = Window(probe).__enter__() if probe is not None else None
        out = peer.driver(ctx, "enqueue", "--n", str(scale.enqueue_single_n), "--mode", "single")
        row.update({"n": out["n"], "seconds": out["seconds"], "rate": out["n"] / out["seconds"]})
        if window is not None:
            row["db_per_task"] = per_unit(window.close(), out["n"])
        single.append(row)
        peer.reset(ctx)
        out = peer.driver(ctx, "enqueue", "--n", str(scale.enqueue_bulk_n), "--mode", "bulk")
        if out.get("seconds") is not None:
            bulk.append(
                {"n": out["n"], "seconds": out["seconds"], "rate": out["n"] / out["seconds"]}
            )
        if probe is not None:
            probe.close()
    peer.reset(ctx)
    return {"single": single, "bulk": bulk}


# ------------------------------------------------------------------------- ceiling


def db_ceiling(peer: WorkcraftCurrent, ctx: Context, scale: Scale) -> dict[str, Any]:
    """The database's own claim-and-finish and single-commit rates (workcraft schema)."""
    assert ctx.db is not None
    claims: list[dict[str, Any]] = []
    commits: list[dict[str, Any]] = []
    idle_commits: list[dict[str, Any]] = []
    for _ in range(scale.repeats):
        peer.reset(ctx)
        ceiling.fill_pending(ctx.db, scale.ceiling_rows)
        probe = ctx.db.probe()
        window = Window(probe).__enter__()
        cpu0 = procs.cpu_seconds(ctx.db.pid)
        out = ceiling.claim_rate(ctx.db, scale.ceiling_rows)
        out["server_cpu_us_per_row"] = (procs.cpu_seconds(ctx.db.pid) - cpu0) / out["rows"] * 1e6
        cost = window.close()
        probe.close()
        out["db_per_row"] = per_unit(cost, out["rows"])
        claims.append(out)
        peer.reset(ctx)
        commits.append(ceiling.commit_rate(ctx.db, scale.commit_n))
        peer.reset(ctx)
        lat_ms = [
            v / 1e6
            for v in ceiling.idle_commit_latency(ctx.db, scale.pickup_samples, PICKUP_GAP_MS)[
                "latencies_ns"
            ]
        ]
        idle_commits.append(
            {
                "p50": percentile(lat_ms, 50),
                "p90": percentile(lat_ms, 90),
                "p99": percentile(lat_ms, 99),
                "samples": len(lat_ms),
            }
        )
    peer.reset(ctx)
    return {
        "claim": claims,
        "commit": commits,
        "idle_commit": idle_commits,
        "claim_lean": _lean_ceiling(ctx, scale),
    }


def _lean_ceiling(ctx: Context, scale: Scale) -> dict[str, Any]:
    """The same claim-and-finish on a copy of bountyboard with only the primary key and
    ix_claim: what the other secondary indexes (each moved on every status change)
    cost the ceiling. A diagnostic for the reader, not a target."""
    assert ctx.db is not None
    lean = replace(ctx.db, database="bench_lean")
    probe = ctx.db.probe()
    runs: list[dict[str, Any]] = []
    try:
        probe.execute("DROP DATABASE IF EXISTS bench_lean")
        probe.execute("CREATE DATABASE bench_lean")
        probe.execute(f"CREATE TABLE bench_lean.bountyboard LIKE {ctx.db.database}.bountyboard")
        dropped = sorted(
            {str(r[2]) for r in probe.query("SHOW INDEX FROM bench_lean.bountyboard")}
            - {"PRIMARY", "ix_claim"}
        )
        for index in dropped:
            probe.execute(f"ALTER TABLE bench_lean.bountyboard DROP INDEX `{index}`")
        for _ in range(scale.repeats):
            probe.execute("TRUNCATE TABLE bench_lean.bountyboard")
            ceiling.fill_pending(lean, scale.ceiling_rows)
            cpu0 = procs.cpu_seconds(ctx.db.pid)
            out = ceiling.claim_rate(lean, scale.ceiling_rows)
            out["server_cpu_us_per_row"] = (
                (procs.cpu_seconds(ctx.db.pid) - cpu0) / out["rows"] * 1e6
            )
            runs.append(out)
    finally:
        probe.execute("DROP DATABASE IF EXISTS bench_lean")
        probe.close()
    return {"dropped_indexes": dropped, "runs": runs}


# ------------------------------------------------------------------------- history


def fill_history(ctx: Context, rows: int) -> dict[str, Any]:
    """``rows`` finished SUCCESS rows, ids and times older than any task to come."""
    assert ctx.db is not None
    probe = ctx.db.probe()
    started = time.monotonic()
    chunk = 250_000
    try:
        for start in range(0, rows, chunk):
            size = min(chunk, rows - start)
            # ids sort before today's UUIDv7s, so new rows still append to the PK
            probe.execute(
                "INSERT INTO bountyboard (id, task_name, status, queue, payload, result, "
                "worker_id, attempt, created_at, run_at, started_at, finished_at) "
                "SELECT CONCAT('00000000-0000-7000-8000-', LPAD(HEX(%s + seq), 12, '0')), "
                "'noop', 'SUCCESS', 'DEFAULT', '{\"args\": [], \"kwargs\": {}}', 'null', "
                "'history', 1, t, t, t, t "
                "FROM (SELECT seq, NOW(6) - INTERVAL 30 DAY + INTERVAL (%s + seq) "
                "MICROSECOND AS t FROM seq_1_to_" + str(size) + ") AS s",
                (start, start),
            )
            probe.execute("COMMIT")
        fill_seconds = time.monotonic() - started
        count = probe.query("SELECT COUNT(*) FROM bountyboard WHERE status = 'SUCCESS'")
    finally:
        probe.close()
    return {"rows": int(count[0][0]), "fill_seconds": fill_seconds, **settle_database(ctx)}


def settle_database(ctx: Context) -> dict[str, float]:
    """Let InnoDB purge and write out what came before (the drains change hundreds of
    thousands of rows, the history fill millions): the dirty pages found, and the
    seconds waited for each."""
    if ctx.db is None:
        return {}
    probe = ctx.db.probe()
    try:
        dirty = probe.query("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")
        before = {"dirty_pages": float(dirty[0][1]) if dirty else -1.0}
        purge = _wait_for_purge(probe)
        flush = _wait_for_flush(probe)
    finally:
        probe.close()
    return {**before, "purge_wait_seconds": purge, "flush_wait_seconds": flush}


def _wait_for_purge(probe: Probe, limit: float = 300.0) -> float:
    """Wait until InnoDB's history list is short: purge work would otherwise share
    the drain's time."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        rows = probe.query("SHOW ENGINE INNODB STATUS")
        status = str(rows[0][2]) if rows else ""
        length = 0
        for line in status.splitlines():
            if line.startswith("History list length"):
                length = int(line.split()[-1])
        if length < 1000:
            break
        time.sleep(1.0)
    return time.monotonic() - started


def _wait_for_flush(probe: Probe, limit: float = 300.0) -> float:
    """Write the fill's dirty pages out before measuring: a table that has held its
    history for a while is not in the middle of flushing a bulk load, and background
    flushing would otherwise slow the drain's commits."""
    started = time.monotonic()
    old, io, io_max = probe.query(
        "SELECT @@GLOBAL.innodb_max_dirty_pages_pct, @@GLOBAL.innodb_io_capacity, "
        "@@GLOBAL.innodb_io_capacity_max"
    )[0]
    # flush at the disk's speed, not at the default 200 pages/s, just for this wait
    probe.execute("SET GLOBAL innodb_io_capacity_max = 100000")
    probe.execute("SET GLOBAL innodb_io_capacity = 50000")
    probe.execute("SET GLOBAL innodb_max_dirty_pages_pct = 0")
    try:
        while time.monotonic() - started < limit:
            rows = probe.query("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")
            if rows and int(rows[0][1]) < 100:
                break
            time.sleep(0.5)
    finally:
        probe.execute("SET GLOBAL innodb_max_dirty_pages_pct = %s", (old,))
        probe.execute("SET GLOBAL innodb_io_capacity = %s", (io,))
        probe.execute("SET GLOBAL innodb_io_capacity_max = %s", (io_max,))
    return time.monotonic() - started


def explain_claim(ctx: Context) -> dict[str, Any]:
    """EXPLAIN workcraft's own claim statement, as the peon sends it."""
    from workcraft import store
    from workcraft.config import DBConfig
    from workcraft.db import connect

    assert ctx.db is not None
    claim = getattr(store, "_CLAIM_SELECT", None)
    if claim is None:
        return {"error": "workcraft.store._CLAIM_SELECT not found"}
    cfg = DBConfig(
        host=ctx.db.host,
        port=ctx.db.port,
        user=ctx.db.user,
        password=ctx.db.password,
        database=ctx.db.database,
    )
    with connect(cfg) as conn:
        plan = store.explain_claim(conn, "DEFAULT", ["noop", "pickup", "sleep"], 32)
    rows = [{k: (str(v) if v is not None else None) for k, v in row.items()} for row in plan]
    sql = " ".join(claim.text.split())
    main = next((r for r in rows if r.get("table") == "bountyboard"), rows[0] if rows else {})
    return {
        "sql": sql,
        "rows": rows,
        # "ref" on ix_claim's pending_queue prefix reads just that queue's PENDING
        # entries, in claim order: an index range as much as "range" is
        "uses_range": main.get("type") in ("range", "ref") and main.get("key") == "ix_claim",
    }


# ---------------------------------------------------------------------------- long


def long_tasks(peer: WorkcraftCurrent, ctx: Context, scale: Scale) -> dict[str, Any]:
    """8 slots, 8 long tasks + 4 more: heartbeat on time, nothing extra claimed."""
    assert ctx.db is not None
    peer.reset(ctx)
    long_peer = WorkcraftCurrent(8)
    heartbeat = 5.0  # the default DB_PEON_HEARTBEAT_INTERVAL, which this run uses
    probe = ctx.db.probe()
    workers = [
        procs.start(c, ctx.run_dir / "logs") for c in long_peer.worker_commands(ctx, 1, "long")
    ]
    worker_id = "bench-long-0"
    samples: list[dict[str, Any]] = []
    try:
        _wait_peon_idle(probe, worker_id, time.monotonic() + 60)
        peer.driver(ctx, "sleep", "--n", "12", "--seconds", str(scale.long_seconds))
        sent = time.monotonic()
        deadline = sent + scale.long_seconds + 60
        while time.monotonic() < deadline:
            rows = probe.query("SELECT status, COUNT(*) FROM bountyboard GROUP BY status")
            counts = {str(s): int(c) for s, c in rows}
            age = probe.query(
                "SELECT TIMESTAMPDIFF(MICROSECOND, last_heartbeat, NOW(6)) / 1e6 FROM peon "
                "WHERE id = %s",
                (worker_id,),
            )
            samples.append(
                {
                    "t": time.monotonic() - sent,
                    "running": counts.get("RUNNING", 0),
                    "pending": counts.get("PENDING", 0),
                    "success": counts.get("SUCCESS", 0),
                    "heartbeat_age": float(age[0][0]) if age else None,
                }
            )
            if counts.get("SUCCESS", 0) >= 1:
                break
            _alive_check(workers)
            time.sleep(0.25)
    finally:
        # two signals: stop now and hand the still running tasks back
        procs.stop(workers, timeout=15)
        probe.close()
    before_finish = [s for s in samples if s["success"] == 0]
    settled = [s for s in before_finish if s["running"] == 8]
    first_full = settled[0]["t"] if settled else None
    after_full = [s for s in before_finish if first_full is not None and s["t"] >= first_full]
    ages = [s["heartbeat_age"] for s in samples if s["heartbeat_age"] is not None]
    return {
        "task_seconds": scale.long_seconds,
        "heartbeat_interval": heartbeat,
        "max_heartbeat_age": max(ages) if ages else None,
        "heartbeat_on_time": bool(ages) and max(ages) <= heartbeat + 1.0,
        "seconds_to_8_running": first_full,
        "samples": len(samples),
        "claimed_extra": any(s["running"] > 8 or s["pending"] < 4 for s in after_full),
        "exactly_8_running_4_pending": bool(after_full)
        and all(s["running"] == 8 and s["pending"] == 4 for s in after_full),
        "first_finish_after": samples[-1]["t"] if samples and samples[-1]["success"] else None,
    }


def _wait_peon_idle(probe: Probe, worker_id: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        rows = probe.query("SELECT status FROM peon WHERE id = %s", (worker_id,))
        if rows and rows[0][0] == "IDLE":
            return
        time.sleep(0.1)
    raise TimeoutError(f"peon {worker_id} did not become IDLE")
