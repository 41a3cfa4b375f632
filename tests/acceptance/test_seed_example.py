"""The original README, followed to the letter: .env in the working directory, the
setup command, the peon command, then `python example.py` sends simple_task."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import query, run_cli, wait_for, write_dotenv
from tests.peons import PeonProcess
from workcraft.config import DBConfig, Settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "example.py"


def _seed_env() -> dict[str, str]:
    # Nothing from the test run's environment: the README's user has only .env.
    return {k: v for k, v in os.environ.items() if not k.startswith("WK_")}


def test_seed_readme_example_runs_as_written(
    db_config: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    shutil.copy(EXAMPLE, tmp_path / "example.py")
    write_dotenv(db_config, tmp_path)
    (tmp_path / "workcraft.config.json").write_text(json.dumps(test_settings.to_json_dict()))
    env = _seed_env()

    setup = run_cli(["setup_database_tables"], env=env, cwd=tmp_path)
    assert setup.returncode == 0, setup.output

    peon = PeonProcess(
        db_config, env, "test1", tmp_path, workcraft_path="example.workcraft", cwd=tmp_path
    )
    try:
        peon.start().wait_ready()
        sent = subprocess.run(
            [sys.executable, "example.py"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert sent.returncode == 0, sent.stderr

        def finished() -> list[object]:
            rows = query(
                db_config,
                "SELECT id, status, payload, result, worker_id FROM bountyboard "
                "WHERE task_name = 'simple_task'",
            )
            return rows if rows and rows[0].status == "SUCCESS" else []

        (task,) = wait_for(finished, 30, message=peon.log)
        payload = json.loads(task.payload)  # type: ignore[attr-defined]
        a, b = payload["task_args"]
        c = payload["task_kwargs"]["c"]
        assert json.loads(task.result) == a + b + c  # type: ignore[attr-defined]
        assert task.worker_id == "test1"  # type: ignore[attr-defined]
        expected = (
            f"Postrun handler called for {task.id} and simple_task! "  # type: ignore[attr-defined]
            f"Got result: {a + b + c} and status SUCCESS"
        )
        wait_for(lambda: expected in peon.log(), 10, message=peon.log)
        assert "Setting up the worker!" in peon.log()
        assert "1001" in peon.log()  # setup_handler ran before the task bumped the counter
    finally:
        peon.kill()
