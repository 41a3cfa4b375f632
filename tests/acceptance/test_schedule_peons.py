"""Periodic tasks with real processes: three peons on one schedule fire each tick once,
and examples/periodic.py runs as its docstring says."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers import query, wait_for, write_dotenv
from tests.peons import PeonFactory
from workcraft.config import DBConfig, Settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "periodic.py"
SCHEDULE = "wct-every-second"


def _ticks(cfg: DBConfig, name: str) -> list[Any]:
    return query(
        cfg,
        "SELECT t.tick_at, t.outcome, t.task_id, t.fired_by, b.status FROM schedule_tick t "
        "LEFT JOIN bountyboard b ON b.id = t.task_id WHERE t.schedule_name = :n "
        "ORDER BY t.tick_at",
        {"n": name},
    )


def test_three_peons_fire_each_tick_once(db_config: DBConfig, peons: PeonFactory) -> None:
    started = [peons(f"wct-sched-{i}", workcraft_path="schedule_app.app") for i in range(3)]
    logs = lambda: "\n".join(p.log() for p in started)  # noqa: E731

    wait_for(lambda: len(_ticks(db_config, SCHEDULE)) >= 10, 60, message=logs)
    # the first ten ticks' tasks run while the peons still live
    wait_for(
        lambda: all(t.status == "SUCCESS" for t in _ticks(db_config, SCHEDULE)[:10]),
        30,
        message=logs,
    )
    for peon in started:
        peon.kill()
    ticks = _ticks(db_config, SCHEDULE)

    tasks = query(
        db_config, "SELECT id FROM bountyboard WHERE task_name = :n", {"n": "wct-every-second"}
    )
    # 10 ticks and more gave as many tasks, not three times as many
    assert len(ticks) >= 10
    assert sorted(t.id for t in tasks) == sorted(t.task_id for t in ticks)
    assert len({t.tick_at for t in ticks}) == len(ticks)
    assert {t.fired_by for t in ticks} <= {p.worker_id for p in started}


def test_the_periodic_example_runs(
    db_config: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    shutil.copy(EXAMPLE, tmp_path / "periodic.py")
    write_dotenv(db_config, tmp_path)
    (tmp_path / "workcraft.config.json").write_text(json.dumps(test_settings.to_json_dict()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WK_")}

    ran = subprocess.run(
        [sys.executable, "periodic.py", "5"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "heartbeat" in ran.stdout and "daily-report" in ran.stdout, ran.stdout
    assert "SUCCESS: alive at" in ran.stdout, ran.stdout
    names = {r.name for r in query(db_config, "SELECT name FROM schedule")}
    assert {"heartbeat", "daily-report", "weekly-report"} <= names
    heartbeats = _ticks(db_config, "heartbeat")
    assert any(t.status == "SUCCESS" for t in heartbeats), heartbeats
