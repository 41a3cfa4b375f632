"""The CLI's views and their two writes (retry, purge), run as a user runs them:
``python -m workcraft ...`` in a subprocess, its ``--json`` output parsed."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CliResult, execute, query, scalar, wait_for, wk_env
from tests.peons import PeonFactory
from workcraft import TaskStatus, Workcraft
from workcraft.config import DBConfig, Settings
from workcraft.core import new_task_id

APP = "views_app.app"


@pytest.fixture
def env(db_config: DBConfig, test_settings: Settings, tmp_path: Path) -> dict[str, str]:
    execute(
        db_config,
        "DELETE FROM bountyboard",
        "DELETE FROM task_attempts",
        "DELETE FROM queue_state",
        "DELETE FROM peon WHERE status = 'OFFLINE'",
    )
    variables = wk_env(db_config, test_settings, tmp_path)
    variables.pop("NO_COLOR", None)  # even so, a pipe gets no colour
    return variables


@pytest.fixture
def app(db_config: DBConfig) -> Workcraft:
    return Workcraft(db_config=db_config)


def cli(args: Sequence[str], env: Mapping[str, str], cwd: Path) -> CliResult:
    """Like tests.helpers.run_cli, with stdin that is not a terminal whatever runs pytest."""
    proc = subprocess.run(
        [sys.executable, "-m", "workcraft", *args],
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return CliResult(proc)


def ok_json(result: CliResult) -> Any:
    assert result.returncode == 0, result
    assert "\033[" not in result.stdout
    return json.loads(result.stdout)


def user_error(result: CliResult) -> str:
    """The one line a user error prints (exit status 2, no traceback)."""
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _old_task(cfg: DBConfig, status: str, hours: float, queue: str = "old") -> str:
    task_id = new_task_id()
    execute(
        cfg,
        "INSERT INTO bountyboard (id, task_name, queue, status, started_at, finished_at) "
        "VALUES (:id, 't', :queue, :status, NOW(6) - INTERVAL :us MICROSECOND, "
        "NOW(6) - INTERVAL :us MICROSECOND)",
        params={"id": task_id, "queue": queue, "status": status, "us": round(hours * 3.6e9)},
    )
    return task_id


def test_status_tasks_and_task_as_json_and_as_tables(
    app: Workcraft, env: dict[str, str], tmp_path: Path
) -> None:
    sent = [app.send_task_sync("nobody_runs_this", [i], queue="pages") for i in range(5)]
    app.pause_queue("quiet")

    stats = {q["queue"]: q for q in ok_json(cli(["status", "--json"], env, tmp_path))}
    assert stats["pages"]["counts"]["PENDING"] == 5
    assert stats["pages"]["counts"]["SUCCESS"] == 0
    assert stats["pages"]["oldest_pending_age"] >= 0
    assert stats["quiet"]["paused"] is True

    first = ok_json(cli(["tasks", "--queue=pages", "--limit=3", "--json"], env, tmp_path))
    assert [t["id"] for t in first["rows"]] == sorted(sent, reverse=True)[:3]
    second = ok_json(
        cli(
            ["tasks", "--queue", "pages", "--limit=3", "--cursor", first["next_cursor"], "--json"],
            env,
            tmp_path,
        )
    )
    assert [t["id"] for t in second["rows"]] == sorted(sent, reverse=True)[3:]
    assert second["next_cursor"] is None
    assert datetime.fromisoformat(first["rows"][0]["created_at"]).tzinfo is None  # db clock
    recent = ok_json(cli(["tasks", "--since=10m", "--status=pending", "--json"], env, tmp_path))
    assert len(recent["rows"]) == 5
    assert ok_json(cli(["tasks", "--until=10m", "--json"], env, tmp_path))["rows"] == []

    detail = ok_json(cli(["task", sent[0], "--json"], env, tmp_path))
    assert (detail["id"], detail["task_name"], detail["status"]) == (
        sent[0],
        "nobody_runs_this",
        "PENDING",
    )
    assert detail["args"] == [0] and detail["attempts"] == []

    table = cli(["tasks", "--queue=pages", "--limit=2"], env, tmp_path)
    assert table.returncode == 0, table
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["id", "task", "queue", "status"]
    assert lines[-1] == f"more: --cursor={sorted(sent, reverse=True)[1]}"
    assert "\033[" not in table.stdout
    status = cli(["status"], env, tmp_path)
    assert status.returncode == 0 and "paused" in status.stdout, status


def test_mistakes_print_one_line_and_exit_2(env: dict[str, str], tmp_path: Path) -> None:
    line = user_error(cli(["tasks", "--status=DONE"], env, tmp_path))
    assert "unknown status 'DONE'; use one of PENDING, RUNNING, SUCCESS" in line
    line = user_error(cli(["tasks", "--since=yesterday"], env, tmp_path))
    assert "neither a time" in line
    line = user_error(cli(["tasks", "--limit=0"], env, tmp_path))
    assert "limit must be a whole number from 1 to 1000" in line
    missing = new_task_id()
    assert f"no task has id '{missing}'" in user_error(cli(["task", missing], env, tmp_path))
    assert f"no task has id '{missing}'" in user_error(cli(["retry", missing], env, tmp_path))


def test_retry_runs_a_failed_task_again_and_keeps_its_history(
    app: Workcraft, env: dict[str, str], tmp_path: Path, peons: PeonFactory
) -> None:
    peon = peons("viewer", workcraft_path=APP)
    task_id = app.send_task_sync("fails_first", [21])
    wait_for(lambda: app.status(task_id) == TaskStatus.FAILURE, 30, message="never failed")

    workers = ok_json(cli(["peons", "--json"], env, tmp_path))
    (mine,) = [p for p in workers if p["id"] == "viewer"]
    assert mine["alive"] is True and mine["pid"] == peon.pid and mine["queues"] == ["DEFAULT"]

    failed = ok_json(cli(["tasks", "--status=FAILURE", "--json"], env, tmp_path))["rows"]
    assert [(t["id"], t["error_line"]) for t in failed] == [
        (task_id, "ValueError: the first attempt at 21 fails")
    ]

    assert ok_json(cli(["retry", task_id, "--json"], env, tmp_path)) == {
        "task_id": task_id,
        "outcome": "requeued",
    }
    assert app.get_result_sync(task_id, timeout=30) == 42

    detail = ok_json(cli(["task", task_id, "--json"], env, tmp_path))
    assert detail["status"] == "SUCCESS" and detail["result"] == 42
    assert [(a["attempt"], a["outcome"], a["worker_id"]) for a in detail["attempts"]] == [
        (1, "FAILURE", "viewer"),
        (2, "SUCCESS", "viewer"),
    ]
    assert "the first attempt at 21 fails" in detail["error"]  # the last error stays

    line = user_error(cli(["retry", task_id], env, tmp_path))
    assert line.endswith(
        f"{task_id}: not requeued: it is SUCCESS; only FAILURE, INVALID, CANCELLED, "
        "EXPIRED tasks can be retried"
    )
    text = cli(["task", task_id], env, tmp_path)
    assert text.returncode == 0 and "attempts" in text.stdout and "ValueError" in text.stdout
    assert "viewer" in cli(["peons"], env, tmp_path).stdout


def test_purge_asks_first_refuses_without_yes_and_deletes_what_it_was_told(
    db_config: DBConfig, env: dict[str, str], tmp_path: Path
) -> None:
    old_success = _old_task(db_config, "SUCCESS", 3)
    old_failure = _old_task(db_config, "FAILURE", 3)
    old_cancelled = _old_task(db_config, "CANCELLED", 3)
    fresh_success = _old_task(db_config, "SUCCESS", 0.1)
    execute(
        db_config,
        "INSERT INTO task_attempts (task_id, attempt, outcome) VALUES (:id, 1, 'FAILURE')",
        params={"id": old_failure},
    )

    line = user_error(cli(["purge", "2h"], env, tmp_path))
    assert "pass --yes" in line and "not a terminal" in line
    assert scalar(db_config, "SELECT COUNT(*) FROM bountyboard") == 4
    line = user_error(cli(["purge", "2h", "--status=PENDING", "--yes"], env, tmp_path))
    assert "PENDING tasks are not finished and are never purged" in line
    line = user_error(cli(["purge", "two hours", "--yes"], env, tmp_path))
    assert "not a duration" in line

    result = cli(
        ["purge", "--older_than=2h", "--status=SUCCESS,FAILURE", "--yes", "--json"], env, tmp_path
    )
    assert ok_json(result) == {"deleted": 2}
    left = {r.id for r in query(db_config, "SELECT id FROM bountyboard")}
    assert left == {old_cancelled, fresh_success}
    assert scalar(db_config, "SELECT COUNT(*) FROM task_attempts") == 0
    assert old_success not in left


def _on_a_terminal(args: Sequence[str], env: Mapping[str, str], cwd: Path, answer: str) -> str:
    """Run the CLI with a pseudo-terminal as stdin, answer its question, return stdout."""
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workcraft", *args],
            env=dict(env),
            cwd=cwd,
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(controller, answer.encode())
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise AssertionError(f"{args} did not finish after answering {answer!r}") from None
    finally:
        os.close(controller)
        os.close(terminal)
    return f"{proc.returncode}\n{out}{err}"


def test_purge_on_a_terminal_deletes_only_when_the_answer_is_yes(
    db_config: DBConfig, env: dict[str, str], tmp_path: Path
) -> None:
    _old_task(db_config, "EXPIRED", 5)
    _old_task(db_config, "EXPIRED", 5)

    said_no = _on_a_terminal(["purge", "4h"], env, tmp_path, "n\n")
    assert said_no.startswith("1\n"), said_no
    assert "delete 2 EXPIRED tasks finished more than 4h ago? [y/N]" in said_no
    assert "nothing deleted" in said_no
    assert scalar(db_config, "SELECT COUNT(*) FROM bountyboard") == 2

    nothing_old = _on_a_terminal(["purge", "1d"], env, tmp_path, "")
    assert nothing_old.startswith("0\nnothing to purge"), nothing_old

    said_yes = _on_a_terminal(["purge", "4h", "--status=expired"], env, tmp_path, "y\n")
    assert said_yes.startswith("0\n"), said_yes
    assert "deleted 2 tasks" in said_yes
    assert scalar(db_config, "SELECT COUNT(*) FROM bountyboard") == 0


def test_cancel_pause_resume_speak_json_and_metrics_print_the_format(
    app: Workcraft, env: dict[str, str], tmp_path: Path
) -> None:
    task_id = app.send_task_sync("nobody_runs_this", queue="held")
    assert ok_json(cli(["pause", "held", "--json"], env, tmp_path)) == {
        "queue": "held",
        "paused": True,
        "paused_queues": ["held"],
    }
    assert ok_json(cli(["cancel", task_id, "--json"], env, tmp_path)) == {
        "task_id": task_id,
        "outcome": "cancelled",
    }
    assert ok_json(cli(["resume", "held", "--json"], env, tmp_path)) == {
        "queue": "held",
        "paused": False,
        "paused_queues": [],
    }
    assert ok_json(cli(["retry", task_id, "--json"], env, tmp_path))["outcome"] == "requeued"

    scrape = cli(["metrics"], env, tmp_path)
    assert scrape.returncode == 0, scrape
    assert "# TYPE workcraft_tasks gauge" in scrape.stdout
    assert 'workcraft_tasks{queue="held",status="PENDING"} 1' in scrape.stdout
    assert 'workcraft_queue_paused{queue="held"} 0' in scrape.stdout
