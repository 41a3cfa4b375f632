"""What every system under test offers the scenarios: one adapter per system.

An adapter knows how to install its system into a venv of its own, set it up, empty
its queue, start its real CLI workers, and run its client (``apps/driver.py`` in its
venv). The scenarios never know which system they measure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import procs
from bench.dbstats import Probe
from bench.services import REPO, STATE, Database, Redis

APPS = Path(__file__).resolve().parent / "apps"
VENVS = STATE / "bench-venvs"


@dataclass
class Context:
    """What one run of the suite shares: its servers, its scratch dir, the probe port."""

    run_dir: Path
    db: Database | None
    db05: Database | None
    redis: Redis | None
    probe_port: int

    @property
    def probe_addr(self) -> str:
        return f"127.0.0.1:{self.probe_port}"


class Peer:
    """One row of the tables: a system in one configuration."""

    system = ""  # the --systems key
    variant = ""  # the configuration, shown in the row label
    module = ""  # the apps/ module its workers and driver import
    primary = True  # the configuration used for pickup, memory and idle rows
    db_backed = False
    # a smaller drain for systems that need minutes for the standard one (the report
    # says so next to their figure)
    drain_tasks: int | None = None
    requirements: tuple[str, ...] = ()
    # packages whose versions the report lists
    version_of: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.system} ({self.variant})" if self.variant else self.system

    # ------------------------------------------------------------------ install

    def venv(self) -> Path:
        return VENVS / self.system

    def python(self) -> Path:
        return self.venv() / "bin" / "python"

    def bin(self, name: str) -> str:
        return str(self.venv() / "bin" / name)

    def install(self) -> None:
        """Create the venv with this Python and pip install the pinned packages,
        unless a previous run installed exactly these."""
        venv = self.venv()
        marker = venv / ".bench-requirements.json"
        wanted = json.dumps(sorted(self.requirements))
        if self.python().exists() and marker.exists() and marker.read_text() == wanted:
            return
        print(f"install: {self.system}: {' '.join(self.requirements)} into {venv}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(self.python()), "-m", "pip", "install", "-q", *self.requirements],
            check=True,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )
        marker.write_text(wanted)

    def versions(self) -> dict[str, str]:
        out = subprocess.run(
            [str(self.python()), "-m", "pip", "list", "--format=json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        found = {str(p["name"]).lower(): str(p["version"]) for p in json.loads(out)}
        return {name: found.get(name, "?") for name in self.version_of}

    # -------------------------------------------------------------- lifecycle

    def env(self, ctx: Context) -> dict[str, str]:
        env = {
            "BENCH_PROBE": ctx.probe_addr,
            "PYTHONPATH": str(APPS),
            "PYTHONUNBUFFERED": "1",
        }
        if ctx.redis is not None:
            env["BENCH_REDIS_URL"] = ctx.redis.url
        return env

    def cwd(self, ctx: Context) -> Path:
        path = ctx.run_dir / self.system
        path.mkdir(parents=True, exist_ok=True)
        return path

    def setup(self, ctx: Context) -> None:
        """Once per run, before any scenario of this system."""

    def reset(self, ctx: Context) -> None:
        """Empty the queue and whatever else a previous scenario left."""
        if ctx.redis is not None:
            ctx.redis.command("FLUSHALL")

    def worker_commands(self, ctx: Context, processes: int, tag: str) -> list[procs.Command]:
        raise NotImplementedError

    def driver(self, ctx: Context, *args: str, timeout: float = 900.0) -> dict[str, Any]:
        argv = [str(self.python()), str(APPS / "driver.py"), self.module, *args]
        return procs.run_json(argv, self.env(ctx), self.cwd(ctx), timeout)

    # ----------------------------------------------- database-backed systems only

    def database(self, ctx: Context) -> Database | None:
        return None

    def unfinished(self, probe: Probe) -> int | None:
        """Rows still PENDING or RUNNING (database-backed systems)."""
        return None

    def last_finish_unix(self, probe: Probe) -> float | None:
        """When the last task's outcome was written, by the database's clock; None
        when the schema does not keep it."""
        return None

    def check_rows(self, probe: Probe, n: int) -> dict[str, Any]:
        """After a drain: does every task end as a complete row?"""
        return {}


def repo_relative(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)
