"""workcraft's own connections: PyMySQL, pooled per process, with no SQLAlchemy.

Every statement of ours runs on a :class:`Link` (``db.connect`` hands them out) or on
a caller's SQLAlchemy Connection; :mod:`workcraft.store` writes its statements once,
with ``:name`` parameters, for both (:func:`run`). SQLAlchemy is imported only when a
caller passes their own Connection or Session, or uses the async client: a peon and a
plain sender never load it (some 13 MiB of a process that is mostly idle).

A Link keeps the subset of SQLAlchemy's Connection and Result that workcraft uses,
with the same meaning: rows by index or by column name, ``rowcount`` as rows matched
(CLIENT.FOUND_ROWS, as SQLAlchemy asks of PyMySQL), savepoints by ``begin_nested``.
Driver errors come out as PyMySQL raised them (``db.driver_errors()`` catches both
kinds).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import pymysql

if TYPE_CHECKING:
    import pymysql.connections
    from sqlalchemy import TextClause

# As SQLAlchemy's text(): ``:name`` not preceded by a colon, a word character or a
# backslash, nor followed by a colon.
_PARAMETER = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")


class Statement:
    """A statement with ``:name`` parameters; a list value stands for ``(a, b, …)``
    (written ``IN :names``), as SQLAlchemy's expanding bind parameters."""

    __slots__ = ("_clause", "expanding", "pyformat", "text")

    def __init__(self, sql: str, expanding: tuple[str, ...] = ()) -> None:
        self.text = sql
        self.expanding = expanding
        self.pyformat = _PARAMETER.sub(r"%(\1)s", sql.replace("%", "%%")).replace("\\:", ":")
        self._clause: TextClause | None = None

    def bindparams(self, *expanding: str) -> Statement:
        return _statement(self.text, self.expanding + expanding)

    def clause(self) -> TextClause:
        """The same statement for a SQLAlchemy Connection."""
        if self._clause is None:
            import sqlalchemy

            self._clause = sqlalchemy.text(self.text).bindparams(
                *(sqlalchemy.bindparam(name, expanding=True) for name in self.expanding)
            )
        return self._clause


def text(sql: str) -> Statement:
    return _statement(sql, ())


@functools.lru_cache(maxsize=512)
def _statement(sql: str, expanding: tuple[str, ...]) -> Statement:
    # Most statements are written inline in the function that runs them: made once,
    # not converted (nor turned into SQLAlchemy's clause) again on every call.
    return Statement(sql, expanding)


def bindparam(name: str, expanding: bool = True) -> str:
    """Marks ``name`` as a list parameter (``text(...).bindparams(bindparam("ids"))``)."""
    if not expanding:
        raise ValueError("only expanding parameters need declaring")
    return name


class _RowBase(tuple[Any, ...]):
    __slots__ = ()
    _names: tuple[str, ...] = ()

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self._names, self, strict=True))


_row_classes: dict[tuple[str, ...], type[_RowBase]] = {}


def _row_class(names: tuple[str, ...]) -> type[_RowBase]:
    """A tuple type whose items are also attributes named after the columns."""
    found = _row_classes.get(names)
    if found is None:
        fields = collections.namedtuple("Row", names, rename=True)  # type: ignore[misc]
        found = type("Row", (fields, _RowBase), {"__slots__": (), "_names": names})
        if len(_row_classes) < 512:  # statements are few; ad-hoc SQL must not grow it
            _row_classes[names] = found
    return found


class NoResultError(LookupError):
    """``scalar_one()`` or ``one()`` found no row, or more than one."""


class Result:
    """A statement's rows, all read; ``rowcount`` is the rows it matched."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return list(self._rows)

    fetchall = all

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise NoResultError(f"expected one row, got {len(self._rows)}")
        return self._rows[0]

    def mappings(self) -> Result:
        """The rows as dicts of column name to value."""
        return Result([row._mapping for row in self._rows], self.rowcount)

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]


def _result(cursor: Any) -> Result:
    description = cursor.description
    if description is None:
        return Result([], cursor.rowcount)
    row = _row_class(tuple(column[0] for column in description))
    make = tuple.__new__
    return Result([make(row, values) for values in cursor.fetchall()], cursor.rowcount)


def _params(statement: Statement, params: Mapping[str, Any] | None) -> dict[str, Any]:
    if not params:
        return {}
    if not statement.expanding:
        # PyMySQL escapes a dict's values; any other mapping would be taken as one value
        return params if type(params) is dict else dict(params)
    values = dict(params)
    for name in statement.expanding:
        if not values.get(name):
            # "IN ()" is a syntax error; "IN (NULL)" matches nothing, as SQLAlchemy's
            # empty expanding parameter does.
            values[name] = (None,)
    return values


class Link:
    """One of our pooled connections, checked out by :func:`workcraft.db.connect`.

    In a pool that is not autocommit, a transaction is always open: ``commit`` and
    ``rollback`` end it and the next statement starts another, as with PyMySQL.
    """

    def __init__(self, raw: pymysql.connections.Connection) -> None:
        self.raw = raw
        self._after_commit: list[Callable[[], object]] = []
        self._savepoints = 0

    def execute(
        self, statement: Statement | Any, params: Mapping[str, Any] | None = None
    ) -> Result:
        """``statement``: ours, or anything with SQLAlchemy's ``.text`` (a TextClause)."""
        if not isinstance(statement, Statement):
            statement = text(statement.text)
        with self.raw.cursor() as cursor:
            cursor.execute(statement.pyformat, _params(statement, params))
            return _result(cursor)

    def exec_driver_sql(self, sql: str, params: Sequence[Any] | None = None) -> Result:
        """``sql`` with ``%s`` placeholders, as the driver takes it (``%%`` for a ``%``)."""
        with self.raw.cursor() as cursor:
            cursor.execute(sql, tuple(params) if params is not None else ())
            return _result(cursor)

    def commit(self) -> None:
        self.raw.commit()
        hooks, self._after_commit = self._after_commit, []
        for hook in hooks:
            hook()

    def rollback(self) -> None:
        self._after_commit.clear()
        self.raw.rollback()

    def after_commit(self, hook: Callable[[], object]) -> None:
        """Run ``hook`` once the transaction open now commits (never if it rolls back)."""
        self._after_commit.append(hook)

    @contextmanager
    def begin_nested(self) -> Iterator[None]:
        """A savepoint: the block's statements are undone if it raises, the rest of
        the transaction is not."""
        self._savepoints += 1
        name = f"wc_savepoint_{self._savepoints}"
        self.exec_driver_sql(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {name}")
            raise
        self.exec_driver_sql(f"RELEASE SAVEPOINT {name}")


class SqlConnection(Protocol):
    """What store.py needs of a connection: a Link, or SQLAlchemy's Connection."""

    def execute(self, statement: Any, parameters: Any = ..., /) -> Any: ...

    def exec_driver_sql(self, statement: str, parameters: Any = ..., /) -> Any: ...

    def begin_nested(self) -> AbstractContextManager[Any]: ...


def run(conn: SqlConnection, statement: Statement, params: Mapping[str, Any] | None = None) -> Any:
    """``statement`` on ``conn``: a Link runs it on PyMySQL, SQLAlchemy as a text()."""
    if type(conn) is Link:
        return conn.execute(statement, params)
    return conn.execute(statement.clause(), dict(params) if params else {})


class DriverConnection(pymysql.connections.Connection):
    """PyMySQL's connection, whose TLS attempt without any TLS settings (PREFERRED:
    encrypt if the server offers it, verifying nothing) shares one context.

    PyMySQL builds a fresh default context for each such connection, loading this
    machine's CA store (2.5 MiB for the first, 0.8 MiB each after) to verify nothing
    with it. Should a PyMySQL release stop calling this hook, its own context is used
    again: more memory, the same behaviour.
    """

    def _create_ssl_ctx(self, sslp: Any) -> ssl.SSLContext:
        if isinstance(sslp, dict) and not sslp:
            return _preferred_tls()
        context: ssl.SSLContext = super()._create_ssl_ctx(sslp)
        return context


@functools.cache
def _preferred_tls() -> ssl.SSLContext:
    # What PyMySQL's PREFERRED mode makes, minus the CA store it never consults.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class _Idle(NamedTuple):
    raw: pymysql.connections.Connection
    since: float


class Pool:
    """This process's idle connections to one database as one account.

    The most recently used is handed out first, and at most ``keep`` wait idle: a
    busy moment leaves no crowd of sessions behind on the server.
    """

    def __init__(
        self,
        open_raw: Callable[[], pymysql.connections.Connection],
        *,
        keep: int,
        unpinged_recycle_seconds: float,
    ) -> None:
        self._open = open_raw
        self._keep = keep
        self._recycle = unpinged_recycle_seconds
        self._idle: list[_Idle] = []
        self._lock = threading.Lock()

    def take(self, ping: bool) -> pymysql.connections.Connection:
        """An open connection: pooled (pinged first if ``ping``), else a new one.

        Without a ping, one idle longer than ``unpinged_recycle_seconds`` is replaced:
        the server may have ended it, and the caller would find out only mid-statement.
        """
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._idle:
                    break
                raw, since = self._idle.pop()
            if ping:
                try:
                    raw.ping(reconnect=False)
                except pymysql.err.Error:
                    discard(raw)
                    continue
            elif now - since > self._recycle:
                discard(raw)
                continue
            return raw
        return self._open()

    def give_back(self, raw: pymysql.connections.Connection) -> None:
        with self._lock:
            if len(self._idle) < self._keep:
                self._idle.append(_Idle(raw, time.monotonic()))
                return
        discard(raw)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for raw, _ in idle:
            discard(raw)


def discard(raw: pymysql.connections.Connection) -> None:
    """Close a connection that must not be used again (broken, or surplus)."""
    with contextlib.suppress(pymysql.err.Error):  # already gone: nothing to say goodbye to
        raw.close()
