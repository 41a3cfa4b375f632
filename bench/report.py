"""bench/RESULTS.md (the suite's section only) and bench/results.png from a run's raw
results (the JSON that run.py writes to .workcraft/bench-run/results.json).

Only the text between ``<!-- suite:begin -->`` and ``<!-- suite:end -->`` is ever
replaced: other sections of RESULTS.md (the dashboard's) are kept as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.scenarios import METHODS
from bench.stats import Summary, fmt_num, summarize

BENCH = Path(__file__).resolve().parent
RESULTS_MD = BENCH / "RESULTS.md"
PLOT = BENCH / "results.png"
BEGIN = "<!-- suite:begin -->"
END = "<!-- suite:end -->"
REDIS_PEERS = ("celery", "huey", "dramatiq", "rq")


def replace_section(document: str, section: str) -> str:
    """``document`` with the text between the markers replaced by ``section``.

    Markers missing: the section (with markers) is put first, after a leading
    ``# `` title if there is one, and everything else is kept.
    """
    block = f"{BEGIN}\n{section.strip()}\n{END}"
    start = document.find(BEGIN)
    end = document.find(END, start + len(BEGIN)) if start >= 0 else -1
    if start >= 0 and end >= 0:
        return document[:start] + block + document[end + len(END) :]
    if start >= 0 or document.find(END) >= 0:
        raise ValueError("RESULTS.md has only one of the suite markers; fix it by hand")
    if not document.strip():
        return f"# workcraft benchmarks\n\n{block}\n"
    lines = document.splitlines(keepends=True)
    if lines and lines[0].startswith("# "):
        rest = "".join(lines[1:]).lstrip("\n")
        return f"{lines[0].rstrip()}\n\n{block}\n\n{rest}"
    return f"{block}\n\n{document}"


def write(raw: dict[str, Any], path: Path = RESULTS_MD, plot: Path = PLOT) -> None:
    section = render(raw, plot.name)
    old = path.read_text() if path.exists() else ""
    path.write_text(replace_section(old, section))
    try:
        draw(raw, plot)
    except ImportError:
        print("report: matplotlib is not installed in this venv: no plot", flush=True)


# ---------------------------------------------------------------------- figures


def _summ(values: list[float]) -> Summary | None:
    return summarize(values) if values else None


def _fmt(s: Summary | None, digits: int = 0, unit: str = "") -> str:
    return s.fmt(digits, unit) if s is not None else "n/a"


def drain_rates(raw: dict[str, Any]) -> dict[str, Summary]:
    out: dict[str, Summary] = {}
    for label, row in raw["results"].get("drain", {}).items():
        s = _summ([r["rate"] for r in row["runs"]])
        if s is not None:
            out[label] = s
    return out


def _system_of(raw: dict[str, Any], label: str) -> str:
    row = raw["results"].get("drain", {}).get(label, {})
    return str(row.get("system", label.split(" ")[0]))


def best_of(raw: dict[str, Any], systems: tuple[str, ...]) -> tuple[str, Summary] | None:
    rates = drain_rates(raw)
    picks = [(label, s) for label, s in rates.items() if _system_of(raw, label) in systems]
    return max(picks, key=lambda x: x[1].median) if picks else None


def ceiling_rate(raw: dict[str, Any]) -> Summary | None:
    c = raw["results"].get("ceiling") or {}
    return _summ([r["rate"] for r in c.get("claim", [])])


def commit_rate(raw: dict[str, Any]) -> Summary | None:
    c = raw["results"].get("ceiling") or {}
    return _summ([r["rate"] for r in c.get("commit", [])])


def idle_commit(raw: dict[str, Any]) -> dict[str, Summary | None]:
    """The durable INSERT alone after a pickup-like idle gap: p50/p90/p99 (ms)."""
    reps = (raw["results"].get("ceiling") or {}).get("idle_commit", [])
    return {k: _summ([r[k] for r in reps]) for k in ("p50", "p90", "p99")}


def _pickup_summaries(row: dict[str, Any]) -> dict[str, Summary | None]:
    reps = row.get("repeats", [])
    return {k: _summ([r[k] for r in reps]) for k in ("p50", "p90", "p99", "send_p50", "max")}


def _primary_label(raw: dict[str, Any], system: str, scenario: str) -> str | None:
    for label in raw["results"].get(scenario, {}) or {}:
        if label != "baseline" and _system_of(raw, label) == system and label.startswith(system):
            if system == "workcraft" and label.startswith("workcraft-0.5"):
                continue
            return str(label)
    return None


def _median_per_task(runs: list[dict[str, Any]], key: str, field: str = "db_per_task") -> str:
    values = [r[field][key] for r in runs if r.get(field) and key in r[field]]
    return fmt_num(summarize(values).median, 2) if values else "-"


# ------------------------------------------------------------------------ render


def render(raw: dict[str, Any], plot_name: str) -> str:
    parts = [
        "## Benchmark suite (issue #6)",
        _header(raw),
        "### Targets",
        _targets(raw),
    ]
    for title, fn in (
        ("### Database ceiling (no workcraft code)", _ceiling),
        ("### Drain: 2 worker processes, queued no-op tasks", _drain),
        ("### Pickup latency: idle workers, one task at a time", _pickup),
        ("### Enqueue", _enqueue),
        ("### History does not slow the queue", _history),
        ("### Idle cost and memory", _idle),
        ("### Long tasks", _long),
    ):
        body = fn(raw)
        if body:
            parts += [title, body]
    parts += ["### Method", _methods(raw)]
    if raw.get("errors"):
        parts += ["### Errors in this run", "\n".join(f"- {e}" for e in raw["errors"])]
    parts.append(f"![throughput and latency per system]({plot_name})")
    return "\n\n".join(p.strip() for p in parts if p.strip()) + "\n"


def _header(raw: dict[str, Any]) -> str:
    m = raw["machine"]
    v = raw["versions"]
    scale = raw["scale"]
    systems = []
    for system, pkgs in v.get("systems", {}).items():
        pk = ", ".join(f"{k} {val}" for k, val in pkgs.items())
        systems.append(f"{system} ({pk})")
    load = raw.get("load", {})
    lines = [
        f"- **Command:** `.venv/bin/python {raw['command']}`"
        f" ({'quick' if scale['quick'] else 'full'} run, {raw.get('seconds', 0):.0f} s)",
        f"- **Date:** {raw['started']}",
        f"- **Machine:** {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, {m['os']}, "
        f"kernel {m['kernel']}; load average at start/end "
        f"{load.get('start', '?')} / {load.get('end', '?')} (the machine is shared)",
        f"- **Python** {m['python']}; **MariaDB** {v.get('mariadb', '?')} (private, loopback, "
        f"innodb_flush_log_at_trx_commit={v.get('innodb_flush_log_at_trx_commit', '?')}, "
        f"buffer pool {v.get('innodb_buffer_pool_mib', '?')} MiB, binary log "
        f"{'on' if v.get('log_bin') else 'off'}); **Redis** {_redis_version(v.get('redis', ''))} "
        "(private, loopback, no persistence)",
        f"- **workcraft** at commit {v.get('workcraft_commit', '?')}; " + "; ".join(systems),
        f"- Each figure is the median (min-max) of {scale['repeats']} repeat(s). Sizes: "
        f"drain {scale['drain_n']:,} tasks, pickup {scale['pickup_samples']} samples per "
        f"repeat, idle windows {scale['idle_seconds']:.0f} s, history "
        f"{scale['history_rows']:,} rows, long tasks {scale['long_seconds']:.0f} s.",
    ]
    return "\n".join(lines)


def _redis_version(banner: str) -> str:
    # "Redis server v=7.0.15 sha=..." -> "7.0.15"
    for word in banner.split():
        if word.startswith("v="):
            return word[2:]
    return banner or "?"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


Row = tuple[str, str, str, bool | None]


def _targets(raw: dict[str, Any]) -> str:
    rows: list[Row] = []
    for part in (_t_drain, _t_pickup, _t_idle, _t_enqueue, _t_history, _t_memory, _t_long):
        rows += part(raw)
    out = ["| target | measured | goal | |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {_verdict(d)} |" for a, b, c, d in rows]
    return "\n".join(out)


def _t_drain(raw: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    wc = best_of(raw, ("workcraft",))
    peer = best_of(raw, REDIS_PEERS)
    ceiling = ceiling_rate(raw)
    if wc and peer:
        ratio = wc[1].median / peer[1].median
        measured = (
            f"{wc[1].median:,.0f}/s ({wc[0]}) = {ratio:.2f}x {peer[0]} ({peer[1].median:,.0f}/s)"
        )
        rows.append(("Drain vs the fastest Python peer", measured, ">= 2x", ratio >= 2.0))
    if wc and ceiling:
        ratio = wc[1].median / ceiling.median
        measured = f"{ratio:.0%} of {ceiling.median:,.0f} rows/s"
        rows.append(
            ("Drain vs the database's claim-and-finish ceiling", measured, ">= 50%", ratio >= 0.5)
        )
    drains = [
        r
        for row in raw["results"].get("drain", {}).values()
        if row["system"] == "workcraft"
        for r in row["runs"]
    ]
    if drains:
        complete = all(r.get("rows", {}).get("complete_rows") == r["n"] for r in drains)
        measured = "every row SUCCESS with result, timings, peon" if complete else "no"
        rows.append(("Every task ends as a complete row", measured, "all", complete))
    return rows


def _t_pickup(raw: dict[str, Any]) -> list[Row]:
    label = _primary_label(raw, "workcraft", "pickup")
    if not label or not raw["results"]["pickup"].get(label):
        return []
    s = _pickup_summaries(raw["results"]["pickup"][label])
    p50, p99 = s["p50"], s["p99"]
    if p50 is None or p99 is None:
        return []
    floor = idle_commit(raw)["p50"]
    alone = f" (the send's durable INSERT alone: {floor.median:.2f} ms)" if floor else ""
    return [
        ("Pickup p50", f"{p50.median:.2f} ms{alone}", "<= 1.5 ms", p50.median <= 1.5),
        ("Pickup p99", f"{p99.median:.2f} ms", "<= 10 ms", p99.median <= 10.0),
    ]


def _t_idle(raw: dict[str, Any]) -> list[Row]:
    label = _primary_label(raw, "workcraft", "idle")
    row = raw["results"].get("idle", {}).get(label) if label else None
    if not row:
        return []
    q = _summ([r["per_second"]["Questions"] for r in row["repeats"]])
    if q is None:
        return []
    measured = f"{q.median:.2f} statements/s"
    return [("Idle peon's database cost", measured, "<= 2/s", q.median <= 2.0)]


def _t_enqueue(raw: dict[str, Any]) -> list[Row]:
    label = _primary_label(raw, "workcraft", "enqueue")
    e = raw["results"].get("enqueue", {}).get(label) if label else None
    if not e:
        return []
    rows: list[Row] = []
    single = _summ([r["rate"] for r in e["single"]])
    bulk = _summ([r["rate"] for r in e["bulk"]])
    # pairs measured back to back in the enqueue scenario, else the ceiling's rate
    paired = _summ([r["rate"] / r["commit_rate"] for r in e["single"] if r.get("commit_rate")])
    commit = _summ([r["commit_rate"] for r in e["single"] if r.get("commit_rate")])
    commit = commit or commit_rate(raw)
    if single and commit:
        ratio = paired.median if paired else single.median / commit.median
        measured = f"{single.median:,.0f}/s = {ratio:.0%} of {commit.median:,.0f}/s"
        if paired and paired.n > 1:
            measured += f" (ratio per pair: {paired.fmt(2)})"
        rows.append(("Single send vs the single-row commit rate", measured, ">= 80%", ratio >= 0.8))
    if bulk:
        rows.append(
            ("Bulk send", f"{bulk.median:,.0f} tasks/s", ">= 50,000/s", bulk.median >= 50_000)
        )
    return rows


def _t_history(raw: dict[str, Any]) -> list[Row]:
    hist = raw["results"].get("history") or {}
    rows: list[Row] = []
    h = _summ([r["rate"] for r in hist.get("runs", [])])
    empty = _summ([r["rate"] for r in _history_empty_runs(raw)])
    if h and empty:
        ratio = h.median / empty.median
        what = f"{hist['fill']['rows']:,} finished rows" if hist.get("fill") else "history"
        rows.append(
            (f"Drain with {what}", f"{ratio:.0%} of the empty-table rate", ">= 90%", ratio >= 0.9)
        )
    if hist.get("explain"):
        main = next(iter(hist["explain"].get("rows", [])), {})
        measured = f"type={main.get('type')}, key={main.get('key')}, rows={main.get('rows')}"
        rows.append(
            (
                "Claim reads an index range",
                measured,
                "ix_claim range/ref",
                bool(hist["explain"].get("uses_range")),
            )
        )
    return rows


def _t_memory(raw: dict[str, Any]) -> list[Row]:
    label = _primary_label(raw, "workcraft", "pickup")
    row = raw["results"].get("pickup", {}).get(label) if label else None
    per = (row or {}).get("memory", {}).get("per_process_kib", [])
    if not per:
        return []
    mib = summarize([k / 1024 for k in per]).median
    return [("Idle peon RSS", f"{mib:.1f} MiB", "<= 40 MiB", mib <= 40.0)]


def _t_long(raw: dict[str, Any]) -> list[Row]:
    long = raw["results"].get("long")
    if not long:
        return []
    ok = (
        bool(long.get("heartbeat_on_time"))
        and bool(long.get("exactly_8_running_4_pending"))
        and not long.get("claimed_extra")
    )
    measured = (
        f"max heartbeat age {fmt_num(long.get('max_heartbeat_age'), 2)} s (interval "
        f"{long.get('heartbeat_interval')} s); 8 RUNNING + 4 PENDING until the first "
        f"finished: {long.get('exactly_8_running_4_pending')}"
    )
    return [
        (
            "Long tasks: heartbeat on time, nothing extra claimed",
            measured,
            "age <= interval + 1 s; 8 + 4",
            ok,
        )
    ]


def _ceiling(raw: dict[str, Any]) -> str:
    c = raw["results"].get("ceiling")
    if not c:
        return ""
    claim = ceiling_rate(raw)
    commit = commit_rate(raw)
    runs = c["claim"]
    cpu = _summ([r["server_cpu_us_per_row"] for r in runs if "server_cpu_us_per_row" in r])
    return "\n".join(
        [
            "| measurement | rate | statements per row | commits per row | mariadbd CPU us/row |",
            "|---|---|---|---|---|",
            f"| claim 100 + mark RUNNING + mark SUCCESS, 2 clients | {_fmt(claim)} rows/s | "
            f"{_median_per_task(runs, 'Questions', 'db_per_row')} | "
            f"{_median_per_task(runs, 'Com_commit', 'db_per_row')} | {_fmt(cpu)} |",
            *_lean_row(c),
            f"| INSERT one row + COMMIT, 1 client | {_fmt(commit)} rows/s | 2 | 1 | |",
            *_idle_commit_row(raw),
        ]
    )


def _idle_commit_row(raw: dict[str, Any]) -> list[str]:
    s = idle_commit(raw)
    if s["p50"] is None:
        return []
    return [
        "| one autocommit INSERT after an idle gap of 20-50 ms (the pickup scenario's "
        f"pacing), 1 client: round trip p50 / p99 | {_ms(s['p50'])} / {_ms(s['p99'])} | 1 | 1 | |"
    ]


def _lean_row(c: dict[str, Any]) -> list[str]:
    lean = c.get("claim_lean") or {}
    runs = lean.get("runs", [])
    rate = _summ([r["rate"] for r in runs])
    if rate is None:
        return []
    cpu = _summ([r["server_cpu_us_per_row"] for r in runs])
    dropped = ", ".join(lean.get("dropped_indexes", []))
    return [
        f"| the same on a copy with only PRIMARY + ix_claim (diagnostic; without {dropped}) "
        f"| {_fmt(rate)} rows/s | | | {_fmt(cpu)} |"
    ]


def _drain(raw: dict[str, Any]) -> str:
    drains = raw["results"].get("drain")
    if not drains:
        return ""
    peer = best_of(raw, REDIS_PEERS)
    ceiling = ceiling_rate(raw)
    out = [
        "| system | tasks/s | vs fastest Python peer | vs DB ceiling | statements/task | "
        "SELECT/task | UPDATE/task | COMMIT/task | rows read/task | rows read/SELECT | "
        "fsyncs/task | CPU us/task: workers + server | outcome |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rates = drain_rates(raw)
    for label, row in drains.items():
        runs = row["runs"]
        s = rates.get(label)
        if s is None:
            out.append(f"| {label} | failed | | | | | | | | | | | |")
            continue
        vs_peer = f"{s.median / peer[1].median:.2f}x" if peer else "n/a"
        vs_ceiling = f"{s.median / ceiling.median:.0%}" if ceiling else "n/a"
        reads_per_select = "n/a"
        sel = [r["db"].get("Com_select", 0) for r in runs if r.get("db")]
        reads = [r["db"].get("rows_read", 0) for r in runs if r.get("db")]
        if sel and sum(sel):
            reads_per_select = f"{sum(reads) / sum(sel):.1f}"
        out.append(
            f"| {label} | {s.fmt(1 if s.median < 10 else 0)} | {vs_peer} | {vs_ceiling} | "
            f"{_median_per_task(runs, 'Questions')} | {_median_per_task(runs, 'Com_select')} | "
            f"{_median_per_task(runs, 'Com_update')} | {_median_per_task(runs, 'Com_commit')} | "
            f"{_median_per_task(runs, 'rows_read')} | {reads_per_select} | "
            f"{_median_per_task(runs, 'Innodb_data_fsyncs')} | {_cpu(runs)} | "
            f"{_outcome(runs)} |"
        )
    out.append("")
    out.append(
        "Database cost columns are SHOW GLOBAL STATUS deltas over the whole drain (peon "
        "start-up and heartbeats included, the bench's own statements taken out) divided "
        "by the tasks run; rows read = the storage engine's Handler_read_* steps. Redis "
        "peers cost the database nothing (-). CPU: user + system time of the worker "
        "processes from their first task to the end, and of the server (mariadbd, or "
        "redis-server for the peers) over the drain, per task: on 2 cores, 2,000,000 us/s "
        "divided by their sum bounds the rate."
    )
    return "\n".join(out)


def _cpu(runs: list[dict[str, Any]]) -> str:
    workers = [r["cpu_us_per_task"]["workers"] for r in runs if r.get("cpu_us_per_task")]
    server = [
        r["cpu_us_per_task"]["server"]
        for r in runs
        if r.get("cpu_us_per_task") and r["cpu_us_per_task"]["server"] is not None
    ]
    if not workers:
        return "-"
    text = f"{summarize(workers).median:,.0f}"
    if server:
        text += f" + {summarize(server).median:,.0f}"
    return text


def _outcome(runs: list[dict[str, Any]]) -> str:
    notes = []
    for r in runs:
        if r.get("windowed"):
            notes.append(f"{r['done']} done in a {r['seconds']:.0f} s window")
            continue
        st = r.get("statuses")
        if st:
            bad = {k: v for k, v in st.items() if k != "SUCCESS"}
            rows = r.get("rows", {})
            if bad:
                notes.append(", ".join(f"{v} {k}" for k, v in bad.items()))
            elif rows and rows.get("complete_rows") == r["n"]:
                notes.append("all rows complete")
            else:
                notes.append(f"{rows.get('complete_rows')}/{r['n']} complete")
        else:
            notes.append(f"{r['done']} ran")
    unique = sorted(set(notes))
    return "; ".join(unique)


def _pickup(raw: dict[str, Any]) -> str:
    rows = raw["results"].get("pickup")
    if not rows:
        return ""
    out = [
        "| system | p50 | p90 | p99 | max | send call p50 | samples |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, row in rows.items():
        if not row:
            out.append(f"| {label} | failed | | | | | |")
            continue
        s = _pickup_summaries(row)
        n = sum(r["samples"] for r in row["repeats"])
        missing = sum(r["missing"] for r in row["repeats"])
        extra = f" ({missing} lost)" if missing else ""
        out.append(
            f"| {label} | {_ms(s['p50'])} | {_ms(s['p90'])} | {_ms(s['p99'])} | "
            f"{_ms(s['max'])} | {_ms(s['send_p50'])} | {n}{extra} |"
        )
    floor = idle_commit(raw)
    if floor["p50"] is not None:
        out.append(
            f"| *the database: its durable INSERT alone, after the same idle gap* | "
            f"{_ms(floor['p50'])} | {_ms(floor['p90'])} | {_ms(floor['p99'])} | | | |"
        )
    stages = _stages(rows)
    if stages:
        out += ["", stages]
    return "\n".join(out)


def _ms(s: Summary | None) -> str:
    if s is None:
        return "n/a"
    return s.fmt(2 if s.median < 10 else 1 if s.median < 100 else 0, " ms")


def _stages(rows: dict[str, Any]) -> str:
    lines = []
    for label, row in rows.items():
        reps = [r["stages"] for r in (row or {}).get("repeats", []) if r.get("stages")]
        if not reps:
            continue

        def med(key: str, reps: list[dict[str, float]] = reps) -> str:
            return _fmt(_summ([r[key] for r in reps]), 2, " ms")

        lines.append(
            f"Where {label}'s pickup goes (medians, from the rows' created_at and started_at "
            f"on the database's clock): send call to INSERT {med('send_to_insert')}, INSERT "
            f"to the claim's UPDATE {med('insert_to_claim')} (both stamped as their "
            "statements start: the UPDATE then waits on the INSERT's row lock), claim "
            "UPDATE to the task's first line (the INSERT's commit, the claim, the task's "
            f"start) {med('claim_to_first_line')}; the send call returns after "
            f"{med('send_call')}."
        )
    return "\n\n".join(lines)


def _enqueue(raw: dict[str, Any]) -> str:
    rows = raw["results"].get("enqueue")
    if not rows:
        return ""
    commit = commit_rate(raw)
    out = [
        "| system | single send, tasks/s | bulk send, tasks/s | statements per single send |",
        "|---|---|---|---|",
    ]
    for label, row in rows.items():
        if not row:
            out.append(f"| {label} | failed | | |")
            continue
        single = _summ([r["rate"] for r in row["single"]])
        bulk = _summ([r["rate"] for r in row["bulk"]])
        per = _median_per_task(row["single"], "Questions")
        out.append(
            f"| {label} | {_fmt(single)} | {_fmt(bulk) if bulk else 'no bulk API'} | "
            f"{per if per != 'n/a' else ''} |"
        )
    if commit:
        out.append(f"| *the database: INSERT + COMMIT, 1 client* | {_fmt(commit)} | | 2 |")
    return "\n".join(out)


def _history_empty_runs(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The empty-table drains the history ratio divides by: those measured just before
    the fill (results of older runs have none: the drain scenario's)."""
    h = raw["results"].get("history") or {}
    if h.get("empty_runs"):
        return list(h["empty_runs"])
    return list(raw["results"].get("drain", {}).get(h.get("config", ""), {}).get("runs", []))


def _history(raw: dict[str, Any]) -> str:
    h = raw["results"].get("history")
    if not h:
        return ""
    lines = []
    fill = h.get("fill") or {}
    if fill:
        lines.append(
            f"{fill['rows']:,} SUCCESS rows inserted in {fill['fill_seconds']:.0f} s "
            "(then InnoDB purge and page flushing were let settle: "
            f"{fill['purge_wait_seconds'] + fill.get('flush_wait_seconds', 0):.0f} s); "
            f"configuration {h['config']}."
        )
    empty_runs = _history_empty_runs(raw)
    empty = _summ([r["rate"] for r in empty_runs])
    full = _summ([r["rate"] for r in h.get("runs", [])])
    lines += [
        "",
        "| table | tasks/s | rows read/task | statements/task |",
        "|---|---|---|---|",
    ]
    lines.append(
        f"| empty (just before the fill) | {_fmt(empty)} | "
        f"{_median_per_task(empty_runs, 'rows_read')} | "
        f"{_median_per_task(empty_runs, 'Questions')} |"
    )
    lines.append(
        f"| {fill.get('rows', 0):,} finished rows | {_fmt(full)} | "
        f"{_median_per_task(h.get('runs', []), 'rows_read')} | "
        f"{_median_per_task(h.get('runs', []), 'Questions')} |"
    )
    if empty and full:
        lines.append(f"| ratio | {full.median / empty.median:.0%} | | |")
    ex = h.get("explain") or {}
    if ex.get("rows"):
        cols = [
            "id",
            "select_type",
            "table",
            "type",
            "possible_keys",
            "key",
            "key_len",
            "rows",
            "Extra",
        ]
        lines += ["", f"EXPLAIN of the claim (`{ex.get('sql', '')}`), with the history:", ""]
        lines.append("| " + " | ".join(cols) + " |")
        lines.append("|" + "---|" * len(cols))
        for r in ex["rows"]:
            lines.append("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


def _idle(raw: dict[str, Any]) -> str:
    res = raw["results"]
    lines: list[str] = []
    idle = res.get("idle") or {}
    if idle:
        lines += [
            "| system (1 idle worker) | statements/s | SELECT/s | UPDATE/s | COMMIT/s |",
            "|---|---|---|---|---|",
        ]
        base = idle.get("baseline")
        if base:
            per = base["per_second"]
            lines.append(
                f"| *no worker (baseline)* | {per.get('Questions', 0):.2f} | "
                f"{per.get('Com_select', 0):.2f} | {per.get('Com_update', 0):.2f} | "
                f"{per.get('Com_commit', 0):.2f} |"
            )
        for label, row in idle.items():
            if label == "baseline":
                continue
            if not row:
                lines.append(f"| {label} | failed | | | |")
                continue
            reps = row["repeats"]

            def col(key: str, reps: list[dict[str, Any]] = reps) -> str:
                return _fmt(_summ([r["per_second"].get(key, 0) for r in reps]), 2)

            lines.append(
                f"| {label} | {col('Questions')} | {col('Com_select')} | {col('Com_update')} "
                f"| {col('Com_commit')} |"
            )
        lines.append("")
        lines.append(
            "Statements/s is Questions: what clients send. The Com_* columns also count "
            "statements that the database's own events run inside their procedures (the "
            "baseline row), so a peon's own UPDATEs are its row minus the baseline."
        )
        lines.append("")
    pickup = res.get("pickup") or {}
    if pickup:
        lines += [
            "| system | RSS per process, idle (MiB) | processes (main + children) | "
            "total RSS (MiB) |",
            "|---|---|---|---|",
        ]
        for label, row in pickup.items():
            if not row:
                continue
            mem = row["memory"]
            per = [k / 1024 for k in mem["per_process_kib"]]
            listing = " + ".join(
                "(" + " + ".join(f"{k / 1024:.1f}" for k in w["processes_kib"]) + ")"
                for w in mem["workers"]
            )
            lines.append(
                f"| {label} | {summarize(per).median:.1f} (median) | {listing} | "
                f"{mem['total_kib'] / 1024:.1f} |"
            )
        lines.append("")
        lines.append(
            "RSS counts pages shared with a parent (forked pool children) in each process."
        )
    return "\n".join(lines)


def _long(raw: dict[str, Any]) -> str:
    long = raw["results"].get("long")
    if not long:
        return ""
    return "\n".join(
        [
            f"- tasks: 8 + 4 sleeping {long['task_seconds']:.0f} s each on one peon with 8 slots",
            f"- all 8 RUNNING after {fmt_num(long.get('seconds_to_8_running'), 2)} s; first "
            f"finished after {fmt_num(long.get('first_finish_after'), 1)} s",
            f"- exactly 8 RUNNING and 4 PENDING until then: {long['exactly_8_running_4_pending']}; "
            f"claimed more than 8: {long['claimed_extra']}",
            f"- largest heartbeat age seen: {fmt_num(long.get('max_heartbeat_age'), 2)} s "
            f"(interval {long['heartbeat_interval']:.0f} s; on time: {long['heartbeat_on_time']}), "
            f"{long['samples']} samples",
        ]
    )


def _methods(raw: dict[str, Any]) -> str:
    names: list[tuple[str, str]] = [
        ("ceiling", "Database ceiling"),
        ("drain", "Drain"),
        ("pickup", "Pickup latency"),
        ("enqueue", "Enqueue"),
        ("history", "History"),
        ("idle", "Idle cost and memory"),
        ("long", "Long tasks"),
    ]
    lines = [f"- **{title}:** {METHODS[key]}" for key, title in names]
    lines.append(
        "- **Configurations:** every worker logs at WARNING (no per-task log lines). "
        "workcraft: `python -m workcraft peon --workcraft_path=wc_app:app --pool=thread` with "
        "an empty workcraft.config.json (all defaults) and the slots shown. workcraft "
        "0.5.27: its `peon` CLI, its own defaults or DB_POLLING_INTERVAL=0, on a second "
        "private MariaDB started the same way (its start-up check reads information_schema "
        "without a schema filter and fails next to another workcraft database), with one "
        "fix to run on MariaDB at all (its peon registration uses MySQL-only `CAST(... AS "
        "JSON)`; bench/peers/apps/wc05_app.py). Celery: `celery worker --pool=solo` x2 or "
        "`--pool=prefork -c 2`, prefetch multiplier 64, no result backend, without "
        "gossip/mingle/heartbeat. Huey: `huey_consumer -k process -w 2` (RedisHuey, "
        "blocking BRPOP). Dramatiq: `dramatiq --processes 2 --threads 1`. RQ: `rq worker "
        "--worker-class rq.worker.SimpleWorker` x2. Each peer in its own venv under "
        ".workcraft/bench-venvs/ (pinned versions: bench/peers/)."
    )
    return "\n".join(lines)


# -------------------------------------------------------------------------- plot


def draw(raw: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    def plain(axis: Any) -> None:
        # log axes label only the decades, written as plain numbers
        axis.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.10g}"))
        axis.xaxis.set_minor_formatter(NullFormatter())

    rates = drain_rates(raw)
    pickup = raw["results"].get("pickup") or {}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, max(4.0, 0.5 * len(rates) + 2)))
    labels = list(rates)
    colors = [_color(_system_of(raw, label)) for label in labels]
    medians = [rates[label].median for label in labels]
    lows = [rates[label].median - rates[label].low for label in labels]
    highs = [rates[label].high - rates[label].median for label in labels]
    ax1.barh(labels, medians, xerr=[lows, highs], color=colors)
    ax1.set_xscale("log")
    ax1.invert_yaxis()
    ax1.set_xlabel("tasks/s (log scale; median, min-max)")
    ax1.set_title("Drain: 2 worker processes, no-op tasks")
    ceiling = ceiling_rate(raw)
    if ceiling:
        ax1.axvline(
            ceiling.median,
            color="black",
            linestyle="--",
            linewidth=1,
            label=f"DB claim-and-finish ceiling ({ceiling.median:,.0f} rows/s)",
        )
        ax1.legend(loc="upper right", fontsize=8)
    for y, value in enumerate(medians):
        ax1.text(
            value, y, f" {value:,.1f}" if value < 10 else f" {value:,.0f}", va="center", fontsize=8
        )
    if medians:
        top = max([*medians, ceiling.median if ceiling else 0.0])
        ax1.set_xlim(min(medians) / 2, top * 4)
    plain(ax1)
    plabels = [label for label, row in pickup.items() if row]
    p50 = [_pickup_summaries(pickup[label])["p50"] for label in plabels]
    p99 = [_pickup_summaries(pickup[label])["p99"] for label in plabels]
    ys = list(range(len(plabels)))
    ax2.barh(
        [y - 0.2 for y in ys],
        [s.median if s else 0 for s in p50],
        height=0.4,
        label="p50",
        color="#4c72b0",
    )
    ax2.barh(
        [y + 0.2 for y in ys],
        [s.median if s else 0 for s in p99],
        height=0.4,
        label="p99",
        color="#dd8452",
    )
    ax2.set_yticks(ys, plabels)
    ax2.set_xscale("log")
    for y, (a, b) in enumerate(zip(p50, p99, strict=True)):
        if a:
            ax2.text(a.median, y - 0.2, f" {a.median:,.1f}", va="center", fontsize=7)
        if b:
            ax2.text(b.median, y + 0.2, f" {b.median:,.1f}", va="center", fontsize=7)
    values = [s.median for s in (*p50, *p99) if s]
    if values:
        ax2.set_xlim(min(values) / 2, max(values) * 4)
    plain(ax2)
    ax2.invert_yaxis()
    ax2.set_xlabel("ms from send to the task's first line (log scale)")
    ax2.set_title("Pickup latency, idle workers")
    ax2.legend(loc="upper right", fontsize=8)
    fig.suptitle(f"workcraft benchmark suite, {raw['started']} ({raw['command']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _color(system: str) -> str:
    palette: dict[str, str] = {
        "workcraft": "#2a9d8f",
        "workcraft-0.5": "#8ab17d",
        "celery": "#e76f51",
        "huey": "#f4a261",
        "dramatiq": "#e9c46a",
        "rq": "#9c6644",
    }
    return palette.get(system, "#888888")
