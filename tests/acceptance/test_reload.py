"""``peon --reload``: edits to the task source restart the peon; a broken edit waits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import scalar, wait_for
from workcraft.config import DBConfig
from workcraft.core import Workcraft
from workcraft.errors import ResultTimeout

APP_SOURCE = """
from workcraft import Workcraft

app = Workcraft()


@app.task("version")
def version() -> str:
    return "{version}"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "reload_app.py").write_text(APP_SOURCE.format(version="v1"))
    return folder


@pytest.fixture
def supervisor(
    project: Path,
    peon_env: dict[str, str],
    tmp_path: Path,
) -> Iterator[subprocess.Popen[bytes]]:
    log = (tmp_path / "reload.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workcraft",
            "peon",
            "--workcraft_path=reload_app.app",
            "--reload",
            "--worker_id=dev-peon",
            "--log_level=DEBUG",
        ],
        cwd=project,
        env=peon_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=30)
    log.close()


def _log(tmp_path: Path) -> str:
    return (tmp_path / "reload.log").read_text(errors="replace")


def _answers(client: Workcraft, expected: str) -> bool:
    task_id = client.send_task_sync("version")
    try:
        return bool(client.get_result_sync(task_id, timeout=10) == expected)
    except ResultTimeout:
        return False


def _peon_pid(cfg: DBConfig) -> int:
    return int(scalar(cfg, "SELECT pid FROM peon WHERE id = 'dev-peon'") or 0)


def test_reload_restarts_on_change_and_survives_a_broken_edit(
    db_config: DBConfig,
    project: Path,
    supervisor: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    client = Workcraft(db_config)
    wait_for(lambda: _answers(client, "v1"), 60, message=lambda: _log(tmp_path))
    first_pid = _peon_pid(db_config)

    (project / "reload_app.py").write_text(APP_SOURCE.format(version="v2"))
    wait_for(lambda: _answers(client, "v2"), 60, message=lambda: _log(tmp_path))
    assert _peon_pid(db_config) != first_pid, "a new peon process serves the new code"

    (project / "reload_app.py").write_text("def broken(:\n")
    wait_for(
        lambda: "waiting for a change to restart it" in _log(tmp_path),
        60,
        message=lambda: _log(tmp_path),
    )
    assert supervisor.poll() is None, "a broken edit must not stop the supervisor"
    assert "SyntaxError" in _log(tmp_path)

    (project / "reload_app.py").write_text(APP_SOURCE.format(version="v3"))
    wait_for(lambda: _answers(client, "v3"), 60, message=lambda: _log(tmp_path))
    # One worker id across restarts: one row, not one per save.
    assert scalar(db_config, "SELECT COUNT(*) FROM peon") == 1

    last_pid = _peon_pid(db_config)
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=60) == 0, _log(tmp_path)
    with pytest.raises(ProcessLookupError):
        os.kill(last_pid, 0)
    assert scalar(db_config, "SELECT status FROM peon WHERE id = 'dev-peon'") == "OFFLINE"
