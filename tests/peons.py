"""Real peon processes for acceptance tests: start, signal, wait, read their logs.

Every process started here is killed at the latest when its fixture ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from tests.helpers import execute, query, wait_for, wk_env
from workcraft.config import DBConfig, Settings

TASKAPPS = Path(__file__).resolve().parent / "acceptance" / "taskapps"

# Where the test tasks (taskapps/lifecycle_app.py) record each execution of a body.
SIDE_EFFECTS_TABLE = """
CREATE TABLE IF NOT EXISTS side_effects (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    task_id CHAR(36) NOT NULL,
    attempt INT NOT NULL,
    worker VARCHAR(255) NOT NULL,
    pid INT NOT NULL,
    value TEXT,
    started DOUBLE NULL,
    ended DOUBLE NULL,
    KEY (task_id)
)
"""


class PeonProcess:
    def __init__(
        self,
        cfg: DBConfig,
        env: Mapping[str, str],
        worker_id: str,
        log_dir: Path,
        workcraft_path: str = "lifecycle_app.app",
        args: Sequence[str] = (),
        cwd: Path = TASKAPPS,
    ) -> None:
        self.cfg, self.env, self.worker_id = cfg, dict(env), worker_id
        self.workcraft_path, self.args, self.cwd = workcraft_path, list(args), cwd
        self.log_path = log_dir / f"peon-{worker_id}-{len(list(log_dir.glob('peon-*')))}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PeonProcess:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "workcraft",
                    "peon",
                    f"--workcraft_path={self.workcraft_path}",
                    f"--worker-id={self.worker_id}",
                    "--log_level=DEBUG",
                    *self.args,
                ],
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = 30) -> PeonProcess:
        def ready() -> bool:
            assert self.alive(), f"peon {self.worker_id} exited early:\n{self.log()}"
            rows = query(
                self.cfg, "SELECT status, pid FROM peon WHERE id = :id", {"id": self.worker_id}
            )
            return bool(rows) and rows[0].status in ("IDLE", "WORKING") and rows[0].pid == self.pid

        wait_for(
            ready, timeout, message=lambda: f"peon {self.worker_id} never got ready:\n{self.log()}"
        )
        return self

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"peon {self.worker_id} did not exit:\n{self.log()}{self.stacks()}"
            ) from None

    def stacks(self) -> str:
        """Every thread's stack of a live peon (it dumps them on SIGUSR1), for the
        message of a test that found it hanging."""
        if not self.alive():
            return ""
        before = len(self.log())
        self.signal(signal.SIGUSR1)
        seen: list[str] = []

        def dumped() -> bool:
            # written in one go, a thread after another: done once it stops growing
            seen.append(self.log()[before:])
            return "Thread 0x" in seen[-1] and len(seen) > 1 and seen[-1] == seen[-2]

        try:
            wait_for(dumped, 5, message="no stack dump")
        except AssertionError:
            return "\n(no stack dump within 5 s)"
        return "\nstacks:\n" + seen[-1]

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGCONT)  # a stopped process cannot die otherwise
            self.proc.kill()
            self.proc.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class PeonFactory:
    def __init__(self, cfg: DBConfig, env: Mapping[str, str], log_dir: Path) -> None:
        self.cfg, self.env, self.log_dir = cfg, env, log_dir
        self.started: list[PeonProcess] = []

    def __call__(
        self, worker_id: str, *args: str, ready: bool = True, **kwargs: object
    ) -> PeonProcess:
        peon = PeonProcess(self.cfg, self.env, worker_id, self.log_dir, args=args, **kwargs)  # type: ignore[arg-type]
        self.started.append(peon)
        peon.start()
        return peon.wait_ready() if ready else peon

    def kill_all(self) -> None:
        for peon in self.started:
            peon.kill()


@pytest.fixture
def peon_env(db_config: DBConfig, test_settings: Settings, tmp_path: Path) -> dict[str, str]:
    """Environment for peon processes on this module's database (side_effects ready)."""
    execute(db_config, SIDE_EFFECTS_TABLE)
    return wk_env(db_config, test_settings, tmp_path)


@pytest.fixture
def peons(db_config: DBConfig, peon_env: dict[str, str], tmp_path: Path) -> Iterator[PeonFactory]:
    factory = PeonFactory(db_config, peon_env, tmp_path)
    try:
        yield factory
    finally:
        factory.kill_all()
