"""Helpers shared by the bad-input catalogue and the security tests."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import query, wait_for
from tests.peons import TASKAPPS, PeonProcess
from workcraft import Workcraft
from workcraft.config import DBConfig

__all__ = [
    "BADINPUT_APP",
    "FINAL",
    "MIB",
    "TASKAPPS",
    "Spawner",
    "assert_no_traceback",
    "assert_peon_healthy",
    "error_lines",
    "row",
    "wait_final",
    "wait_status",
]

BADINPUT_APP = "badinput_app.app"
MIB = 1024 * 1024
FINAL = ("SUCCESS", "FAILURE", "INVALID", "CANCELLED", "EXPIRED")


def row(cfg: DBConfig, task_id: str) -> dict[str, Any]:
    rows = query(cfg, "SELECT * FROM bountyboard WHERE id = :id", {"id": task_id})
    assert rows, f"no task {task_id}"
    return dict(rows[0]._mapping)


def wait_status(cfg: DBConfig, task_id: str, *statuses: str, timeout: float = 30) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        current = row(cfg, task_id)
        return current if current["status"] in statuses else None

    return wait_for(
        reached, timeout, message=lambda: f"task never reached {statuses}: {row(cfg, task_id)}"
    )


def wait_final(cfg: DBConfig, task_id: str, timeout: float = 30) -> dict[str, Any]:
    return wait_status(cfg, task_id, *FINAL, timeout=timeout)


def assert_peon_healthy(app: Workcraft, peon: PeonProcess, queue: str = "DEFAULT") -> None:
    """The same peon process is alive and still runs a normal task to SUCCESS."""
    assert peon.alive(), f"peon {peon.worker_id} died:\n{peon.log()}"
    task_id = app.send_task_sync("add", [20, 22], queue=queue)
    assert app.get_result_sync(task_id, timeout=30) == 42, peon.log()
    assert app.db_config is not None
    assert row(app.db_config, task_id)["worker_id"] == peon.worker_id
    assert peon.alive(), f"peon {peon.worker_id} died:\n{peon.log()}"


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def assert_no_traceback(text: str) -> None:
    assert "Traceback" not in text, text
    assert 'File "' not in text, text


class Spawner:
    """Peon processes with an environment of the test's choosing (a wrong password,
    a closed port, a least-privileged account); every one is killed at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[PeonProcess] = []

    def __call__(
        self,
        cfg: DBConfig,
        env: Mapping[str, str],
        worker_id: str,
        *args: str,
        ready: bool = True,
        workcraft_path: str = BADINPUT_APP,
    ) -> PeonProcess:
        peon = PeonProcess(
            cfg, env, worker_id, self.log_dir, workcraft_path=workcraft_path, args=args
        )
        self.started.append(peon)
        peon.start()
        return peon.wait_ready() if ready else peon

    def kill_all(self) -> None:
        for peon in self.started:
            # A process pool's children outlive a SIGKILLed peon: end them too.
            descendants = process_tree(peon.pid)[1:] if peon.alive() else []
            peon.kill()
            for pid in descendants:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawner]:
    spawner = Spawner(tmp_path)
    try:
        yield spawner
    finally:
        spawner.kill_all()


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


__all__ += ["process_tree", "spawn"]
