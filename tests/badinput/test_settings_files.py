"""Broken configuration for the ``peon`` CLI: ``workcraft.config.json``, ``.env`` and
flags. Each stops the peon before it touches the database, with exit status 2 and one
line that names the key (or flag) and what it should be.

The connection points at a closed port and the module path at a real task module: a
case that slipped through would either hang retrying (caught by the timeout) or start
a peon, never pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.badinput.support import BADINPUT_APP, TASKAPPS, assert_no_traceback, error_lines
from tests.helpers import CliResult, closed_port, run_cli, wk_env
from workcraft.config import CONFIG_FILE_ENV, CONFIG_FILE_NAME, DBConfig, Settings


@pytest.fixture
def env(test_settings: Settings, tmp_path: Path) -> dict[str, str]:
    cfg = DBConfig(host="127.0.0.1", port=closed_port(), password="x", database="nowhere")
    return wk_env(cfg, test_settings, tmp_path)


def _peon(env: dict[str, str], cwd: Path, *flags: str) -> CliResult:
    return run_cli(
        ["peon", f"--workcraft_path={BADINPUT_APP}", "--worker-id=config-check", *flags],
        env,
        cwd,
        timeout=30,
    )


def _one_error_line(result: CliResult) -> str:
    assert result.returncode == 2, result
    assert_no_traceback(result.output)
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result
    assert "ERROR" in lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            {"DB_POLLING_INTERVALL": 1},
            ["unknown setting 'DB_POLLING_INTERVALL'", "did you mean 'DB_POLLING_INTERVAL'?"],
        ),
        ({"DB_POLLING_INTERVAL": "1"}, ["DB_POLLING_INTERVAL must be a number of seconds"]),
        ({"DB_PEON_HEARTBEAT_INTERVAL": True}, ["DB_PEON_HEARTBEAT_INTERVAL must be a number"]),
        ({"DB_SETUP_BACKOFF_MAX_SECONDS": [1]}, ["DB_SETUP_BACKOFF_MAX_SECONDS must be a number"]),
        ({"DB_POLLING_INTERVAL": None}, ["DB_POLLING_INTERVAL must be a number"]),
        ({"DB_PEON_HEARTBEAT_INTERVAL": -1}, ["DB_PEON_HEARTBEAT_INTERVAL must be at least"]),
        (
            {"DB_SETUP_CHECK_DEAD_WORKER_INTERVAL": 0.5},
            ["DB_SETUP_CHECK_DEAD_WORKER_INTERVAL must be at least 1"],
        ),
        (
            {"DB_SETUP_MAX_PEON_DEATHS_PER_TASK": 2.5},
            ["DB_SETUP_MAX_PEON_DEATHS_PER_TASK must be a whole number"],
        ),
        ({"DB_SETUP_MAX_PEON_DEATHS_PER_TASK": "5"}, ["DB_SETUP_MAX_PEON_DEATHS_PER_TASK"]),
        ([{"DB_POLLING_INTERVAL": 1}], ["expected a JSON object of settings"]),
        ("NaN-literal", ["DB_POLLING_INTERVAL must be at least"]),
        ('{"DB_POLLING_INTERVAL": 1,', ["not valid JSON"]),
        ("", ["not valid JSON"]),
    ],
    ids=lambda v: None if isinstance(v, list) and v and isinstance(v[0], str) else repr(v)[:40],
)
def test_a_broken_settings_file_stops_the_peon_naming_the_key(
    env: dict[str, str], tmp_path: Path, content: object, expected: list[str]
) -> None:
    del env[CONFIG_FILE_ENV]  # the file in the working directory
    if content == "NaN-literal":
        text = '{"DB_POLLING_INTERVAL": NaN}'  # Python's json reads it; it is no interval
    elif isinstance(content, str):
        text = content
    else:
        text = json.dumps(content)
    cwd = tmp_path / "project"
    cwd.mkdir()
    (cwd / CONFIG_FILE_NAME).write_text(text)
    env["PYTHONPATH"] = str(TASKAPPS)
    line = _one_error_line(_peon(env, cwd))
    assert CONFIG_FILE_NAME in line  # which file
    for needle in expected:
        assert needle in line, line


def test_a_settings_file_named_by_the_environment_must_exist(
    env: dict[str, str], tmp_path: Path
) -> None:
    env[CONFIG_FILE_ENV] = str(tmp_path / "typo.json")
    line = _one_error_line(_peon(env, TASKAPPS))
    assert "typo.json" in line and "does not exist" in line and CONFIG_FILE_ENV in line


@pytest.mark.parametrize(
    ("dotenv", "expected"),
    [
        (
            'WK_DB_HOST="127.0.0.1"\nWK_DB_USER="root"\nWK_DB_NAME="workcraft"\n',
            ["WK_DB_PASS is missing", "add WK_DB_PASS="],
        ),
        ('WK_DB_PASS="x"\nWK_DB_PORT="three-three-oh-six"\n', ["WK_DB_PORT must be a number"]),
        ('WK_DB_PASS="x"\nWK_DB_PORT="70000"\n', ["port 70000 is not a TCP port", "WK_DB_PORT"]),
        (
            'WK_DB_PASS="x"\nWK_DB_NAME="work; DROP DATABASE mysql"\n',
            ["is not allowed", "WK_DB_NAME"],
        ),
        ('WK_DB_PASS="x"\nWK_DB_USE_SSL="maybe"\n', ["WK_DB_USE_SSL must be true or false"]),
        (
            'WK_DB_PASS="x"\nWK_DB_SSL_PATH="/no/such/ca.pem"\n',
            ["WK_DB_SSL_PATH", "does not exist"],
        ),
    ],
    ids=["no-password", "port-text", "port-range", "name-sql", "ssl-flag", "ssl-path"],
)
def test_a_broken_dotenv_stops_the_peon_naming_the_key(
    env: dict[str, str], tmp_path: Path, dotenv: str, expected: list[str]
) -> None:
    clean = {k: v for k, v in env.items() if not k.startswith("WK_DB_")}
    cwd = tmp_path / "project"
    cwd.mkdir()
    (cwd / ".env").write_text(dotenv)
    clean["PYTHONPATH"] = str(TASKAPPS)
    line = _one_error_line(_peon(clean, cwd))
    for needle in expected:
        assert needle in line, line


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--worker-id=two\nlines"], ["--worker-id", "control characters"]),
        (["--worker-id= padded "], ["--worker-id", "leading or trailing spaces"]),
        (["--queues="], ["at least one queue (--queues)"]),
        (["--queues=ok,bad\tqueue"], ["queue name", "control characters"]),
        ([f"--queues={json.dumps(['q' * 256])}"], ["queue name", "the limit is 255"]),
        (["--pool=fork"], ["--pool must be 'thread' or 'process'", "'fork'"]),
        (["--concurrency=-1"], ["--concurrency must be 1 or more"]),
        (
            ["--workcraft_path=badinput_app.nothing"],
            ["has no attribute 'nothing'", "its Workcraft instance(s): app"],
        ),
        (
            ["--workcraft_path=json:app"],
            ["has no attribute 'app'", "no Workcraft instance (its names: JSONDecodeError"],
        ),
        (["--workcraft_path=no_such_module.app"], ["cannot import 'no_such_module'"]),
    ],
    ids=lambda v: None if isinstance(v, list) and v and "--" not in v[0] else repr(v)[:40],
)
def test_peon_flags_that_cannot_work_stop_it_naming_the_flag(
    env: dict[str, str], flags: list[str], expected: list[str]
) -> None:
    line = _one_error_line(_peon(env, TASKAPPS, *flags))
    for needle in expected:
        assert needle in line, line


def test_an_unknown_log_level_stops_the_peon_naming_the_flag(env: dict[str, str]) -> None:
    line = _one_error_line(_peon(env, TASKAPPS, "--log_level=LOUD"))
    assert "--log_level" in line and "LOUD" in line


def test_a_concurrency_that_is_not_a_number_names_the_flag(env: dict[str, str]) -> None:
    line = _one_error_line(_peon(env, TASKAPPS, "--concurrency=abc"))
    assert "--concurrency" in line, line
