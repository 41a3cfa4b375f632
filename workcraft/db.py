"""Connections to the database: our pools, error translation and retries.

Every connection runs at READ COMMITTED: a queue wants each claim to see the latest
committed rows and to hold as few gap locks as possible. Our own work runs on
:class:`~workcraft.link.Link`s (PyMySQL); SQLAlchemy is imported only for an engine a
caller asks for (:func:`get_engine`) and for their own Connections.
"""

from __future__ import annotations

import math
import os
import random
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pymysql
from loguru import logger
from pymysql.constants import CLIENT, COMMAND

from workcraft.config import ConfigError, DBConfig, get_db_config
from workcraft.link import DriverConnection, Link, Pool, SqlConnection, discard

if TYPE_CHECKING:
    import pymysql.connections
    from sqlalchemy import URL, Connection, Engine

__all__ = [
    "DBConfig",
    "DatabaseError",
    "connect",
    "error_code",
    "get_db_config",
    "get_engine",
    "is_transient",
    "retry_transient",
]

T = TypeVar("T")

# MySQL/MariaDB error numbers that mean "try again", not "your statement is wrong":
# deadlock (also Galera's certification failure), lock wait timeout, server gone,
# lost connection, cannot connect, server shutting down, connection killed,
# MySQL 8's idle disconnect, read-only during failover.
TRANSIENT_ERRORS = frozenset({1205, 1213, 2003, 2006, 2013, 1053, 1927, 4031, 1290, 1836})
_ACCESS_DENIED = 1045
_UNKNOWN_DATABASE = 1049
_NO_SUCH_TABLE = 1146
_UNKNOWN_COLUMN = 1054
NO_SUCH_PROCEDURE = 1305
DUPLICATE_KEY = 1062
_CANT_CONNECT = 2003
CONNECT_TIMEOUT_SECONDS = 10


class DatabaseError(RuntimeError):
    """The database refused or could not be reached. The message names the fix."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def driver_errors() -> tuple[type[Exception], ...]:
    """What a database call can raise, for ``except driver_errors():``: the driver's
    errors, and SQLAlchemy's wrappers of them once SQLAlchemy is loaded (only a
    caller's own Connection, :func:`get_engine` or the async client load it)."""
    sa_errors = sys.modules.get("sqlalchemy.exc")
    if sa_errors is None:
        return (pymysql.err.Error,)
    return (pymysql.err.Error, sa_errors.DBAPIError)


def database_errors() -> tuple[type[Exception], ...]:
    """:func:`driver_errors` and our :class:`DatabaseError` (which a failed connect
    comes out as)."""
    return (DatabaseError, *driver_errors())


def driver_error(exc: BaseException) -> BaseException:
    """The driver's exception: itself, or the one a SQLAlchemy error wraps."""
    orig = getattr(exc, "orig", None)
    return orig if isinstance(orig, BaseException) else exc


def error_code(exc: BaseException) -> int | None:
    """The server's error number inside a SQLAlchemy/PyMySQL exception, if any."""
    if isinstance(exc, DatabaseError):
        return exc.code
    args = getattr(driver_error(exc), "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return None


def is_duplicate_key(exc: BaseException) -> bool:
    return error_code(exc) == DUPLICATE_KEY


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, DatabaseError):
        return exc.code in TRANSIENT_ERRORS
    if getattr(exc, "connection_invalidated", False):  # SQLAlchemy's mark
        return True
    sa_errors = sys.modules.get("sqlalchemy.exc")
    if isinstance(driver_error(exc), pymysql.err.InterfaceError) or (
        sa_errors is not None and isinstance(exc, sa_errors.InterfaceError)
    ):
        return True  # PyMySQL raises InterfaceError(0, '') on a closed socket
    return isinstance(exc, driver_errors()) and error_code(exc) in TRANSIENT_ERRORS


def explain(exc: BaseException, cfg: DBConfig) -> DatabaseError:
    """Turn a driver error into one sentence a user can act on (no password in it).

    TLS failures get code 2026 (CR_SSL_CONNECTION_ERROR), which is not transient: a
    certificate that is not trusted now will not be trusted on the next attempt either.
    """
    code = error_code(exc)
    where = cfg.describe()
    orig = driver_error(exc)
    # PyMySQL reports a failed TLS handshake as OperationalError 2003 ("Can't connect")
    # and keeps the ssl error as its original_exception (and __context__).
    causes = (orig, getattr(orig, "original_exception", None), orig.__cause__, orig.__context__)
    tls_error = next((e for e in causes if isinstance(e, ssl.SSLError)), None)
    ca = cfg.ssl_path or ""
    if cfg.ssl_path and Path(cfg.ssl_path).is_dir():
        ca = str(Path(cfg.ssl_path) / "ca.pem")
    trusted_by = f"the CA in WK_DB_SSL_PATH ({ca})" if ca else "this machine's default CAs"

    def certificate_names() -> str:
        """The names in the server's certificate, from a TLS handshake that stops before
        any login (best effort: the error message must not depend on it)."""
        import socket
        import struct

        context = ssl_context(cfg)
        context.check_hostname = False
        try:
            with socket.create_connection((cfg.host, cfg.port), timeout=5) as raw:
                with raw.makefile("rb") as greeting:  # the server speaks first
                    greeting.read(int.from_bytes(greeting.read(4)[:3], "little"))
                # SSLRequest: LONG_PASSWORD | PROTOCOL_41 | SSL | SECURE_CONNECTION, seq 1.
                request = struct.pack("<IIB23x", 0x8A01, 1 << 24, 45)
                raw.sendall(len(request).to_bytes(3, "little") + b"\x01" + request)
                with context.wrap_socket(raw, server_hostname=cfg.host) as tls:
                    cert = tls.getpeercert() or {}
        except (OSError, ValueError):
            return "names that could not be read"
        san: Any = cert.get("subjectAltName", ())
        names = [str(value) for _, value in san]
        return ", ".join(names) or "no subjectAltName"

    if isinstance(tls_error, ssl.SSLCertVerificationError):
        reason = str(tls_error.verify_message or tls_error.reason or tls_error)
        if tls_error.verify_code in (62, 64):  # host name / IP address mismatch
            msg = (
                f"the database server's TLS certificate is not valid for WK_DB_HOST "
                f"{cfg.host!r} (it names {certificate_names()}): set WK_DB_HOST to a name "
                f"the certificate lists, or reissue the server certificate with {cfg.host} "
                "in its subjectAltName"
            )
        elif tls_error.verify_code in (9, 10):  # not yet valid / expired
            msg = (
                f"the database server's TLS certificate at {cfg.host}:{cfg.port} is not "
                f"valid now ({reason}): renew the server certificate, or check this "
                "machine's clock"
            )
        else:
            msg = (
                f"the database server's TLS certificate at {cfg.host}:{cfg.port} is not "
                f"trusted by {trusted_by}: point WK_DB_SSL_PATH at the CA that signed the "
                f"server certificate (OpenSSL: {reason})"
            )
        return DatabaseError(msg, 2026)
    if isinstance(tls_error, ssl.SSLError) and not isinstance(
        tls_error, ssl.SSLEOFError | ssl.SSLZeroReturnError
    ):
        # EOF/closed during the handshake is a server going away (transient); the rest is
        # a TLS set-up that will fail the same way next time.
        reason = str(tls_error.reason or tls_error)
        msg = (
            f"the TLS handshake with the database server at {cfg.host}:{cfg.port} failed "
            f"({reason}): check that the server offers TLS 1.2 or later and, if it asks for "
            "a client certificate, that WK_DB_SSL_PATH is a folder holding ca.pem, "
            "client-cert.pem and client-key.pem"
        )
        return DatabaseError(msg, 2026)
    if code == 2026:  # PyMySQL: "SSL is required but the server doesn't support it"
        msg = (
            f"the database server at {cfg.host}:{cfg.port} does not offer TLS, but "
            "WK_DB_USE_SSL is on: enable TLS on the server (its ssl_cert, ssl_key and "
            "ssl_ca settings), or set WK_DB_USE_SSL=false to connect unencrypted"
        )
    elif code == _ACCESS_DENIED:
        msg = (
            f"access denied for {cfg.user!r} at {cfg.host}:{cfg.port}: check WK_DB_USER and "
            "WK_DB_PASS (or db_user/db_password) and that the account may connect from this host"
        )
        if not cfg.use_ssl:
            msg += " (an account created with REQUIRE SSL also needs WK_DB_USE_SSL=true)"
    elif code == _UNKNOWN_DATABASE:
        msg = (
            f"database {cfg.database!r} does not exist on {cfg.host}:{cfg.port}: run "
            "`python -m workcraft setup_database_tables` (it creates it), or "
            f"CREATE DATABASE {cfg.database} as an admin"
        )
    elif code in (_CANT_CONNECT, 2005) or (
        code is None and isinstance(orig, pymysql.err.OperationalError)
    ):
        msg = (
            f"cannot reach the database at {cfg.host}:{cfg.port}: is the server running "
            "and is WK_DB_HOST/WK_DB_PORT right? "
            "(`python -m workcraft devdb start` runs a private one for development)"
        )
        code = code or _CANT_CONNECT
    else:
        msg = f"database error at {where}: {orig}"
    return DatabaseError(msg, code)


def ssl_context(cfg: DBConfig) -> ssl.SSLContext:
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    if cfg.ssl_path:
        path = Path(cfg.ssl_path)
        if path.is_dir():
            ca = str(path / "ca.pem")
            if (path / "client-cert.pem").exists() and (path / "client-key.pem").exists():
                cert, key = str(path / "client-cert.pem"), str(path / "client-key.pem")
        else:
            ca = str(path)
    try:
        context = ssl.create_default_context(cafile=ca)
        if cert and key:
            context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"WK_DB_SSL_PATH / db_ssl_path {cfg.ssl_path!r}: cannot load it as TLS "
            f"certificates ({exc}); give a PEM CA file, or a folder with ca.pem (and "
            "client-cert.pem + client-key.pem for a client certificate)"
        ) from None
    return context


def sqlalchemy_url(cfg: DBConfig, *, with_database: bool = True, driver: str = "pymysql") -> URL:
    from sqlalchemy import URL

    return URL.create(
        f"mysql+{driver}",
        username=cfg.user,
        password=cfg.password,
        host=cfg.host,
        port=cfg.port,
        database=cfg.database if with_database else None,
        query={"charset": "utf8mb4"},
    )


# Without a ping per use, a pooled connection is replaced after this many idle
# seconds: below the 30 s idle limit our sessions get on MySQL (wait_timeout).
_UNPINGED_RECYCLE_SECONDS = 25
# Idle connections a pool keeps; more may be open while busy, and are closed after.
_POOL_KEEP = 5
# Seconds a session of ours may sit inside an open transaction doing nothing before
# the server ends it. Our transactions last milliseconds; one that idles is a frozen
# process (SIGSTOP, a paused VM) whose row locks would otherwise block the database's
# maintenance, and so the very detection of that frozen peon, for as long as its TCP
# connection lives.
_idle_transaction_timeout = 60
_UNKNOWN_VARIABLE = 1193


def set_idle_transaction_timeout(seconds: float) -> None:
    """For connections opened from now on (a peon sets its dead-peon timeout)."""
    global _idle_transaction_timeout
    _idle_transaction_timeout = max(1, math.ceil(seconds))


def limit_idle_transactions(dbapi_connection: Any, _record: Any = None) -> None:
    cursor = dbapi_connection.cursor()
    try:
        try:
            # MariaDB: ends only sessions idle *inside* a transaction.
            cursor.execute(
                "SET SESSION idle_transaction_timeout = %s", (_idle_transaction_timeout,)
            )
        except Exception as exc:
            if error_code(exc) != _UNKNOWN_VARIABLE:
                raise
            # MySQL has no such setting; an idle session is ended whatever its state,
            # which the pool's pre-ping turns into a quiet reconnect.
            cursor.execute("SET SESSION wait_timeout = %s", (max(30, _idle_transaction_timeout),))
    finally:
        cursor.close()


def _opener(
    cfg: DBConfig, *, with_database: bool, autocommit: bool
) -> Callable[[], pymysql.connections.Connection]:
    # One TLS context per pool, as an engine had: loading CAs per connection costs
    # time and memory.
    context = ssl_context(cfg) if cfg.use_ssl else None

    def open_raw() -> pymysql.connections.Connection:
        raw = DriverConnection(
            host=cfg.host,
            port=cfg.port,
            user=cfg.user,
            password=cfg.password,
            database=cfg.database if with_database else None,
            charset="utf8mb4",
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            autocommit=autocommit,
            # rowcount counts rows matched, not only rows changed (as under SQLAlchemy):
            # a fenced UPDATE that writes what the row already holds still counts.
            client_flag=CLIENT.FOUND_ROWS,
            ssl=context,
        )
        if not autocommit:  # no transaction can idle on an autocommit session
            try:
                with raw.cursor() as cursor:
                    cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                limit_idle_transactions(raw)
            except BaseException:
                discard(raw)
                raise
        return raw

    return open_raw


_pools: dict[tuple[int, DBConfig, bool, bool], Pool] = {}
_pools_lock = threading.Lock()


def _pool(cfg: DBConfig, *, with_database: bool = True, autocommit: bool = False) -> Pool:
    """One pool per (process, config): connections must never cross a fork."""
    key = (os.getpid(), cfg, with_database, autocommit)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            opener = _opener(cfg, with_database=with_database, autocommit=autocommit)
            pool = Pool(opener, keep=_POOL_KEEP, unpinged_recycle_seconds=_UNPINGED_RECYCLE_SECONDS)
            _pools[key] = pool
        return pool


_engines: dict[tuple[int, DBConfig, bool], Engine] = {}
_engines_lock = threading.Lock()


def get_engine(cfg: DBConfig, *, with_database: bool = True) -> Engine:
    """A SQLAlchemy engine set up as our own connections are (READ COMMITTED, the idle
    transaction limit), one per (process, config), for code that wants SQLAlchemy
    Connections or Sessions of its own. workcraft itself does not use it."""
    from sqlalchemy import create_engine, event

    key = (os.getpid(), cfg, with_database)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            connect_args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
            if cfg.use_ssl:
                connect_args["ssl"] = ssl_context(cfg)
            engine = create_engine(
                sqlalchemy_url(cfg, with_database=with_database),
                connect_args=connect_args,
                isolation_level="READ COMMITTED",
                pool_pre_ping=True,
                pool_recycle=3600,
                hide_parameters=True,
            )
            event.listen(engine, "connect", limit_idle_transactions)
            _engines[key] = engine
        return engine


def close_pools(database: str | None = None, user: str | None = None) -> None:
    """Close this process's pooled connections (ours, and :func:`get_engine`'s): all,
    or those to one database/account."""

    def chosen(cfg: DBConfig, with_database: bool) -> bool:
        if database is not None and not (with_database and cfg.database == database):
            return False
        return user is None or cfg.user == user

    with _pools_lock:
        for key, pool in list(_pools.items()):
            if chosen(key[1], key[2]):
                if key[0] == os.getpid():
                    pool.close()
                del _pools[key]
    with _engines_lock:
        for engine_key, engine in list(_engines.items()):
            if chosen(engine_key[1], engine_key[2]):
                if engine_key[0] == os.getpid():
                    engine.dispose()
                del _engines[engine_key]


def missing_tables_error(exc: BaseException, cfg: DBConfig) -> DatabaseError | None:
    """Tables, columns or routines this version needs are missing: the schema needs
    setting up."""
    orig = driver_error(exc)
    if error_code(exc) == NO_SUCH_PROCEDURE:
        return DatabaseError(
            f"a stored routine of workcraft is missing in {cfg.describe()} ({orig}): "
            "run `python -m workcraft setup_database_tables` (as an admin account)",
            NO_SUCH_PROCEDURE,
        )
    if error_code(exc) == _UNKNOWN_COLUMN:
        return DatabaseError(
            f"the workcraft tables in {cfg.describe()} are older than this version of "
            f"workcraft ({orig}): run `python -m workcraft setup_database_tables` "
            "(as an admin account) to upgrade them in place",
            _UNKNOWN_COLUMN,
        )
    if error_code(exc) != _NO_SUCH_TABLE:
        return None
    return DatabaseError(
        f"workcraft's tables are missing in {cfg.describe()} ({orig}): run "
        "`python -m workcraft setup_database_tables` (as an admin account)",
        _NO_SUCH_TABLE,
    )


@contextmanager
def connect(cfg: DBConfig, *, with_database: bool = True, ping: bool = True) -> Iterator[Link]:
    """A connection whose open transaction commits when the block ends without error.

    Callers may also commit as they go. Driver errors on connect come out as
    :class:`DatabaseError` with a clear message. ``ping=False`` skips the round trip
    that checks a pooled connection before use: for hot paths whose every use is
    retried on a transient error (a dead connection then fails before the server saw
    anything, and the retry reconnects).
    """
    with _checked_out(cfg, with_database=with_database, autocommit=False, ping=ping) as raw:
        link = Link(raw)
        yield link
        link.commit()


@contextmanager
def driver_cursor(cfg: DBConfig) -> Iterator[Any]:
    """A driver (PyMySQL) cursor from the pool, in autocommit mode, for the hot paths
    of one statement that commits by itself in one round trip: a plain send, and a
    claim by id (whose procedure holds its own transaction)."""
    with (
        _checked_out(cfg, with_database=True, autocommit=True, ping=False) as raw,
        raw.cursor() as cursor,
    ):
        yield cursor


@contextmanager
def _checked_out(
    cfg: DBConfig, *, with_database: bool, autocommit: bool, ping: bool
) -> Iterator[pymysql.connections.Connection]:
    """A pooled connection for the block. If the block raises, its transaction is
    rolled back (in autocommit mode too: a procedure may have opened one), a broken
    connection is closed rather than pooled, and a missing table or routine comes
    out as the :class:`DatabaseError` that names the fix."""
    pool = _pool(cfg, with_database=with_database, autocommit=autocommit)
    try:
        raw = pool.take(ping)
    except pymysql.err.Error as exc:
        raise explain(exc, cfg) from None
    try:
        yield raw
    except BaseException as exc:
        # Interrupted mid-statement (KeyboardInterrupt…), the reply may be half read.
        broken = _broken(exc) or not isinstance(exc, Exception)
        if not broken:
            try:
                raw.rollback()
            except pymysql.err.Error:
                broken = True
        if broken:
            discard(raw)
        else:
            pool.give_back(raw)
        missing = missing_tables_error(exc, cfg) if isinstance(exc, pymysql.err.Error) else None
        if missing is not None:
            raise missing from None
        raise
    pool.give_back(raw)


def _broken(exc: BaseException) -> bool:
    return isinstance(exc, pymysql.err.OperationalError | pymysql.err.InterfaceError)


def execute_overlapped(
    conn: SqlConnection, statements: Iterable[tuple[str, Sequence[Any]]]
) -> None:
    """Run each ``(statement, params)`` (``%s`` placeholders, no result set) in turn in
    ``conn``'s transaction. On PyMySQL, the next pair is taken from ``statements`` and
    escaped while the server runs the previous one, so work the iterable does to
    produce it (checking and encoding the next batch of a bulk send) overlaps the
    server's; other drivers run them one after the other.

    On a caller's SQLAlchemy Connection, driver errors come out as SQLAlchemy's and a
    broken connection is invalidated.
    """
    if isinstance(conn, Link):
        _overlap(conn.raw, statements)
        return
    conn = cast("Connection", conn)
    if not conn.in_transaction():
        conn.begin()  # SQLAlchemy must know a transaction is open, or commit() skips it
    raw = conn.connection.dbapi_connection
    assert raw is not None  # an open Connection has its driver connection
    if not isinstance(raw, pymysql.connections.Connection):
        for statement, params in statements:
            conn.exec_driver_sql(statement, tuple(params))
        return
    try:
        _overlap(raw, statements)
    except pymysql.err.Error as exc:
        if _broken(exc):
            conn.invalidate()
        from sqlalchemy.exc import DBAPIError

        raise DBAPIError.instance(
            None, None, exc, pymysql.err.Error, hide_parameters=True
        ) from None


def _overlap(
    raw: pymysql.connections.Connection, statements: Iterable[tuple[str, Sequence[Any]]]
) -> None:
    pending = iter(statements)
    with raw.cursor() as cursor:
        rendered: list[str] = []

        def render_next() -> None:
            pair = next(pending, None)
            if pair is not None:
                rendered.append(cursor.mogrify(*pair))

        render_next()
        while rendered:
            execute_then(cursor, rendered.pop(), None, render_next)


def execute_then(
    cursor: Any, statement: str, args: Sequence[Any] | None, then: Callable[[], object]
) -> int:
    """``cursor.execute(statement, args)`` on a PyMySQL cursor, for a statement without
    a result set (returns the rows affected), calling ``then()`` once the statement is
    on its way to the server and before its reply is read: work that should overlap
    the server's (the wake-up hint for a peon that will claim the row this INSERT
    writes: sent after the INSERT, its claim cannot overtake it).

    PyMySQL has no public call for the two halves; without them, ``then`` runs first.
    """
    conn = cursor.connection
    send = getattr(conn, "_execute_command", None)
    read = getattr(conn, "_read_query_result", None)
    if send is None or read is None:
        then()
        return int(cursor.execute(statement, args))
    send(COMMAND.COM_QUERY, cursor.mogrify(statement, args).encode(conn.encoding))
    try:
        then()
    finally:
        affected = read()  # the reply is read whatever then() did
    return int(affected)


class TransientRetries:
    """When to try again after a transient error, and how long to pause: jittered
    exponential backoff up to a deadline. Shared by the sync and async retry loops."""

    def __init__(
        self, what: str, deadline: float | None, base_delay: float, max_delay: float
    ) -> None:
        self.what, self.deadline, self.max_delay = what, deadline, max_delay
        self.started = time.monotonic()
        self.delay = base_delay
        self.attempt = 0

    def pause_after(self, exc: Exception) -> float:
        """Seconds to wait before the next try; re-raises ``exc`` when there is none."""
        if not is_transient(exc):
            raise exc
        self.attempt += 1
        if self.deadline is not None and time.monotonic() - self.started >= self.deadline:
            raise exc
        if self.attempt == 1 or self.attempt % 20 == 0:
            reason = (
                str(exc).splitlines()[0] if isinstance(exc, DatabaseError) else driver_error(exc)
            )
            logger.warning("{}: {} (attempt {}), retrying", self.what, reason, self.attempt)
        pause = random.uniform(0, self.delay)
        self.delay = min(self.max_delay, self.delay * 2)
        return pause


def retry_transient(
    fn: Callable[[], T],
    *,
    what: str,
    deadline: float | None = 30.0,
    base_delay: float = 0.05,
    max_delay: float = 2.0,
) -> T:
    """Run ``fn`` again (with jittered backoff) while it fails with a transient error.

    ``deadline`` is in seconds from now; None retries forever (a peon waiting out a
    database restart). Anything that is not transient is raised at once.
    """
    retries = TransientRetries(what, deadline, base_delay, max_delay)
    while True:
        try:
            return fn()
        except database_errors() as exc:
            time.sleep(retries.pause_after(exc))
