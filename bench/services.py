"""The suite's own servers: a private MariaDB (workcraft.devdb) and a private Redis.

Both listen on loopback only, keep their data under ``.workcraft/``, and are stopped
when the suite ends, also on an error or Ctrl-C (``Services`` is a context manager,
and ``run.py`` turns SIGTERM into the same unwinding).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from bench.dbstats import Probe
from workcraft import devdb

REPO = Path(__file__).resolve().parent.parent
STATE = REPO / ".workcraft"
BENCH_DB_DIR = STATE / "bench-db"
# The original workcraft 0.5.27 checks its tables in information_schema without
# filtering by schema, so another workcraft database on the same server breaks its
# start-up check: it gets a server of its own, started the same way.
BENCH_DB05_DIR = STATE / "bench-db-05"
REDIS_DIR = STATE / "bench-redis"


@dataclass(frozen=True)
class Database:
    """How to reach one private MariaDB."""

    data_dir: Path
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str
    version: str
    pid: int = 0

    def env(self, database: str | None = None) -> dict[str, str]:
        """The ``WK_DB_*`` variables both workcraft versions read."""
        return {
            "WK_DB_HOST": self.host,
            "WK_DB_PORT": str(self.port),
            "WK_DB_USER": self.user,
            "WK_DB_PASS": self.password,
            "WK_DB_NAME": database or self.database,
            "WK_DB_USE_SSL": "",
            "WK_DB_SSL_PATH": "",
        }

    def probe(self, database: str | None = None) -> Probe:
        return Probe(self.host, self.port, self.user, self.password, database or self.database)


def start_database(data_dir: Path) -> Database:
    info = devdb.start(data_dir, timeout=120.0)
    return Database(
        data_dir=data_dir,
        host=info.host,
        port=info.port,
        user=info.user,
        password=info.password,
        database=info.database,
        version=info.server_version,
        pid=info.pid,
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Redis:
    """A redis-server child process: no persistence, loopback only, its own dir."""

    port: int
    directory: Path
    proc: subprocess.Popen[bytes] | None = None
    version: str = ""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed: `apt-get install -y redis-server` "
                "(make bench does it when run as root)"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.version = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - owned by the child
        # No RDB snapshots, no AOF: the peers get Redis at its fastest (and least durable);
        # a background save forking mid-drain would also be noise.
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited; see {self.directory / 'redis.log'}")
            with contextlib.suppress(OSError):
                if self.command("PING") == "PONG":
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING within 15 s")

    def command(self, *args: str) -> str:
        """One RESP command over a fresh socket (the bench needs only PING/FLUSHALL/
        LLEN/INFO, so no client library in the main venv)."""
        payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(payload.encode())
            data = b""
            while not data.endswith(b"\r\n") or _incomplete_bulk(data):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        text = data.decode(errors="replace")
        if text.startswith("-"):
            raise RuntimeError(f"redis error: {text.strip()}")
        if text.startswith("$"):
            return text.split("\r\n", 1)[1].rsplit("\r\n", 1)[0]
        return text[1:].strip()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def _incomplete_bulk(data: bytes) -> bool:
    if not data.startswith(b"$"):
        return False
    header, _, rest = data.partition(b"\r\n")
    size = int(header[1:])
    return size >= 0 and len(rest) < size + 2


class Services:
    """Start what the selected systems need; stop all of it on the way out."""

    def __init__(self, need_redis: bool, need_db05: bool) -> None:
        self.need_redis = need_redis
        self.need_db05 = need_db05
        self.db: Database | None = None
        self.db05: Database | None = None
        self.redis: Redis | None = None
        self._started: list[Path] = []

    def __enter__(self) -> Services:
        try:
            self.db = start_database(BENCH_DB_DIR)
            self._started.append(BENCH_DB_DIR)
            if self.need_db05:
                self.db05 = start_database(BENCH_DB05_DIR)
                self._started.append(BENCH_DB05_DIR)
            if self.need_redis:
                self.redis = Redis(port=free_port(), directory=REDIS_DIR)
                self.redis.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        # Each stop on its own: one failing must not leave the others running.
        if self.redis is not None:
            with contextlib.suppress(Exception):
                self.redis.stop()
        for data_dir in reversed(self._started):
            with contextlib.suppress(Exception):
                devdb.stop(data_dir)
        self._started.clear()
