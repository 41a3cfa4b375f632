"""`make demo`: two peons work through a batch of example tasks on the private database.

Reads the connection from WK_DB_* (the Makefile exports the private database's
settings). Starts the peons as real processes, sends the tasks, shows progress,
prints a summary and stops everything it started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workcraft import DBConfig, Settings, TaskStatus, get_db_config, setup_database
from workcraft.tables import format_table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from demo_tasks import app  # noqa: E402

# Small intervals so retries and the database's own maintenance show within seconds.
DEMO_SETTINGS = Settings(
    peon_heartbeat_interval=1,
    polling_interval=0.2,
    backoff_multiplier_seconds=0.5,
    backoff_max_seconds=2,
    reopen_failed_interval=1,
    self_correct_interval=2,
    check_dead_peon_interval=2,
    dead_peon_timeout=10,
)


def start_peons(cfg: DBConfig, config_file: Path) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "WK_CONFIG_FILE": str(config_file),
        "WK_DB_HOST": cfg.host,
        "WK_DB_PORT": str(cfg.port),
        "WK_DB_USER": cfg.user,
        "WK_DB_PASS": cfg.password or "",
        "WK_DB_NAME": cfg.database,
        "WK_DB_USE_SSL": "true" if cfg.use_ssl else "",
        "WK_DB_SSL_PATH": cfg.ssl_path or "",
    }
    peons = []
    for name, pool_args in (("demo-peon-1", []), ("demo-peon-2", ["--concurrency=4"])):
        peons.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "workcraft",
                    "peon",
                    "--workcraft_path=demo_tasks.app",
                    f"--worker-id={name}",
                    "--queues=DEFAULT",
                    "--log_level=WARNING",
                    *pool_args,
                ],
                cwd=HERE,
                env=env,
            )
        )
    return peons


def send_batch() -> list[str]:
    ids = [app.send_task_sync("add", [i, i * 10]) for i in range(5)]
    ids += [app.send_task_sync("slow_square", [i]) for i in range(8)]
    ids += [app.send_task_sync("fetch_async", [f"page-{i}", 0.5]) for i in range(4)]
    ids.append(app.send_task_sync("flaky", ["payment-api"], retry_on_failure=True, retry_limit=3))
    ids.append(app.send_task_sync("always_fails", [], retry_on_failure=True, retry_limit=1))
    return ids


def wait_with_progress(
    ids: list[str], peons: list[subprocess.Popen[bytes]], timeout: float = 90
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in peons):
            raise SystemExit("demo: a peon exited early; see its log above")
        tasks = [app.get_task_sync(i) for i in ids]
        done = sum(1 for t in tasks if t is not None and t.finished)
        counts: dict[str, int] = {}
        for t in tasks:
            if t is not None:
                counts[t.status] = counts.get(t.status, 0) + 1
        line = ", ".join(f"{s} {n}" for s, n in sorted(counts.items()))
        print(f"progress: {done}/{len(ids)} finished ({line})", flush=True)
        if done == len(ids):
            return
        time.sleep(1)
    raise SystemExit(f"demo: tasks did not finish within {timeout:.0f} s")


def summary(ids: list[str]) -> str:
    rows = []
    for task_id in ids:
        t = app.get_task_sync(task_id)
        assert t is not None
        outcome = (
            json.dumps(t.result)
            if t.status == TaskStatus.SUCCESS
            else ((t.error or "").strip().splitlines()[-1] if t.error else "")
        )
        rows.append(
            (
                task_id[-8:],
                t.task_name,
                json.dumps(t.args),
                t.status,
                outcome[:60],
                t.retry_count,
                t.worker_id or "",
                f"{t.duration or 0:.2f}s",
            )
        )
    return format_table(
        ["id", "task", "args", "status", "result / last error", "retries", "peon", "took"], rows
    )


def main() -> int:
    cfg = get_db_config()
    app.configure(cfg)
    setup_database(cfg, DEMO_SETTINGS)
    with tempfile.TemporaryDirectory() as tmp:
        config_file = Path(tmp) / "workcraft.config.json"
        config_file.write_text(json.dumps(DEMO_SETTINGS.to_json_dict()))
        peons = start_peons(cfg, config_file)
        try:
            ids = send_batch()
            print(f"demo: sent {len(ids)} tasks to 2 peons on {cfg.describe()}")
            wait_with_progress(ids, peons)
            print()
            print(summary(ids))
        finally:
            for peon in peons:
                peon.send_signal(signal.SIGTERM)
            for peon in peons:
                try:
                    peon.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    peon.kill()
    statuses = [app.status(i) for i in ids]
    expected_failures = 1  # always_fails
    ok = statuses.count(TaskStatus.SUCCESS) == len(ids) - expected_failures
    print(
        f"\ndemo: {statuses.count(TaskStatus.SUCCESS)} succeeded, "
        f"{statuses.count(TaskStatus.FAILURE)} failed as intended; peons stopped"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
