"""A private MariaDB/MySQL server run from the binaries installed on this machine.

Meant for newcomers, the demo and the test-suite: ``start()`` gives a ready database in a
few seconds without Docker and without touching the system's own database service;
``stop()`` ends it by PID. Everything lives in one data dir (``.workcraft/db`` by default),
so deleting that dir resets it all. POSIX only (detached sessions, ``flock``).

``start(..., tls=TLSFiles(ca, cert, key))`` serves TLS with a certificate of your own
(``--ssl-ca/--ssl-cert/--ssl-key``), for trying and testing ``WK_DB_USE_SSL``.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pymysql
from loguru import logger

from workcraft.config import DEV_DB_DIR
from workcraft.errors import DevDBError

DEFAULT_DATA_DIR = Path(DEV_DB_DIR)

_SERVER_NAMES = ("mariadbd", "mysqld")
_STANDARD_DIRS: tuple[Path, ...] = (
    Path("/usr/sbin"),
    Path("/usr/libexec"),
    Path("/usr/local/mysql/bin"),
)
_INSTALL_DB_NAMES = ("mariadb-install-db", "mysql_install_db")
_INSTALL_HINT = (
    "install a server first: `apt-get install -y mariadb-server` on Debian/Ubuntu "
    "(`dnf install -y mariadb-server` on Fedora, `brew install mariadb` on macOS)"
)

_HOST = "127.0.0.1"
_USER = "root"
_DATABASE = "workcraft"
# skip-name-resolve makes TCP clients match IP hosts only, so each loopback form needs an
# account of its own; 'localhost' is what unix-socket clients match.
_ROOT_HOSTS = ("localhost", "127.0.0.1", "::1")

_STATE_FILE = "workcraft-devdb.json"
_STATE_FORMAT = 1
_PID_FILE = "mysqld.pid"
_SOCKET_NAME = "mysqld.sock"
_ERROR_LOG = "error.log"
_INIT_FILE = "workcraft-init.sql"

# sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 107
_LOG_TAIL_LINES = 20
_PORT_ATTEMPTS = 3
_KILL_GRACE = 10.0
_DISCARD_GRACE = 2.0
_STATUS_PROBE = 2.0
_MIN_MARIADB = (10, 6)
_MIN_MYSQL = (8, 0)

_IDENT_RE = re.compile(r"[A-Za-z0-9_]{1,64}")
# token_urlsafe's alphabet; checked before the password is written into SQL text.
_PASSWORD_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")
_BIND_FAILURE_MARKERS = ("Address already in use", "Bind on TCP/IP port", "bind(): Errno 98")
# OpenSSL's verify codes for a certificate that does not name the host connected to.
_NAME_MISMATCH_CODES = frozenset({62, 64})

# Servers launched by this process: kept so they can be reaped when they exit, or their
# zombies would look alive to kill(pid, 0) until this process ends.
_children: dict[int, subprocess.Popen[bytes]] = {}


@atexit.register
def _forget_children() -> None:
    # The servers outlive this process by design; dropping their Popen objects here keeps
    # subprocess from warning at exit that they are "still running". Ones already stopped
    # are reaped first, so they do not linger as zombies of whatever adopts them.
    _reap_all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        _children.clear()


@dataclass(frozen=True)
class TLSFiles:
    """PEM files for a server that speaks TLS.

    ``ca`` is the CA certificate clients trust (what ``WK_DB_SSL_PATH`` names), ``cert``
    and ``key`` the server's certificate (signed by ``ca``) and its unencrypted key.
    Clients connect to 127.0.0.1, so the certificate should name it (an IP SAN).
    """

    ca: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class DevDBInfo:
    """How to reach a running development database."""

    data_dir: Path
    host: str
    port: int
    socket: Path
    pid: int
    user: str
    password: str = field(repr=False)
    database: str
    server_version: str
    # The files the server serves TLS with; None when it speaks plain TCP only.
    tls: TLSFiles | None = None

    def url(self) -> str:
        """SQLAlchemy URL for the workcraft database (contains the password)."""
        user = quote(self.user, safe="")
        password = quote(self.password, safe="")
        url = f"mysql+pymysql://{user}:{password}@{self.host}:{self.port}/{self.database}"
        if self.tls is not None:
            url += f"?ssl_ca={quote(str(self.tls.ca), safe='')}"
        return url

    def env_lines(self) -> str:
        """The ``.env`` lines workcraft reads, one per line (contains the password)."""
        lines = [
            f'WK_DB_HOST="{self.host}"',
            f"WK_DB_PORT={self.port}",
            f'WK_DB_USER="{self.user}"',
            f'WK_DB_PASS="{self.password}"',
            f'WK_DB_NAME="{self.database}"',
            "WK_DB_USE_SSL=true" if self.tls else "WK_DB_USE_SSL=",
            f'WK_DB_SSL_PATH="{self.tls.ca}"' if self.tls else "WK_DB_SSL_PATH=",
        ]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class _State:
    """What must survive restarts of one data dir; stored as JSON with mode 0600."""

    user: str
    password: str = field(repr=False)
    database: str
    port: int | None
    users_ready: bool


class _ServerExited(Exception):
    pass


# --------------------------------------------------------------------------- public API


def find_server_binary() -> Path:
    """Return the first ``mariadbd``, else ``mysqld``, on PATH or in the usual sbin dirs."""
    for name in _SERVER_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
        for directory in _STANDARD_DIRS:
            candidate = directory / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
    searched = ", ".join(str(d) for d in _STANDARD_DIRS)
    raise DevDBError(
        f"No MariaDB or MySQL server binary (mariadbd or mysqld) on PATH or in {searched}; "
        f"{_INSTALL_HINT}."
    )


def start(
    data_dir: Path = DEFAULT_DATA_DIR,
    port: int | None = None,
    timeout: float = 60.0,
    tls: TLSFiles | None = None,
) -> DevDBInfo:
    """Start (or find already running) the private server for ``data_dir``.

    A new data dir is initialised and gets a generated root password and a ``workcraft``
    database. Restarts reuse the data, the password and, when it is free, the port.
    With ``tls`` the server also offers TLS with those files (checked before it starts,
    and over a real TLS connection once it runs); ``DevDBInfo.tls`` says which files a
    server uses. TLS is chosen at each start: it is not remembered in the data dir.
    """
    began = time.monotonic()
    deadline = began + timeout
    data_dir = _resolve(data_dir)
    if tls is not None:
        tls = _checked_tls(tls)
    _reap_all()
    with _locked(data_dir, deadline):
        info = _running_info(data_dir, deadline)
        if info is not None:
            if port is not None and port != info.port:
                raise DevDBError(
                    f"The server for {data_dir} already runs on port {info.port}, not {port}; "
                    "stop() it first to change its port."
                )
            if tls is not None and tls != info.tls:
                now = "without TLS" if info.tls is None else f"with TLS from {info.tls.cert}"
                raise DevDBError(
                    f"The server for {data_dir} already runs {now}; stop() it first to "
                    f"start it with {tls.cert}."
                )
            logger.info(
                "Dev database already running: pid {} on {}:{} (data dir {})",
                info.pid,
                info.host,
                info.port,
                data_dir,
            )
            return info
        server = find_server_binary()
        state = _prepare_data_dir(data_dir, server, deadline)
        info = _launch(data_dir, server, state, port, tls, deadline)
    logger.info(
        "Dev database {} started in {:.1f}s: pid {} on {}:{}{} (data dir {})",
        info.server_version,
        time.monotonic() - began,
        info.pid,
        info.host,
        info.port,
        " with TLS" if info.tls else "",
        data_dir,
    )
    return info


def stop(data_dir: Path = DEFAULT_DATA_DIR, timeout: float = 30.0) -> bool:
    """Stop the server for ``data_dir`` by PID; return True if one was running."""
    data_dir = _resolve(data_dir)
    _reap_all()
    if not data_dir.is_dir():
        return False
    with _locked(data_dir, time.monotonic() + timeout):
        pid = _running_pid(data_dir, clean=True)
        if pid is None:
            logger.info("No dev database running for {}", data_dir)
            return False
        _terminate(pid, timeout)
        _remove_leftovers(data_dir, pid)
    logger.info("Dev database pid {} stopped (data dir {})", pid, data_dir)
    return True


def status(data_dir: Path = DEFAULT_DATA_DIR) -> DevDBInfo | None:
    """Describe the running server for ``data_dir``, or None when none answers."""
    data_dir = _resolve(data_dir)
    _reap_all()
    if not data_dir.is_dir():
        return None
    pid = _running_pid(data_dir, clean=False)
    if pid is None:
        return None
    state = _read_state(data_dir)
    if state is None:
        logger.warning("Server pid {} runs on {} but its state file is missing", pid, data_dir)
        return None
    try:
        return _attach(data_dir, pid, state, time.monotonic() + _STATUS_PROBE)
    except _ServerExited:
        return None
    except DevDBError as exc:
        logger.warning("Server pid {} for {} does not answer: {}", pid, data_dir, exc)
        return None


# ------------------------------------------------------------------- data dir and state


def _resolve(data_dir: Path) -> Path:
    # The absolute path is what identifies our server in /proc/<pid>/cmdline.
    return Path(data_dir).expanduser().resolve()


@contextlib.contextmanager
def _locked(data_dir: Path, deadline: float) -> Iterator[None]:
    """Serialise start/stop of one data dir across threads and processes."""
    # Beside the data dir, not in it: MySQL's --initialize wants an empty directory.
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = data_dir.parent / f".{data_dir.name}.devdb.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        delay = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise DevDBError(
                        f"Another process is starting or stopping the server for {data_dir} "
                        f"(it holds {lock_path}); wait for it or raise the timeout."
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        yield
    finally:
        os.close(fd)


def _prepare_data_dir(data_dir: Path, server: Path, deadline: float) -> _State:
    if data_dir.exists() and not data_dir.is_dir():
        raise DevDBError(f"{data_dir} exists and is not a directory; pass another data_dir.")
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    state = _read_state(data_dir)
    initialised = (data_dir / "mysql").is_dir()
    if state is not None and not initialised:
        raise DevDBError(
            f"{data_dir} has a devdb state file but no system tables; delete {data_dir} "
            "to start afresh."
        )
    if state is not None:
        return state
    if initialised:
        raise DevDBError(
            f"{data_dir} holds a database that devdb did not create (no {_STATE_FILE}), so "
            "its root password is unknown; pass another data_dir or delete this one."
        )
    # The directory will hold every row and the password file: ours alone.
    data_dir.chmod(0o700)
    _initialise(data_dir, server, deadline)
    # Keeps the password file out of commits when the data dir sits inside a project.
    (data_dir / ".gitignore").write_text("*\n")
    state = _State(
        user=_USER,
        password=secrets.token_urlsafe(24),
        database=_DATABASE,
        port=None,
        users_ready=False,
    )
    _write_state(data_dir, state)
    return state


def _read_state(data_dir: Path) -> _State | None:
    path = data_dir / _STATE_FILE
    try:
        raw: Any = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DevDBError(
            f"Cannot read {path} ({type(exc).__name__}); delete {data_dir} to start afresh."
        ) from None
    try:
        state = _State(
            user=str(raw["user"]),
            password=str(raw["password"]),
            database=str(raw["database"]),
            port=None if raw.get("port") is None else int(raw["port"]),
            users_ready=bool(raw.get("users_ready", False)),
        )
    except (KeyError, TypeError, ValueError):
        raise DevDBError(f"{path} is malformed; delete {data_dir} to start afresh.") from None
    if not (_IDENT_RE.fullmatch(state.user) and _IDENT_RE.fullmatch(state.database)):
        raise DevDBError(f"{path} names an invalid user or database; fix or delete it.")
    if not _PASSWORD_RE.fullmatch(state.password):
        raise DevDBError(f"{path} holds a password devdb did not generate; fix or delete it.")
    return state


def _write_state(data_dir: Path, state: _State) -> None:
    path = data_dir / _STATE_FILE
    payload = {
        "format": _STATE_FORMAT,
        "user": state.user,
        "password": state.password,
        "database": state.database,
        "port": state.port,
        "users_ready": state.users_ready,
    }
    _write_private(path, json.dumps(payload, indent=2) + "\n")


def _require_state(data_dir: Path) -> _State:
    state = _read_state(data_dir)
    if state is None:
        raise DevDBError(
            f"A server runs on {data_dir} but {_STATE_FILE} is missing, so its password is "
            f"unknown; stop it (workcraft.devdb.stop) and delete {data_dir} to start afresh."
        )
    return state


def _write_private(path: Path, text: str) -> None:
    """Write atomically a file only our user can read (it holds the password)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        # The file may predate us with looser permissions; O_CREAT's mode would not apply.
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


# ------------------------------------------------------------------ binary and initdb


@functools.lru_cache(maxsize=8)
def _version_banner(server: Path) -> str:
    try:
        done = subprocess.run(
            [str(server), "--no-defaults", "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DevDBError(f"Cannot run {server} --version: {exc}; {_INSTALL_HINT}.") from None
    return (done.stdout or done.stderr).strip()


def _is_mariadb(server: Path) -> bool:
    return "mariadb" in _version_banner(server).lower()


def _find_install_db(server: Path) -> tuple[Path, list[str]]:
    """Locate mariadb-install-db and any extra option it needs for this layout."""
    base = server.parent.parent
    for name in _INSTALL_DB_NAMES:
        for directory in (server.parent, base / "bin"):
            if (directory / name).is_file():
                return directory / name, []
        # Unpacked release tarballs keep the script in scripts/ and need to be told home.
        if (base / "scripts" / name).is_file():
            return base / "scripts" / name, [f"--basedir={base}"]
        found = shutil.which(name)
        if found:
            return Path(found), []
    raise DevDBError(
        f"Found {server} but not mariadb-install-db beside it or on PATH; "
        "reinstall the server package (`apt-get install -y mariadb-server`)."
    )


def _tmp_dir(data_dir: Path) -> Path:
    """The server's own temp dir, beside the data dir (a folder inside it would show
    up as a database).

    Every MariaDB server deletes the ``#sql*`` files in its tmpdir when it starts: with
    /tmp shared, starting a second dev server deletes the first one's in-use temporary
    tables (error 6, and now and then a crash in the temporary-table cleanup).
    """
    path = data_dir.parent / f".{data_dir.name}.tmp"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _initialise(data_dir: Path, server: Path, deadline: float) -> None:
    user_opt = ["--user=root"] if os.geteuid() == 0 else []
    if _is_mariadb(server):
        install_db, extra = _find_install_db(server)
        cmd = [
            str(install_db),
            "--no-defaults",
            f"--datadir={data_dir}",
            f"--tmpdir={_tmp_dir(data_dir)}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            *user_opt,
            *extra,
        ]
    else:
        if any(data_dir.iterdir()):
            raise DevDBError(
                f"MySQL initialises only an empty directory and {data_dir} is not empty; "
                "pass another data_dir or empty this one."
            )
        cmd = [
            str(server),
            "--no-defaults",
            "--initialize-insecure",
            f"--datadir={data_dir}",
            f"--tmpdir={_tmp_dir(data_dir)}",
        ]
        cmd += user_opt
    logger.info("Initialising a new dev database in {}", data_dir)
    try:
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=max(1.0, deadline - time.monotonic()),
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise DevDBError(
            f"Initialising {data_dir} did not finish in time; raise the timeout, delete "
            f"{data_dir} and retry."
        ) from None
    if done.returncode != 0:
        output = "\n".join((done.stdout + done.stderr).splitlines()[-_LOG_TAIL_LINES:])
        raise DevDBError(
            f"Initialising {data_dir} failed (exit {done.returncode}):\n{output}\n"
            f"Fix the cause above, delete {data_dir} and retry."
        )


# ----------------------------------------------------------------------------- launch


def _checked_tls(tls: TLSFiles) -> TLSFiles:
    """Absolute paths (the server runs in the data dir) to files that load as PEM and
    fit together: MariaDB would otherwise start anyway, with TLS quietly off."""
    files = TLSFiles(
        ca=Path(tls.ca).expanduser().resolve(),
        cert=Path(tls.cert).expanduser().resolve(),
        key=Path(tls.key).expanduser().resolve(),
    )
    for name, path in (("ca", files.ca), ("cert", files.cert), ("key", files.key)):
        if not path.is_file():
            raise DevDBError(f"TLSFiles.{name}: {path} is not a file; pass a PEM file.")

    def no_passphrase() -> bytes:
        raise DevDBError(
            f"TLSFiles.key: {files.key} is encrypted; the server needs an unencrypted key."
        )

    try:
        ssl.create_default_context(cafile=str(files.ca))
    except (OSError, ssl.SSLError) as exc:
        raise DevDBError(f"TLSFiles.ca: {files.ca} is not a PEM CA certificate ({exc}).") from None
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(
            str(files.cert), str(files.key), password=no_passphrase
        )
    except (OSError, ssl.SSLError) as exc:
        raise DevDBError(
            f"TLSFiles.cert/key: {files.cert} and {files.key} are not a PEM certificate and "
            f"its private key ({exc})."
        ) from None
    return files


def _socket_path(data_dir: Path) -> Path:
    candidate = data_dir / _SOCKET_NAME
    if len(os.fsencode(candidate)) <= _MAX_SOCKET_PATH:
        return candidate
    digest = hashlib.sha256(os.fsencode(data_dir)).hexdigest()[:16]
    return Path("/tmp") / f"workcraft-devdb-{digest}" / _SOCKET_NAME


def _prepare_socket_dir(sock: Path, data_dir: Path) -> None:
    directory = sock.parent
    if directory == data_dir:
        return
    with contextlib.suppress(FileExistsError):
        directory.mkdir(mode=0o700)
    # /tmp is shared: refuse a directory someone else planted to catch our socket.
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise DevDBError(
            f"{directory} (for the server socket) is not a private directory of ours; "
            "remove it and retry."
        )


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # The server binds with SO_REUSEADDR, so connections of its previous run lingering
        # in TIME_WAIT do not make the port busy for it; the probe must agree.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((_HOST, port))
        except OSError:
            return False
    return True


def _pick_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_HOST, 0))
        port: int = probe.getsockname()[1]
    return port


def _choose_port(remembered: int | None, requested: int | None) -> int:
    if requested is not None:
        if not _port_is_free(requested):
            raise DevDBError(
                f"Port {requested} on {_HOST} is in use; pass another port, or port=None to "
                "pick a free one."
            )
        return requested
    if remembered is not None:
        if _port_is_free(remembered):
            return remembered
        logger.warning("Port {} is taken now; the dev database moves to a new port", remembered)
    return _pick_free_port()


def _server_command(
    server: Path,
    data_dir: Path,
    sock: Path,
    port: int,
    init_file: Path | None,
    tls: TLSFiles | None = None,
) -> list[str]:
    cmd = [
        str(server),
        "--no-defaults",
        f"--datadir={data_dir}",
        f"--tmpdir={_tmp_dir(data_dir)}",
        f"--socket={sock}",
        f"--pid-file={data_dir / _PID_FILE}",
        f"--port={port}",
        f"--bind-address={_HOST}",
        "--event-scheduler=ON",
        "--skip-name-resolve",
        f"--log-error={data_dir / _ERROR_LOG}",
        "--innodb-buffer-pool-size=256M",
        "--max-connections=500",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
    ]
    if os.geteuid() == 0:
        cmd.append("--user=root")
    if not _is_mariadb(server):
        # MySQL defaults: X Protocol on fixed port 33060 (clashes between two dev servers),
        # binary logs that grow forever, and a performance schema of a few hundred MB.
        cmd += ["--mysqlx=OFF", "--skip-log-bin", "--performance-schema=OFF"]
    if init_file is not None:
        cmd.append(f"--init-file={init_file}")
    if tls is not None:
        cmd += [f"--ssl-ca={tls.ca}", f"--ssl-cert={tls.cert}", f"--ssl-key={tls.key}"]
    return cmd


def _init_sql(state: _State) -> str:
    """SQL that gives root its password before the server accepts any connection.

    Fresh data dirs have passwordless root accounts, including root@127.0.0.1; running
    this as --init-file leaves no moment in which anyone could log in without it.
    Idempotent, so an interrupted first start can simply run it again.
    """
    lines = []
    for host in _ROOT_HOSTS:
        account = f"'{state.user}'@'{host}'"
        lines += [
            f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY '{state.password}';",
            f"ALTER USER {account} IDENTIFIED BY '{state.password}';",
            f"GRANT ALL PRIVILEGES ON *.* TO {account} WITH GRANT OPTION;",
        ]
    lines.append("FLUSH PRIVILEGES;")
    return "\n".join(lines) + "\n"


def _spawn(cmd: list[str], data_dir: Path) -> subprocess.Popen[bytes]:
    # Output before --log-error takes effect (bad options, early aborts) lands in the same
    # log, so the error message can show it.
    with open(data_dir / _ERROR_LOG, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=data_dir,
            # Own session: Ctrl-C in the terminal or test runner must not reach the server.
            start_new_session=True,
        )
    _children[proc.pid] = proc
    return proc


def _launch(
    data_dir: Path,
    server: Path,
    state: _State,
    port: int | None,
    tls: TLSFiles | None,
    deadline: float,
) -> DevDBInfo:
    sock = _socket_path(data_dir)
    _prepare_socket_dir(sock, data_dir)
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        chosen = _choose_port(state.port, port)
        try:
            return _launch_once(data_dir, server, state, chosen, sock, tls, deadline)
        except _ServerExited:
            # Another program can grab a free port between our probe and the server's bind.
            if port is not None or attempt == _PORT_ATTEMPTS:
                raise DevDBError(
                    f"The server could not bind port {chosen} on {_HOST}; pass another port."
                    f"\n{_log_tail(data_dir)}"
                ) from None
            logger.warning("Port {} was taken before the server bound it; retrying", chosen)
            state = replace(state, port=None)
    raise AssertionError("unreachable")


def _launch_once(
    data_dir: Path,
    server: Path,
    state: _State,
    port: int,
    sock: Path,
    tls: TLSFiles | None,
    deadline: float,
) -> DevDBInfo:
    init_file = None
    if not state.users_ready:
        init_file = data_dir / _INIT_FILE
        _write_private(init_file, _init_sql(state))
    log_path = data_dir / _ERROR_LOG
    log_offset = log_path.stat().st_size if log_path.exists() else 0
    cmd = _server_command(server, data_dir, sock, port, init_file, tls)
    logger.debug("Launching {}", " ".join(cmd))
    proc = _spawn(cmd, data_dir)
    try:
        try:
            conn = _wait_until_answering(
                lambda: proc.poll() is None, data_dir, sock, state, deadline, f"pid {proc.pid}"
            )
        except _ServerExited:
            if _log_mentions_bind_failure(log_path, log_offset):
                raise
            raise DevDBError(
                f"The server exited during startup (exit {proc.returncode}). "
                f"Last lines of {log_path}:\n{_log_tail(data_dir)}"
            ) from None
        with conn:
            if not state.users_ready:
                _finish_first_start(conn, state)
            _ensure_event_scheduler(conn)
            version = _query_version(conn)
        _check_tcp(port, state, deadline)
        if tls is not None:
            _check_tls(data_dir, port, state, tls, deadline)
    except BaseException:
        _discard(proc)
        raise
    finally:
        if init_file is not None:
            init_file.unlink(missing_ok=True)
    new_state = replace(state, port=port, users_ready=True)
    if new_state != state:
        _write_state(data_dir, new_state)
    _warn_if_old(version)
    return DevDBInfo(
        data_dir=data_dir,
        host=_HOST,
        port=port,
        socket=sock,
        pid=proc.pid,
        user=state.user,
        password=state.password,
        database=state.database,
        server_version=version,
        tls=tls,
    )


def _discard(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server we launched whose startup failed, so nothing is left behind."""
    if proc.poll() is None:
        try:
            # MariaDB 10.11 can ignore a SIGTERM that lands early in its startup and then
            # hang for good, so a server that never served anyone gets little grace.
            _terminate(proc.pid, _DISCARD_GRACE)
        except DevDBError as exc:
            logger.error("Could not stop the failed server: {}", exc)
    _is_alive(proc.pid)


# -------------------------------------------------------------------- talking to it


def _connect_socket(sock: Path, state: _State, timeout: float) -> pymysql.Connection:
    return pymysql.connect(
        unix_socket=str(sock),
        user=state.user,
        password=state.password,
        connect_timeout=max(0.5, timeout),
        # A connection made while the server is still starting waits for its greeting;
        # without a read timeout that wait would ignore our deadline.
        read_timeout=max(1.0, timeout),
        write_timeout=max(1.0, timeout),
        autocommit=True,
        charset="utf8mb4",
    )


def _wait_until_answering(
    alive: Callable[[], bool], data_dir: Path, sock: Path, state: _State, deadline: float, what: str
) -> pymysql.Connection:
    """Poll the unix socket until the server accepts us, it dies, or the deadline passes."""
    delay = 0.02
    last_error: Exception | None = None
    while True:
        if not alive():
            raise _ServerExited(what)
        remaining = deadline - time.monotonic()
        # PyMySQL leaks its socket object when a unix-socket connect fails, so wait for the
        # file first; once it exists, connects queue until the server is ready.
        if sock.exists():
            try:
                return _connect_socket(sock, state, min(remaining, 30.0))
            except pymysql.err.OperationalError as exc:
                code = exc.args[0] if exc.args else None
                if code == 1045:
                    raise DevDBError(
                        f"The server ({what}) rejects the password stored in {_STATE_FILE}; "
                        "if it was changed by hand, restore it there or delete the data dir."
                    ) from None
                last_error = exc
        else:
            last_error = ConnectionRefusedError(f"nothing listens on {sock} yet")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DevDBError(
                f"The server ({what}) did not accept connections on {sock} in time "
                f"({last_error}); raise the timeout, or look at its log:\n{_log_tail(data_dir)}"
            )
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.2)


def _finish_first_start(conn: pymysql.Connection, state: _State) -> None:
    with conn.cursor() as cur:
        # mariadb-install-db adds a passwordless root@<hostname> (even with its own
        # --skip-name-resolve). Our server ignores hostname accounts, but the data dir
        # should not carry open doors for whoever reuses it with other options.
        cur.execute(
            "SELECT User, Host FROM mysql.user WHERE User = '' OR (User = %s AND Host NOT IN "
            "(%s, %s, %s))",
            (state.user, *_ROOT_HOSTS),
        )
        for user, host in cur.fetchall():
            logger.debug("Dropping account {}@{}", user, host)
            cur.execute("DROP USER %s@%s", (user, host))
        cur.execute(
            f"CREATE DATABASE IF NOT EXISTS `{state.database}` "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )


def _ensure_event_scheduler(conn: pymysql.Connection) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT @@event_scheduler")
        row = cur.fetchone()
        if row and str(row[0]).upper() == "ON":
            return
        logger.warning("Event scheduler is {}; switching it on", row[0] if row else None)
        cur.execute("SET GLOBAL event_scheduler = ON")
        cur.execute("SELECT @@event_scheduler")
        row = cur.fetchone()
    if not row or str(row[0]).upper() != "ON":
        raise DevDBError(
            "The server's event scheduler cannot be switched on; workcraft needs it. "
            "Check the server log."
        )


def _query_version(conn: pymysql.Connection) -> str:
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        row = cur.fetchone()
    return str(row[0]) if row else "unknown"


def _check_tcp(port: int, state: _State, deadline: float) -> None:
    """Log in the way applications will, so a broken account shows up now, not later."""
    try:
        conn = pymysql.connect(
            host=_HOST,
            port=port,
            user=state.user,
            password=state.password,
            database=state.database,
            connect_timeout=max(1.0, min(deadline - time.monotonic(), 10.0)),
        )
    except pymysql.err.MySQLError as exc:
        raise DevDBError(
            f"The server answers on its socket but refuses {state.user} over TCP at "
            f"{_HOST}:{port} ({exc}); delete the data dir to recreate its accounts."
        ) from None
    conn.close()


def _tls_connect(port: int, state: _State, context: ssl.SSLContext, timeout: float) -> str:
    """Log in over TLS; return the session's cipher."""
    conn = pymysql.connect(
        host=_HOST,
        port=port,
        user=state.user,
        password=state.password,
        database=state.database,
        ssl=context,
        connect_timeout=timeout,
    )
    with conn, conn.cursor() as cur:
        cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        row = cur.fetchone()
    return str(row[1]) if row and row[1] else ""


def _check_tls(data_dir: Path, port: int, state: _State, tls: TLSFiles, deadline: float) -> None:
    """Connect as a workcraft client with ``WK_DB_SSL_PATH=tls.ca`` would, so that a server
    that quietly started without TLS (MariaDB only logs a bad certificate) fails now."""
    context = ssl.create_default_context(cafile=str(tls.ca))
    timeout = max(1.0, min(deadline - time.monotonic(), 10.0))
    try:
        try:
            cipher = _tls_connect(port, state, context, timeout)
        except pymysql.err.OperationalError as exc:
            cause = getattr(exc, "original_exception", None)
            if not (
                isinstance(cause, ssl.SSLCertVerificationError)
                and cause.verify_code in _NAME_MISMATCH_CODES
            ):
                raise
            logger.warning(
                "{} does not name {}, so clients that check host names (workcraft does) "
                "will refuse this server: add {} to the certificate's subjectAltName",
                tls.cert,
                _HOST,
                _HOST,
            )
            context.check_hostname = False
            cipher = _tls_connect(port, state, context, timeout)
    except pymysql.err.MySQLError as exc:
        raise DevDBError(
            f"The server was started with --ssl-cert={tls.cert} but a TLS connection that "
            f"trusts {tls.ca} fails ({exc}); check that the CA signed the certificate. "
            f"Last lines of its log:\n{_log_tail(data_dir)}"
        ) from None
    if not cipher:
        raise DevDBError(
            f"The server was started with --ssl-cert={tls.cert} but its sessions are not "
            f"encrypted. Last lines of its log:\n{_log_tail(data_dir)}"
        )
    logger.debug("TLS check passed ({})", cipher)


def _warn_if_old(version: str) -> None:
    match = re.match(r"(\d+)\.(\d+)", version)
    if not match:
        return
    found = (int(match[1]), int(match[2]))
    minimum = _MIN_MARIADB if "mariadb" in version.lower() else _MIN_MYSQL
    if found < minimum:
        logger.warning(
            "Server {} is older than workcraft supports (MariaDB 10.6+ / MySQL 8.0+)", version
        )


def _running_info(data_dir: Path, deadline: float) -> DevDBInfo | None:
    """Describe the server already running for ``data_dir``, if one is (and stays) up."""
    pid = _running_pid(data_dir, clean=True)
    if pid is None:
        return None
    try:
        return _attach(data_dir, pid, _require_state(data_dir), deadline)
    except _ServerExited:
        # It was on its way down (stopped or killed by someone else): start afresh.
        logger.info("Server pid {} for {} exited while we waited for it", pid, data_dir)
        _wait_for_exit(pid, _KILL_GRACE)
        _running_pid(data_dir, clean=True)
        return None


def _attach(data_dir: Path, pid: int, state: _State, deadline: float) -> DevDBInfo:
    """Describe a server that already runs, reading its socket and port from its argv."""
    args = _cmdline(pid) or []
    sock = Path(_option(args, "--socket") or _socket_path(data_dir))
    port_text = _option(args, "--port")
    port = int(port_text) if port_text else state.port
    tls_paths = [_option(args, f"--ssl-{name}") for name in ("ca", "cert", "key")]
    ca, cert, key = tls_paths
    tls = TLSFiles(Path(ca), Path(cert), Path(key)) if ca and cert and key else None
    if port is None:
        raise DevDBError(f"Cannot tell which port server pid {pid} listens on; stop() it.")
    conn = _wait_until_answering(
        lambda: _is_alive(pid), data_dir, sock, state, deadline, f"pid {pid}"
    )
    with conn:
        _ensure_event_scheduler(conn)
        version = _query_version(conn)
    return DevDBInfo(
        data_dir=data_dir,
        host=_HOST,
        port=port,
        socket=sock,
        pid=pid,
        user=state.user,
        password=state.password,
        database=state.database,
        server_version=version,
        tls=tls,
    )


# -------------------------------------------------------------------- processes


def _cmdline(pid: int) -> list[str] | None:
    proc_file = Path(f"/proc/{pid}/cmdline")
    if Path("/proc/self").exists():
        try:
            raw = proc_file.read_bytes()
        except OSError:
            return None
        return [os.fsdecode(part) for part in raw.split(b"\0") if part]
    # Without /proc (macOS) ps is the portable way; paths with spaces will not match.
    try:
        done = subprocess.run(
            ["ps", "-ww", "-o", "command=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.split() or None


def _option(args: list[str], name: str) -> str | None:
    prefix = name + "="
    for arg in args:
        if arg.startswith(prefix):
            return arg[len(prefix) :]
    return None


def _is_our_server(pid: int, data_dir: Path) -> bool:
    args = _cmdline(pid)
    if not args:
        return False
    return Path(args[0]).name in _SERVER_NAMES and f"--datadir={data_dir}" in args


def _reap_all() -> None:
    # Servers we launched and someone else stopped stay zombies until we wait for them.
    for pid in list(_children):
        _is_alive(pid)


def _is_alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        # For our own children waitpid is the truth, and it reaps them in passing.
        if child.poll() is None:
            return True
        del _children[pid]
        return False
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except FileNotFoundError:
        return False
    except OSError:
        fields = []
    if fields:
        if fields[0] in ("Z", "X"):
            # A killed server's main thread shows Z while its other threads still exit
            # (and still hold the port and the data files).
            return _thread_count(pid) > 1
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _thread_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def _read_pid(pid_file: Path) -> int | None:
    try:
        text = pid_file.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def _scan_for_server(data_dir: Path) -> int | None:
    """Find our server when its pid file is gone (still starting, or deleted by hand)."""
    proc_root = Path("/proc")
    if not (proc_root / "self").exists():
        return None
    for entry in proc_root.iterdir():
        if entry.name.isdigit():
            pid = int(entry.name)
            if _is_our_server(pid, data_dir) and _is_alive(pid):
                return pid
    return None


def _running_pid(data_dir: Path, clean: bool) -> int | None:
    pid_file = data_dir / _PID_FILE
    pid = _read_pid(pid_file)
    if pid is not None:
        if _is_alive(pid) and _is_our_server(pid, data_dir):
            return pid
        if _is_alive(pid) and not _cmdline(pid):
            # An exiting process (say, just SIGKILLed) shows an empty cmdline while it still
            # holds the port and the data files: let it finish before starting anew.
            _wait_for_exit(pid, _KILL_GRACE)
        if clean:
            logger.info(
                "Removing stale pid file {} (pid {} is gone or not our server)", pid_file, pid
            )
            pid_file.unlink(missing_ok=True)
    found = _scan_for_server(data_dir)
    if found is not None:
        logger.warning("Server for {} runs as pid {} without a valid pid file", data_dir, found)
    return found


def _wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` ends; True if it did within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pidfd_open: Callable[[int], int] | None = getattr(os, "pidfd_open", None)
    fd = None
    if pidfd_open is not None:
        try:
            fd = pidfd_open(pid)
        except ProcessLookupError:
            return True
        except OSError:
            fd = None
    if fd is not None:
        # A pidfd becomes readable when the process ends: an exact wait, even for
        # processes that are not our children.
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            poller.poll(max(0.0, timeout) * 1000)
        finally:
            os.close(fd)
        return not _is_alive(pid)
    delay = 0.02
    while _is_alive(pid):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.2)
    return True


def _terminate(pid: int, timeout: float) -> None:
    logger.debug("Sending SIGTERM to server pid {}", pid)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if _wait_for_exit(pid, timeout):
        return
    logger.warning("Server pid {} ignored SIGTERM for {:.0f}s; sending SIGKILL", pid, timeout)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not _wait_for_exit(pid, _KILL_GRACE):
        raise DevDBError(f"Server pid {pid} survived SIGKILL; check it with `ps -p {pid}`.")


def _remove_leftovers(data_dir: Path, pid: int) -> None:
    # A clean shutdown removes these itself; after SIGKILL they would mislead the next run.
    pid_file = data_dir / _PID_FILE
    if _read_pid(pid_file) == pid:
        pid_file.unlink(missing_ok=True)
    sock = _socket_path(data_dir)
    sock.unlink(missing_ok=True)
    sock.with_name(sock.name + ".lock").unlink(missing_ok=True)
    if sock.parent != data_dir:
        with contextlib.suppress(OSError):
            sock.parent.rmdir()


def _log_mentions_bind_failure(log_path: Path, offset: int) -> bool:
    try:
        with open(log_path, "rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
    except OSError:
        return False
    return any(marker in text for marker in _BIND_FAILURE_MARKERS)


def _log_tail(data_dir: Path) -> str:
    log_path = data_dir / _ERROR_LOG
    try:
        with open(log_path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 65536))
            text = log.read().decode(errors="replace")
    except OSError:
        return f"(no log at {log_path})"
    return "\n".join(text.splitlines()[-_LOG_TAIL_LINES:])
