"""Run the benchmark suite of issue #6 and write bench/RESULTS.md + bench/results.png.

    .venv/bin/python bench/run.py [--quick] [--only drain,pickup] [--systems workcraft,celery]
                                  [--repeats N]

Starts a private MariaDB (and a second one for workcraft 0.5.27) and a private Redis on
loopback, installs each peer into its own venv, runs the scenarios, stops everything
again (also on errors and Ctrl-C). ``--report-only`` re-renders the report from the
last run's raw results (.workcraft/bench-run/results.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):
    # `python bench/run.py`: make `bench` importable as a package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import procs, report, scenarios
from bench.peers import QUICK_SYSTEMS, SYSTEMS, Context, Peer, all_peers
from bench.peers.wc_current import WorkcraftCurrent
from bench.services import REPO, STATE, Services, free_port

SCENARIOS = ("ceiling", "enqueue", "drain", "pickup", "idle", "long", "history")
RUN_DIR = STATE / "bench-run"
RAW = RUN_DIR / "results.json"  # the last published (full) run
RAW_PARTIAL = RUN_DIR / "results-partial.json"  # the last quick or partial run


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 repeat, < 2 min")
    parser.add_argument("--only", default="", help=f"comma-separated: {','.join(SCENARIOS)}")
    parser.add_argument("--systems", default="", help=f"comma-separated: {','.join(SYSTEMS)}")
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (quick: 1)")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help=f"re-render the report from {RAW.name} (with --quick: {RAW_PARTIAL.name})",
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="write bench/RESULTS.md and bench/results.png even for a quick or partial run",
    )
    args = parser.parse_args(argv)
    args.only = _pick(args.only, SCENARIOS, "--only")
    default_systems = QUICK_SYSTEMS if args.quick else SYSTEMS
    args.systems = (
        _pick(args.systems, SYSTEMS, "--systems") if args.systems else list(default_systems)
    )
    return args


def _pick(value: str, allowed: tuple[str, ...], flag: str) -> list[str]:
    if not value:
        return list(allowed)
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in allowed]
    if unknown:
        raise SystemExit(f"{flag}: unknown {', '.join(unknown)}; choose from {', '.join(allowed)}")
    return chosen


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # unwind like Ctrl-C, so every finally stops its workers and the servers
    raise KeyboardInterrupt


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.report_only:
        source = RAW_PARTIAL if args.quick else RAW
        raw = json.loads(source.read_text())
        md, png = _outputs(bool(raw.get("published")))
        report.write(raw, md, png)
        say(f"report written to {md} from {source}")
        return 0
    signal.signal(signal.SIGTERM, _on_sigterm)
    scale = scenarios.Scale.make(args.quick, args.repeats)
    peers = [p for p in all_peers(args.quick) if p.system in args.systems]
    command = "bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    raw: dict[str, Any] = {
        "command": command.strip(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": scale.__dict__,
        "scenarios": args.only,
        "systems": args.systems,
        "machine": machine(),
        "versions": {},
        "results": {},
        "errors": [],
        "load": {"start": _load()},
        # only a full run of every scenario and system replaces the published figures
        "published": args.publish
        or (
            not args.quick
            and args.only == list(SCENARIOS)
            and args.systems == list(SYSTEMS)
            and args.repeats in (None, 3)
        ),
    }
    began = time.monotonic()
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    for peer in _unique_systems(peers):
        peer.install()
    need_redis = any(not p.db_backed for p in peers)
    need_db05 = any(p.system == "workcraft-0.5" for p in peers)
    try:
        with Services(need_redis=need_redis, need_db05=need_db05) as services:
            ctx = Context(
                run_dir=RUN_DIR,
                db=services.db,
                db05=services.db05,
                redis=services.redis,
                probe_port=free_port(),
            )
            raw["versions"] = versions(ctx, peers)
            say(f"MariaDB {raw['versions']['mariadb']} on port {ctx.db.port if ctx.db else '?'}")
            for peer in _unique_systems(peers):
                if _step(raw, f"setup {peer.system}", peer.setup, ctx) is False:
                    # a system that cannot be set up is left out; the others still run
                    peers = [p for p in peers if p.system != peer.system]
            run_all(args, scale, peers, ctx, raw)
    except KeyboardInterrupt:
        raw["errors"].append("interrupted")
        say("interrupted: stopping workers and servers")
    finally:
        procs.stop_all()
    raw["seconds"] = time.monotonic() - began
    raw["load"]["end"] = _load()
    _save(raw)
    md, png = _outputs(raw["published"])
    report.write(raw, md, png)
    say(f"done in {raw['seconds']:.0f} s: {md}, {png} (raw figures: {_raw_path(raw)})")
    return 1 if raw["errors"] else 0


def _outputs(published: bool) -> tuple[Path, Path]:
    """bench/ for a full run; the scratch dir for quick and partial runs, so that they
    never replace the published figures (unless --publish)."""
    if published:
        return report.RESULTS_MD, report.PLOT
    return RUN_DIR / "RESULTS.md", RUN_DIR / "results.png"


def _load() -> str:
    # the machine is shared: a busy neighbour shows up here
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _unique_systems(peers: list[Peer]) -> list[Peer]:
    seen: dict[str, Peer] = {}
    for p in peers:
        seen.setdefault(p.system, p)
    return list(seen.values())


def _step(raw: dict[str, Any], name: str, fn: Any, *args: Any) -> Any:
    """Run one measurement; an error is recorded and the suite goes on."""
    say(name)
    try:
        out = fn(*args)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        traceback.print_exc()
        raw["errors"].append(f"{name}: {type(exc).__name__}: {exc}")
        return False if name.startswith("setup ") else None
    _save(raw)
    return out


def _raw_path(raw: dict[str, Any]) -> Path:
    return RAW if raw.get("published") else RAW_PARTIAL


def _save(raw: dict[str, Any]) -> None:
    # after every step, so an interrupted run keeps what it measured
    _raw_path(raw).write_text(json.dumps(raw, indent=1, default=str))


def run_all(
    args: argparse.Namespace,
    scale: scenarios.Scale,
    peers: list[Peer],
    ctx: Context,
    raw: dict[str, Any],
) -> None:
    wc = [p for p in peers if isinstance(p, WorkcraftCurrent)]
    steps = {
        "ceiling": _ceiling,
        "enqueue": _enqueue,
        "drain": _drain,
        "pickup": _pickup,
        "idle": _idle,
        "long": _long,
        "history": _history,
    }
    for name in SCENARIOS:
        if name in args.only:
            steps[name](raw, scale, peers, wc, ctx)


def _primary_wc(wc: list[WorkcraftCurrent]) -> WorkcraftCurrent | None:
    return next((p for p in wc if p.primary), wc[0] if wc else None)


def _ceiling(
    raw: dict[str, Any],
    scale: scenarios.Scale,
    peers: list[Peer],
    wc: list[WorkcraftCurrent],
    ctx: Context,
) -> None:
    primary = _primary_wc(wc)
    if primary is None:
        return
    out = _step(
        raw,
        "ceiling: database claim-and-finish and single commit",
        scenarios.db_ceiling,
        primary,
        ctx,
        scale,
    )
    raw["results"]["ceiling"] = out
    _print_ceiling(out)


def _enqueue(
    raw: dict[str, Any],
    scale: scenarios.Scale,
    peers: list[Peer],
    wc: list[WorkcraftCurrent],
    ctx: Context,
) -> None:
    res = raw["results"].setdefault("enqueue", {})
    done: set[str] = set()
    for peer in peers:
        # the client is the same for every configuration of a system: once per system
        if peer.primary and peer.system not in done:
            done.add(peer.system)
            out = _step(raw, f"enqueue: {peer.label}", scenarios.enqueue, peer, ctx, scale)
            res[peer.label] = out
            _print_enqueue(peer.label, out)


def _drain(
    raw: dict[str, Any],
    scale: scenarios.Scale,
    peers: list[Peer],
    wc: list[WorkcraftCurrent],
    ctx: Context,
) -> None:
    res = raw["results"].setdefault("drain", {})
    runs: dict[str, list[dict[str, Any]]] = {}
    for peer in peers:
        runs[peer.label] = []
        res[peer.label] = {"system": peer.system, "runs": runs[peer.label]}
    # Round by round, every system once per round: the machine's speed drifts over
    # minutes, and each system's repeats then span the same minutes as its peers'
    # (system after system, workcraft's best drains and Huey's were 5 minutes apart).
    for rep in range(scale.repeats):
        for peer in peers:
            out = _step(
                raw,
                f"drain: {peer.label} #{rep + 1}",
                scenarios.drain_once,
                peer,
                ctx,
                scale,
                f"d{rep}",
            )
            if out is not None:
                runs[peer.label].append(out)
                _print_drain(peer.label, out)


def _pickup(
    raw: dict[str, Any],
    scale: scenarios.Scale,
    peers: list[Peer],
    wc: list[WorkcraftCurrent],
    ctx: Context,
) -> None:
    res = raw["results"].setdefault("pickup", {})
    for peer in peers:
        if peer.primary:
            out = _step(raw, f"pickup: {peer.label}", scenarios.pickup, peer, ctx, scale, "p")
            res[peer.label] = out
            if out and out.get("settled"):
                s = out["settled"]
                say(
                    f"  the database had {s['dirty_pages']:.0f} dirty pages; settled in "
                    f"{s['purge_wait_seconds'] + s['flush_wait_seconds']:.1f} s"
                )
            _print_pickup(peer.label, out)


def _idle(
    raw: dict[str, Any],
    scale: scenarios.Scale,
    peers: list[Peer],
    wc: list[WorkcraftCurrent],
    ctx: Context,
) -> None:
    res = raw["results"].setdefault("idle", {})
    res["baseline"] = _step(
        raw, "idle: baseline (no worker)", scenarios.idle_baseline, ctx, scale.idle_seconds / 3
    )
    for peer in peers:
        # --quick: workcraft's own idle cost only (0.5.27's is long known)
        if peer.primary and peer.db_backed and (peer.system == "workcraft" or not scale.quick):
            out = _step(raw, f"idle: {peer.label}", scenarios.idle_cost, peer, ctx, scale, "i")
            res[peer.label] = out
            _print_idle(peer.label, out)


def _long(
    raw: dict[str, Any],
    scale: scenarios.Scale,
    peers: list[Peer],
    wc: list[WorkcraftCurrent],
    ctx: Context,
) -> None:
    primary = _primary_wc(wc)
    if primary is None:
        return
    out = _step(
        raw,
        f"long tasks: 8 slots, 8 x {scale.long_seconds:.0f} s + 4",
        scenarios.long_tasks,
        primary,
        ctx,
        scale,
    )
    raw["results"]["long"] = out
    say(f"  long: {out}")


def _history(
    raw: dict[str, Any],
    scale: scenarios.Scale,
    peers: list[Peer],
    wc: list[WorkcraftCurrent],
    ctx: Context,
) -> None:
    if wc:
        raw["results"]["history"] = run_history(raw, scale, wc, ctx)


def run_history(
    raw: dict[str, Any], scale: scenarios.Scale, wc: list[WorkcraftCurrent], ctx: Context
) -> dict[str, Any]:
    drains = raw["results"].get("drain", {})
    best = _best_workcraft(drains, wc)
    out: dict[str, Any] = {"config": best.label}
    # The empty-table rate to compare with, measured just before the fill rather than
    # taken from the drain scenario twenty minutes earlier: this machine's speed drifts
    # by 10-20% over that long (the single-send target pairs its repeats likewise).
    out["empty_runs"] = [
        r
        for rep in range(scale.repeats)
        if (
            r := _step(
                raw,
                f"history: empty-table drain #{rep + 1}",
                scenarios.drain_once,
                best,
                ctx,
                scale,
                f"h0{rep}",
            )
        )
        is not None
    ]
    for r in out["empty_runs"]:
        _print_drain(f"{best.label}, empty table", r)
    best.reset(ctx)
    out["explain_empty"] = _step(
        raw, "history: EXPLAIN on the empty table", scenarios.explain_claim, ctx
    )
    out["fill"] = _step(
        raw,
        f"history: filling {scale.history_rows:,} finished rows",
        scenarios.fill_history,
        ctx,
        scale.history_rows,
    )
    say(f"  fill: {out['fill']}")
    out["explain"] = _step(raw, "history: EXPLAIN of the claim", scenarios.explain_claim, ctx)
    say(f"  explain: {out['explain']}")
    runs = []
    for rep in range(scale.repeats):
        r = _step(
            raw,
            f"history: drain #{rep + 1} over {scale.history_rows:,} rows",
            _history_drain,
            best,
            ctx,
            scale,
            f"h{rep}",
        )
        if r is not None:
            runs.append(r)
            _print_drain(f"{best.label} + history", r)
    out["runs"] = runs
    best.reset(ctx)
    return out


def _history_drain(
    peer: WorkcraftCurrent, ctx: Context, scale: scenarios.Scale, tag: str
) -> dict[str, Any]:
    # drain_once empties the table first; keep the history by clearing only new rows
    original_reset = peer.reset

    def keep_history(ctx: Context) -> None:
        assert ctx.db is not None
        probe = ctx.db.probe()
        try:
            probe.execute(
                "DELETE FROM bountyboard WHERE worker_id IS NULL OR worker_id <> 'history'"
            )
            probe.execute("COMMIT")
        finally:
            probe.close()

    peer.reset = keep_history  # type: ignore[method-assign]
    try:
        return scenarios.drain_once(peer, ctx, scale, tag)
    finally:
        peer.reset = original_reset  # type: ignore[method-assign]


def _best_workcraft(drains: dict[str, Any], wc: list[WorkcraftCurrent]) -> WorkcraftCurrent:
    def median_rate(p: WorkcraftCurrent) -> float:
        runs = drains.get(p.label, {}).get("runs", [])
        rates = sorted(r["rate"] for r in runs)
        return rates[len(rates) // 2] if rates else -1.0

    return max(wc, key=median_rate)


# ------------------------------------------------------------------ progress lines


def _print_ceiling(out: dict[str, Any] | None) -> None:
    if not out:
        return
    for r in out["claim"]:
        per = r["db_per_row"]
        say(
            f"  DB claim-and-finish, 2 clients: {r['rate']:,.0f} rows/s "
            f"(statements/row {per.get('Questions', 0):.2f}, "
            f"commits/row {per.get('Com_commit', 0):.2f})"
        )
    for r in out["commit"]:
        say(f"  DB single-row commit, 1 client: {r['rate']:,.0f} rows/s")
    for r in out.get("idle_commit", []):
        say(
            f"  DB autocommit INSERT after an idle gap: p50 {r['p50']:.2f} ms, "
            f"p99 {r['p99']:.2f} ms"
        )


def _print_enqueue(label: str, out: dict[str, Any] | None) -> None:
    if not out:
        return
    for r in out["single"]:
        extra = ""
        if "db_per_task" in r:
            extra = f" (statements/task {r['db_per_task'].get('Questions', 0):.2f})"
        say(f"  {label}: single send {r['rate']:,.0f}/s{extra}")
    for r in out["bulk"]:
        say(f"  {label}: bulk send {r['rate']:,.0f}/s")


def _print_drain(label: str, out: dict[str, Any]) -> None:
    line = f"  {label}: {out['rate']:,.1f} tasks/s ({out['done']} in {out['seconds']:.2f} s)"
    per = out.get("db_per_task")
    if per:
        line += (
            f"; per task: statements {per.get('Questions', 0):.2f}, "
            f"selects {per.get('Com_select', 0):.2f}, updates {per.get('Com_update', 0):.2f}, "
            f"commits {per.get('Com_commit', 0):.2f}, "
            f"rows read {per.get('rows_read', 0):.1f}"
        )
    rows = out.get("rows")
    if rows:
        line += f"; rows complete {rows['complete_rows']}/{rows['expected']}"
    say(line)


def _print_pickup(label: str, out: dict[str, Any] | None) -> None:
    if not out:
        return
    for r in out["repeats"]:
        say(
            f"  {label}: p50 {r['p50']:.2f} ms, p90 {r['p90']:.2f} ms, p99 {r['p99']:.2f} ms "
            f"({r['samples']} samples, send p50 {r['send_p50']:.2f} ms)"
        )
    mem = out["memory"]
    mib = [round(k / 1024, 1) for k in mem["per_process_kib"]]
    say(f"  {label}: idle RSS per process {mib} MiB")


def _print_idle(label: str, out: dict[str, Any] | None) -> None:
    if not out:
        return
    for r in out["repeats"]:
        per = r["per_second"]
        say(
            f"  {label}: idle {per.get('Questions', 0):.2f} statements/s "
            f"(selects {per.get('Com_select', 0):.2f}/s, updates {per.get('Com_update', 0):.2f}/s)"
        )


# ------------------------------------------------------------------ machine, versions


def machine() -> dict[str, Any]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    os_name = ""
    with_os = Path("/etc/os-release")
    if with_os.exists():
        for line in with_os.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "os": os_name,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def versions(ctx: Context, peers: list[Peer]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "mariadb": "",
        "redis": ctx.redis.version if ctx.redis else "",
        "systems": {},
        "workcraft_commit": _git_commit(),
    }
    if ctx.db is not None:
        probe = ctx.db.probe()
        try:
            rows = probe.query(
                "SELECT VERSION(), @@innodb_flush_log_at_trx_commit, @@innodb_buffer_pool_size, "
                "@@sync_binlog, @@log_bin"
            )
        finally:
            probe.close()
        version, flush, pool, sync_binlog, log_bin = rows[0]
        out["mariadb"] = str(version)
        out["innodb_flush_log_at_trx_commit"] = int(flush)
        out["innodb_buffer_pool_mib"] = int(pool) // (1024 * 1024)
        out["log_bin"] = int(log_bin)
        out["sync_binlog"] = int(sync_binlog)
    for peer in _unique_systems(peers):
        try:
            out["systems"][peer.system] = peer.versions()
        except Exception as exc:  # a version we cannot read is not worth failing for
            out["systems"][peer.system] = {"error": str(exc)}
    return out


def _git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "workcraft", "sql"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in workcraft/ or sql/" if dirty else "")


if __name__ == "__main__":
    sys.exit(main())
