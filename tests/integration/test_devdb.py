"""workcraft.devdb against the real server binaries installed on this machine."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pymysql
import pytest
from loguru import logger

from workcraft import devdb


def _require_server() -> None:
    # Locally a missing server is a skip; in CI it is a broken environment.
    try:
        devdb.find_server_binary()
    except devdb.DevDBError as exc:
        if os.environ.get("CI", "").strip().lower() in {"true", "1"}:
            pytest.fail(f"CI must provide a MariaDB/MySQL server: {exc}")
        pytest.skip(str(exc))


def _pid_exists(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _servers_using(data_dir: Path) -> list[int]:
    """Pids of live processes started with this --datadir (zombies have no cmdline)."""
    wanted = f"--datadir={data_dir.resolve()}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if wanted in args:
                found.append(int(entry.name))
    return found


def _tcp(info: devdb.DevDBInfo, password: str | None = None) -> pymysql.Connection:
    return pymysql.connect(
        host=info.host,
        port=info.port,
        user=info.user,
        password=info.password if password is None else password,
        database=info.database,
        autocommit=True,
        connect_timeout=5,
    )


def _scalar(conn: pymysql.Connection, sql: str) -> object:
    with conn.cursor() as cur:
        cur.execute(sql)
        row = cur.fetchone()
    assert row is not None
    return row[0]


@contextlib.contextmanager
def _squat(port: int) -> Iterator[None]:
    """Listen on ``port`` as another program would."""
    with socket.socket() as squatter:
        # The last run's connections may linger in TIME_WAIT on this port.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        yield


@pytest.fixture
def new_data_dir(tmp_path: Path) -> Iterator[Callable[[Path], Path]]:
    """Hand out data dirs and stop whatever server runs in them when the test ends."""
    _require_server()
    used: list[Path] = []

    def make(path: Path) -> Path:
        used.append(path)
        return path

    yield make
    for data_dir in used:
        devdb.stop(data_dir)
        assert devdb.status(data_dir) is None


@pytest.fixture
def data_dir(tmp_path: Path, new_data_dir: Callable[[Path], Path]) -> Path:
    # tmp_path stays far below the 107-byte socket path limit; one test checks the fallback.
    return new_data_dir(tmp_path / "db")


@pytest.fixture
def running(data_dir: Path) -> devdb.DevDBInfo:
    return devdb.start(data_dir)


def test_server_answers_over_tcp_with_its_password(running: devdb.DevDBInfo) -> None:
    assert running.host == "127.0.0.1"
    assert running.user == "root"
    assert running.database == "workcraft"
    with _tcp(running) as conn:
        assert _scalar(conn, "SELECT 1 + 1") == 2
        assert _scalar(conn, "SELECT DATABASE()") == "workcraft"
        assert _scalar(conn, "SELECT @@character_set_server") == "utf8mb4"
        assert _scalar(conn, "SELECT VERSION()") == running.server_version
        with conn.cursor() as cur:
            # No anonymous or root@<hostname> account left by mariadb-install-db.
            cur.execute("SELECT User, Host FROM mysql.user WHERE User IN ('', 'root')")
            assert sorted(cur.fetchall()) == [
                ("root", "127.0.0.1"),
                ("root", "::1"),
                ("root", "localhost"),
            ]
    with pytest.raises(pymysql.err.OperationalError) as denied:
        _tcp(running, password="wrong-password")
    assert denied.value.args[0] == 1045
    with pytest.raises(pymysql.err.OperationalError):
        _tcp(running, password="")


def test_event_scheduler_is_on(running: devdb.DevDBInfo) -> None:
    with _tcp(running) as conn:
        assert _scalar(conn, "SELECT @@event_scheduler") == "ON"


def test_start_again_returns_the_running_server(running: devdb.DevDBInfo) -> None:
    again = devdb.start(running.data_dir)
    assert again == running
    assert devdb.status(running.data_dir) == running


def test_restart_keeps_rows_password_and_port(running: devdb.DevDBInfo) -> None:
    with _tcp(running) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE kept (id INT PRIMARY KEY, note VARCHAR(20))")
        cur.executemany("INSERT INTO kept VALUES (%s, %s)", [(1, "one"), (2, "two")])

    assert devdb.stop(running.data_dir) is True
    assert devdb.status(running.data_dir) is None
    assert not _pid_exists(running.pid)

    # Two starters at once must agree on a single server (the data dir lock).
    results: list[devdb.DevDBInfo] = []
    starters = [
        threading.Thread(target=lambda: results.append(devdb.start(running.data_dir)))
        for _ in range(2)
    ]
    for thread in starters:
        thread.start()
    for thread in starters:
        thread.join()
    assert len(results) == 2
    assert results[0].pid == results[1].pid != running.pid

    restarted = results[0]
    assert restarted.password == running.password
    assert restarted.port == running.port
    with _tcp(restarted) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, note FROM kept ORDER BY id")
        assert cur.fetchall() == ((1, "one"), (2, "two"))
        assert _scalar(conn, "SELECT @@event_scheduler") == "ON"


def test_password_stays_out_of_repr_logs_and_world_readable_files(data_dir: Path) -> None:
    messages: list[str] = []
    # The package silences its own logs (logger.disable in workcraft/__init__.py).
    logger.enable("workcraft")
    sink_id = logger.add(lambda message: messages.append(str(message)), level="TRACE")
    try:
        info = devdb.start(data_dir)
        devdb.stop(data_dir)
        info = devdb.start(data_dir)
    finally:
        logger.remove(sink_id)
        logger.disable("workcraft")

    assert info.password
    assert info.password not in repr(info)
    assert info.password not in str(info)
    assert messages
    assert not [m for m in messages if info.password in m]
    assert info.password in info.url()
    assert f'WK_DB_PASS="{info.password}"' in info.env_lines().splitlines()
    assert f"WK_DB_PORT={info.port}" in info.env_lines().splitlines()

    state_file = data_dir / "workcraft-devdb.json"
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    assert info.password in state_file.read_text()
    assert not (data_dir / "workcraft-init.sql").exists()
    assert info.password not in (data_dir / "error.log").read_text()


def test_stop_leaves_no_process(running: devdb.DevDBInfo) -> None:
    assert _pid_exists(running.pid)
    assert devdb.stop(running.data_dir) is True
    assert not _pid_exists(running.pid)
    assert not (running.data_dir / "mysqld.pid").exists()
    assert devdb.status(running.data_dir) is None
    assert devdb.stop(running.data_dir) is False
    with pytest.raises(pymysql.err.OperationalError):
        _tcp(running)


def test_killed_server_restarts_with_its_committed_rows(running: devdb.DevDBInfo) -> None:
    with _tcp(running) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE survivors (id INT PRIMARY KEY)")
        cur.executemany("INSERT INTO survivors VALUES (%s)", [(1,), (2,), (3,)])
    os.kill(running.pid, signal.SIGKILL)

    restarted = devdb.start(running.data_dir)
    assert restarted.pid != running.pid
    assert not _pid_exists(running.pid)
    assert (restarted.password, restarted.port) == (running.password, running.port)
    with _tcp(restarted) as conn:
        assert _scalar(conn, "SELECT COUNT(*) FROM survivors") == 3


def test_server_without_pid_file_is_still_found_and_stopped(running: devdb.DevDBInfo) -> None:
    (running.data_dir / "mysqld.pid").unlink()
    found = devdb.status(running.data_dir)
    assert found is not None
    assert found.pid == running.pid
    assert devdb.start(running.data_dir).pid == running.pid
    assert devdb.stop(running.data_dir) is True
    assert _servers_using(running.data_dir) == []


def test_start_timeout_leaves_no_server_behind(running: devdb.DevDBInfo) -> None:
    devdb.stop(running.data_dir)
    with pytest.raises(devdb.DevDBError, match="in time"):
        devdb.start(running.data_dir, timeout=0.05)
    assert _servers_using(running.data_dir) == []
    assert devdb.status(running.data_dir) is None
    assert devdb.start(running.data_dir).port == running.port


def test_stale_pid_file_never_kills_a_stranger(running: devdb.DevDBInfo) -> None:
    devdb.stop(running.data_dir)
    pid_file = running.data_dir / "mysqld.pid"
    # Our own pid: alive, but not a server for this data dir.
    pid_file.write_text(f"{os.getpid()}\n")

    assert devdb.status(running.data_dir) is None
    assert devdb.stop(running.data_dir) is False
    assert not pid_file.exists()

    pid_file.write_text("999999999\n")
    info = devdb.start(running.data_dir)
    assert info.pid != os.getpid()
    assert pid_file.read_text().strip() == str(info.pid)


def test_taken_port_moves_the_server_keeping_the_password(running: devdb.DevDBInfo) -> None:
    devdb.stop(running.data_dir)
    with _squat(running.port):
        moved = devdb.start(running.data_dir)
        assert moved.port != running.port
        assert moved.password == running.password
        with _tcp(moved) as conn:
            assert _scalar(conn, "SELECT 1") == 1


def test_port_grabbed_between_probe_and_bind_is_retried(
    running: devdb.DevDBInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    devdb.stop(running.data_dir)
    # Make the probe lie, as it would if another program bound the port right after it.
    monkeypatch.setattr(devdb, "_port_is_free", lambda port: True)
    with _squat(running.port):
        moved = devdb.start(running.data_dir)
    assert moved.port != running.port
    with _tcp(moved) as conn:
        assert _scalar(conn, "SELECT 1") == 1


def test_explicit_busy_port_is_refused(data_dir: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        with pytest.raises(devdb.DevDBError, match=f"Port {busy}"):
            devdb.start(data_dir, port=busy)


def test_long_data_dir_gets_a_short_socket(
    tmp_path: Path, new_data_dir: Callable[[Path], Path]
) -> None:
    deep = new_data_dir(tmp_path / ("x" * 60) / ("y" * 60) / "db")
    assert len(str(deep / "mysqld.sock")) > 107
    info = devdb.start(deep)
    assert len(str(info.socket)) <= 107
    assert str(info.socket).startswith("/tmp/workcraft-devdb-")
    assert stat.S_IMODE(info.socket.parent.stat().st_mode) == 0o700
    with _tcp(info) as conn:
        assert _scalar(conn, "SELECT 1") == 1
    assert devdb.stop(deep) is True
    assert not info.socket.parent.exists()
    assert devdb.start(deep).socket == info.socket


def test_foreign_data_dir_is_refused(data_dir: Path) -> None:
    (data_dir / "mysql").mkdir(parents=True)
    with pytest.raises(devdb.DevDBError, match="did not create"):
        devdb.start(data_dir)


def test_find_server_binary_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "")
    # An empty PATH entry means the current directory to shutil.which.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(devdb, "_STANDARD_DIRS", (tmp_path / "nothing-here",))
    with pytest.raises(devdb.DevDBError, match="apt-get install -y mariadb-server"):
        devdb.find_server_binary()


def test_find_server_binary_prefers_mariadbd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_path = tmp_path / "bin"
    standard = tmp_path / "sbin"
    for directory, name in ((on_path, "mysqld"), (standard, "mariadbd")):
        directory.mkdir(exist_ok=True)
        binary = directory / name
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o755)
    monkeypatch.setenv("PATH", str(on_path))
    monkeypatch.setattr(devdb, "_STANDARD_DIRS", (standard,))
    assert devdb.find_server_binary() == standard / "mariadbd"
    (standard / "mariadbd").unlink()
    assert devdb.find_server_binary() == on_path / "mysqld"
