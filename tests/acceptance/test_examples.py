"""Every script in examples/ runs as its docstring says and shows what it claims.

Each example runs as a user would run it (`python examples/X.py`), as a subprocess in
an empty folder, on this module's fresh database; the checks below read its output.
A new example must be added to EXPECTED (or to OWN_TESTS), or a test fails.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import query, wk_env
from workcraft.config import DBConfig, Settings

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

# What each example must print besides its final "OK".
EXPECTED: dict[str, list[str]] = {
    "when_to_run.py": [
        "ran in order: urgent, low 1, low 2",
        "'too late' ended EXPIRED, started: never",
    ],
    "timeouts.py": [
        "crunch, timeout=0.5 declared: FAILURE TimeoutError: "
        "the task ran longer than its timeout of 0.5 s",
        "crunch, timeout=0.2 per send: FAILURE TimeoutError",
        "fetch, the peon's default: FAILURE TimeoutError: "
        "the task ran longer than its timeout of 1 s",
        "crunch, fast enough: SUCCESS 2",
    ],
    "cancellation.py": [
        "waiting task: cancelled",
        "running task: stop_requested",
        "running task is now CANCELLED",
        "cancel it again: finished: CANCELLED",
    ],
    "retries.py": [
        "fetch, 2 failures: SUCCESS 'fetched', retry_count=2",
        "fetch, 9 failures: FAILURE, retry_count=3",
        "fetch, not retried: FAILURE, retry_count=0, last error: ValueError",
        "poll: SUCCESS 'ready', retry_count=1",
        "charge: FAILURE, retry_count=0, last error: workcraft.errors.Discard",
    ],
    "unique.py": [
        "second send while the first waits: same task: True",
        "send after it finished: a new task: True",
    ],
    "bulk_and_transactions.py": [
        "sent 10,000 tasks in",
        "rolled back: no row",
        "committed: the task is PENDING",
        "the committed task returned 4",
    ],
    "async_client.py": [
        "add(2, 3) = 5",
        "shout('hello') = HELLO!",
        "5 adds at once: [0, 2, 4, 6, 8]",
    ],
    "queues.py": [
        "example-queues-reports: still PENDING while paused",
        "resumed example-queues-reports",
        "example-queues-reports: report done",
    ],
    "history.py": [
        "failed: row FAILURE",
        "delete_on_success: the row is gone",
        "DB_SETUP_RETENTION_SUCCESS_DAYS = 0 (keep forever)",
    ],
}

# Scripts with a test of their own: file -> the file that tests (or uses) it.
OWN_TESTS = {
    "_peon.py": "examples/timeouts.py",  # the helper that the examples above import
    "periodic.py": "tests/acceptance/test_schedule_peons.py",
    "example.py": "tests/acceptance/test_seed_example.py",
    "demo.py": "tests/acceptance/test_examples.py",  # test_the_demo_runs, below
    "demo_tasks.py": "examples/demo.py",
}


# Runs README's "Controlling tasks" snippets in order, as one program: the first
# (tasks.py) defines the app, then a peon serves its queue while the others run.
README_RUNNER = """
import json
import sys

sys.path.insert(0, sys.argv[1])
from _peon import running_peon

blocks = json.loads(open(sys.argv[2]).read())
scope = {"__name__": "readme"}
exec(blocks[0], scope)
with running_peon(scope["app"], "images"):
    for block in blocks[1:]:
        exec(block, scope)
print("OK")
"""


def _readme_snippets(section: str) -> list[str]:
    readme = (REPO / "README.md").read_text()
    body = readme.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.DOTALL)


def _run(
    script: Path, env: dict[str, str], cwd: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(
    name: str, db_config: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    ran = _run(EXAMPLES / name, wk_env(db_config, test_settings, tmp_path), tmp_path)

    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, output
    assert ran.stdout.splitlines()[-1:] == ["OK"], output
    for line in EXPECTED[name]:
        assert line in ran.stdout, f"{line!r} missing from the output of {name}:\n{output}"
    # It stopped its peon properly and left no queue paused.
    peons = query(db_config, "SELECT id, status FROM peon WHERE status <> 'OFFLINE'")
    assert peons == [], peons
    assert query(db_config, "SELECT queue FROM queue_state WHERE paused") == []


def test_delayed_tasks_waited(db_config: DBConfig, test_settings: Settings, tmp_path: Path) -> None:
    ran = _run(EXAMPLES / "when_to_run.py", wk_env(db_config, test_settings, tmp_path), tmp_path)

    assert ran.returncode == 0, ran.stdout + ran.stderr
    waited = re.findall(r"'(delayed|at a time)' started (\d+\.\d) s after it was sent", ran.stdout)
    assert [w[0] for w in waited] == ["delayed", "at a time"], ran.stdout
    assert all(float(seconds) >= 1.0 for _, seconds in waited), ran.stdout


def test_every_example_is_tested() -> None:
    scripts = {p.name for p in EXAMPLES.glob("*.py")}
    untested = scripts - set(EXPECTED) - set(OWN_TESTS)
    assert not untested, f"add these examples to EXPECTED in {__file__}: {sorted(untested)}"
    assert set(EXPECTED) <= scripts, sorted(set(EXPECTED) - scripts)
    for script, where in OWN_TESTS.items():
        assert script in scripts, f"{script} is listed in OWN_TESTS but does not exist"
        stem = script.removesuffix(".py")
        assert stem in (REPO / where).read_text(), f"{where} does not mention {script}"


def test_the_demo_runs(empty_database: DBConfig, test_settings: Settings, tmp_path: Path) -> None:
    # `make demo` runs it on the private database; it sets the database up itself.
    ran = _run(EXAMPLES / "demo.py", wk_env(empty_database, test_settings, tmp_path), tmp_path)

    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "failed as intended; peons stopped" in ran.stdout, ran.stdout


def test_the_readme_snippets_run(
    db_config: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    snippets = _readme_snippets("Controlling tasks")
    assert len(snippets) >= 10, snippets
    (tmp_path / "snippets.json").write_text(json.dumps(snippets))
    (tmp_path / "run_readme.py").write_text(README_RUNNER)
    env = wk_env(db_config, test_settings, tmp_path)

    ran = _run(tmp_path / "run_readme.py", env, tmp_path, str(EXAMPLES), "snippets.json")

    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = ran.stdout.splitlines()
    assert len(lines) == 3, ran.stdout
    result, status, ok = lines
    assert (result, ok) == ("f.jpg at 640px", "OK"), ran.stdout
    assert status in ("PENDING", "RUNNING", "SUCCESS"), ran.stdout


def test_the_readme_points_to_every_example() -> None:
    readme = (REPO / "README.md").read_text()
    missing = [name for name in [*EXPECTED, "periodic.py"] if f"(examples/{name})" not in readme]
    assert not missing, f"README.md links no examples/{missing}"
