"""``python -m workcraft dashboard``: flags, clear refusals, the token shown only once
and only to a terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.helpers import closed_port, run_cli, wait_for


def test_actions_without_a_token_are_refused_when_no_one_watches(
    dashboard_env: dict[str, str], tmp_path: Path
) -> None:
    result = run_cli(["dashboard", "--actions=True"], dashboard_env, tmp_path)
    assert result.returncode == 2
    assert "--actions needs a token" in result.output
    assert "WK_DASHBOARD_TOKEN" in result.output


def test_bad_flags_say_what_to_change(dashboard_env: dict[str, str], tmp_path: Path) -> None:
    short = run_cli(["dashboard", "--actions", "--token=0x10"], dashboard_env, tmp_path)
    assert short.returncode == 2 and "4 characters long; use at least 16" in short.output
    maybe = run_cli(["dashboard", "--actions=maybe"], dashboard_env, tmp_path)
    assert maybe.returncode == 2 and "--actions must be True or False" in maybe.output
    port = run_cli(["dashboard", "--port=70000"], dashboard_env, tmp_path)
    assert port.returncode == 2 and "is not a TCP port" in port.output


def test_a_port_in_use_is_named(dashboard_env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(["dashboard", f"--port={port}"], dashboard_env, tmp_path)
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use" in result.output


def test_an_unreachable_database_is_reported_at_start(
    dashboard_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**dashboard_env, "WK_DB_PORT": str(closed_port())}
    result = run_cli(["dashboard", "--port=0"], env, tmp_path)
    assert result.returncode == 2
    assert "cannot reach the database" in result.output
    assert dashboard_env["WK_DB_PASS"] not in result.output


def _post(url: str, token: str | None) -> int:
    request = urllib.request.Request(
        url + "api/actions/cancel",
        data=json.dumps({"task_id": "no-such-task"}).encode(),
        headers={
            "Content-Type": "application/json",
            **({"X-Workcraft-Token": token} if token else {}),
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_a_terminal_gets_a_generated_token_once(
    dashboard_env: dict[str, str], tmp_path: Path
) -> None:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "workcraft", "dashboard", "--port=0", "--actions"],
        env=dashboard_env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.STDOUT,
    )
    os.close(slave)
    seen = bytearray()

    def read_some(timeout: float) -> bool:
        if not select.select([master], [], [], timeout)[0]:
            return False
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the process closed its terminal (it exited)
            return False
        seen.extend(chunk)
        return bool(chunk)

    def token_shown() -> re.Match[str] | None:
        read_some(0.1)
        assert proc.poll() is None, f"exited {proc.returncode}: {seen.decode(errors='replace')}"
        text = seen.decode(errors="replace")
        return re.search(
            r"on (http://\S+/) .*\n.*action token \(shown once, not stored\): (\S+)", text
        )

    try:
        found = wait_for(token_shown, 30, message=lambda: seen.decode(errors="replace"))
        url, token = found.group(1), found.group(2)
        assert len(token) >= 16
        assert f"{url}#token={token}" in seen.decode()
        assert _post(url, None) == 403
        assert _post(url, token) == 404  # past the token check: the task is unknown
        while read_some(0.5):  # whatever else it printed
            pass
        assert seen.decode().count(token) == 2  # the two announce lines, nothing else
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        os.close(master)
