"""The original workcraft 0.5.27 from PyPI, in a venv of its own (same import name).

Its peon runs one task at a time per process and sleeps DB_POLLING_INTERVAL before
every claim, so it is measured twice: with its default settings (5 s) and busy-polling
(0 s). It gets a MariaDB server of its own (see services.BENCH_DB05_DIR).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from bench import procs
from bench.dbstats import Probe
from bench.peers.base import Context, Peer
from bench.services import Database

# 0.5.27's Settings defaults, written out so that no workcraft.config.json further up
# the directory tree (it searches parents) is picked up instead.
DEFAULTS: dict[str, Any] = {
    "DB_PEON_HEARTBEAT_INTERVAL": 5,
    "DB_POLLING_INTERVAL": 5,
    "DB_POLLING_INTERVAL_RANDOMNESS_MEAN": 0,
    "DB_POLLING_INTERVAL_RANDOMNESS_STDDEV": 0,
    "DB_SETUP_BACKOFF_MULTIPLIER_SECONDS": 60,
    "DB_SETUP_BACKOFF_MAX_SECONDS": 3600,
    "DB_SETUP_RUN_SELF_CORRECT_TASK_INTERVAL": 10,
    "DB_SETUP_RUN_REOPEN_FAILED_TASK_INTERVAL": 10,
    "DB_SETUP_WAIT_TIME_BEFORE_WORKER_DECLARED_DEAD": 60,
    "DB_SETUP_CHECK_DEAD_WORKER_INTERVAL": 10,
}


class WorkcraftOriginal(Peer):
    system = "workcraft-0.5"
    module = "wc05_app"
    db_backed = True
    requirements = ("workcraft==0.5.27",)
    version_of = ("workcraft", "sqlalchemy", "pymysql")

    def __init__(self, polling: int, *, primary: bool) -> None:
        self.polling = polling
        self.primary = primary
        self.variant = "default, poll 5 s" if polling == 5 else f"busy-polling, poll {polling} s"
        # Its claim sorts every queued row (JSON_CONTAINS join, ORDER BY created_at
        # without a usable index): 5,000 rows read per task with 20,000 queued, 56
        # tasks/s, 6 minutes per repeat. Measured on 3,000 queued instead.
        self.drain_tasks = 3_000
        self.key = f"poll{polling}"

    def database(self, ctx: Context) -> Database | None:
        return ctx.db05

    def cwd(self, ctx: Context) -> Path:
        path = ctx.run_dir / self.system / self.key
        path.mkdir(parents=True, exist_ok=True)
        (path / "workcraft.config.json").write_text(
            json.dumps({**DEFAULTS, "DB_POLLING_INTERVAL": self.polling}, indent=2) + "\n"
        )
        return path

    def env(self, ctx: Context) -> dict[str, str]:
        assert ctx.db05 is not None
        # loguru's default sink logs every dequeue at INFO/DEBUG; all systems run at
        # WARNING so that no row pays for per-task log lines
        return {**super().env(ctx), **ctx.db05.env(), "LOGURU_LEVEL": "WARNING"}

    def setup(self, ctx: Context) -> None:
        assert ctx.db05 is not None
        probe = ctx.db05.probe()
        try:
            tables = probe.query("SHOW TABLES")
        finally:
            probe.close()
        drop = ["--drop_tables=True"] if tables else []
        procs.run_checked(
            [str(self.python()), "-m", "workcraft", "setup_database_tables", *drop],
            self.env(ctx),
            self.cwd(ctx),
            timeout=300,
        )

    def reset(self, ctx: Context) -> None:
        assert ctx.db05 is not None
        probe = ctx.db05.probe()
        try:
            probe.execute("TRUNCATE TABLE bountyboard")
            probe.execute("TRUNCATE TABLE logs")
        finally:
            probe.close()

    def worker_commands(self, ctx: Context, processes: int, tag: str) -> list[procs.Command]:
        return [
            procs.Command(
                argv=[
                    str(self.python()),
                    "-m",
                    "workcraft",
                    "peon",
                    "--workcraft_path=wc05_app.app",
                    f"--worker-id=b05-{tag}-{i}",
                ],
                env=self.env(ctx),
                cwd=self.cwd(ctx),
                name=f"wc05-{self.key}-{tag}-{i}",
                stop_signals=(signal.SIGTERM,),
                # its SIGTERM handler calls sys.exit() inside the event loop, which
                # does not always end the process: do not wait long for it
                stop_timeout=3.0,
            )
            for i in range(processes)
        ]

    def unfinished(self, probe: Probe) -> int | None:
        rows = probe.query(
            "SELECT COUNT(*) FROM (SELECT 1 FROM bountyboard WHERE status IN "
            "('PENDING', 'RUNNING') LIMIT 1) AS x"
        )
        return int(rows[0][0])

    def check_rows(self, probe: Probe, n: int) -> dict[str, Any]:
        rows = probe.query(
            "SELECT COUNT(*), SUM(status = 'SUCCESS' AND worker_id IS NOT NULL) FROM bountyboard"
        )
        total, complete = rows[0]
        return {"rows": int(total or 0), "complete_rows": int(complete or 0), "expected": n}
