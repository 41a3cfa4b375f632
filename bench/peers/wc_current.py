"""workcraft as it is in this tree: peons are ``python -m workcraft peon`` from .venv."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from bench import procs
from bench.dbstats import Probe
from bench.peers.base import Context, Peer
from bench.services import REPO, Database


class WorkcraftCurrent(Peer):
    system = "workcraft"
    module = "wc_app"
    db_backed = True
    version_of = ("workcraft", "sqlalchemy", "pymysql")

    def __init__(
        self,
        concurrency: int,
        *,
        primary: bool = False,
        log_level: str = "WARNING",
        settings: dict[str, Any] | None = None,
        name: str = "",
    ) -> None:
        self.concurrency = concurrency
        self.primary = primary
        self.log_level = log_level
        # workcraft.config.json for this configuration: {} is every default
        self.settings = settings or {}
        extra = f", {name}" if name else ""
        # 0: the peon's own default (CPUs + 4 threads), flag left out as a user would
        slots = f"thread x{concurrency}" if concurrency else f"defaults, thread x{_default_slots()}"
        self.variant = f"{slots}{extra}"
        self.key = f"c{concurrency or 'default'}" + (f"-{name}" if name else "")

    def venv(self) -> Path:
        return REPO / ".venv"

    def python(self) -> Path:
        return Path(sys.executable)

    def install(self) -> None:
        """The tree's own .venv (workcraft installed editable): nothing to install."""

    def database(self, ctx: Context) -> Database | None:
        return ctx.db

    def config_file(self, ctx: Context) -> Path:
        path = self.cwd(ctx) / f"workcraft.{self.key}.json"
        path.write_text(json.dumps(self.settings, indent=2) + "\n")
        return path

    def env(self, ctx: Context) -> dict[str, str]:
        assert ctx.db is not None
        return {
            **super().env(ctx),
            **ctx.db.env(),
            "WK_CONFIG_FILE": str(self.config_file(ctx)),
        }

    def setup(self, ctx: Context) -> None:
        procs.run_checked(
            [str(self.python()), "-m", "workcraft", "setup_database_tables"],
            self.env(ctx),
            self.cwd(ctx),
            timeout=300,
        )

    def reset(self, ctx: Context) -> None:
        assert ctx.db is not None
        probe = ctx.db.probe()
        try:
            probe.execute("TRUNCATE TABLE bountyboard")
            probe.execute("TRUNCATE TABLE task_attempts")
            probe.execute("DELETE FROM peon")
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
                    "--workcraft_path=wc_app:app",
                    f"--worker-id=bench-{tag}-{i}",
                    *([f"--concurrency={self.concurrency}"] if self.concurrency else []),
                    "--pool=thread",
                    f"--log_level={self.log_level}",
                ],
                env=self.env(ctx),
                cwd=self.cwd(ctx),
                name=f"workcraft-{tag}-{i}",
                # the first signal finishes running tasks, a second stops at once
                stop_signals=(signal.SIGTERM,),
            )
            for i in range(processes)
        ]

    def unfinished(self, probe: Probe) -> int | None:
        rows = probe.query(
            "SELECT COUNT(*) FROM (SELECT 1 FROM bountyboard WHERE status IN "
            "('PENDING', 'RUNNING') LIMIT 1) AS x"
        )
        return int(rows[0][0])

    def last_finish_unix(self, probe: Probe) -> float | None:
        # finished_status = 'SUCCESS' lets ix_status_finished answer from its last entry;
        # a bare MAX(finished_at) would scan the whole table (and all its history)
        rows = probe.query(
            "SELECT UNIX_TIMESTAMP(MAX(finished_at)) FROM bountyboard "
            "WHERE finished_status = 'SUCCESS'"
        )
        value = rows[0][0] if rows else None
        return float(value) if value is not None else None

    def check_rows(self, probe: Probe, n: int) -> dict[str, Any]:
        rows = probe.query(
            "SELECT COUNT(*), SUM(status = 'SUCCESS' AND result IS NOT NULL "
            "AND started_at IS NOT NULL AND finished_at IS NOT NULL "
            "AND worker_id IS NOT NULL AND attempt = 1) FROM bountyboard "
            # the history scenario's pre-filled rows are not this drain's tasks
            "WHERE worker_id IS NULL OR worker_id <> 'history'"
        )
        total, complete = rows[0]
        return {"rows": int(total or 0), "complete_rows": int(complete or 0), "expected": n}


def _default_slots() -> int:
    return min(32, (os.cpu_count() or 1) + 4)
