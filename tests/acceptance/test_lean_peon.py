"""A peon never loads SQLAlchemy: its claims, outcomes, heartbeats, hints and schedules
all run on workcraft's own PyMySQL connections (workcraft.link). SQLAlchemy's import
alone is some 13 MiB of a process that is mostly idle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sqlalchemy

from tests.helpers import query, wait_for
from tests.peons import PeonFactory
from workcraft import Workcraft
from workcraft.config import DBConfig

# SQLAlchemy's compiled modules: mapped into any process that imported it.
_COMPILED = sorted(Path(sqlalchemy.__file__).parent.rglob("*.so"))


def test_importing_workcraft_and_its_cli_loads_no_sqlalchemy() -> None:
    probe = (
        "import sys, workcraft, workcraft.cli, workcraft.peon; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out


def test_a_peon_runs_tasks_and_schedules_without_sqlalchemy(
    db_config: DBConfig, peons: PeonFactory
) -> None:
    assert _COMPILED, "no compiled SQLAlchemy module to look for in the peon's memory map"
    peon = peons("wct-lean", workcraft_path="schedule_app.app")
    app = Workcraft(db_config=db_config)
    # a task of its app sent from here, and one its schedule fires itself
    task_id = app.send_task_sync("wct-every-second", task_kwargs={"label": "sent"})
    assert app.get_result_sync(task_id, timeout=30) == f"sent {task_id}"
    wait_for(
        lambda: query(
            db_config,
            "SELECT 1 FROM schedule_tick t JOIN bountyboard b ON b.id = t.task_id "
            "WHERE b.status = 'SUCCESS' AND t.fired_by = :peon",
            {"peon": peon.worker_id},
        ),
        30,
        message=peon.log,
    )
    maps = Path(f"/proc/{peon.pid}/maps").read_text()
    loaded = [str(so) for so in _COMPILED if str(so) in maps]
    assert not loaded, loaded
    assert peon.alive()
